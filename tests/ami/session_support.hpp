#pragma once
// Shared harness for the AMI session tests: fake server + io_runtime + actor system + client.
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ami/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ami/fake_ami_server.hpp"
#include "tests/support/eventually.hpp"

namespace astra::test {

using namespace std::chrono_literals;

// Thread-safe record of link events seen by a subscriber.
struct link_log {
  mutable std::mutex mutex;
  std::vector<ami::link_event> events;
  void add(const ami::link_event& e) {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(e);
  }
  std::vector<ami::link_event> snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    return events;
  }
  std::size_t count(ami::link_event::kind k, bool include_snapshots = false) const {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t n = 0;
    for (const auto& e : events) n += e.state == k && (include_snapshots || !e.snapshot);
    return n;
  }
};

struct session_harness {
  explicit session_harness(fake_ami_options options = {}) : server(std::move(options)) {}

  ami::session_config config() const {
    ami::session_config c;
    c.host = "127.0.0.1";
    c.port = server.port();
    c.username = "admin";
    c.secret = "amp111";
    c.connect_timeout = 1000ms;
    c.login_timeout = 1000ms;
    c.request_timeout = 2000ms;
    c.keepalive_interval = 0ms;
    c.reconnect_backoff = {50ms, 400ms, 2.0, 0.2};
    c.login_failure_backoff = {300ms, 5000ms, 2.0, 0.0};
    return c;
  }

  fake_ami_server server;
  io_runtime io{1};
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
};

}  // namespace astra::test
