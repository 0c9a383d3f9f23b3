#pragma once
// The `ari_outbound:` server inside the service: built from the configuration and the
// registered ARI handlers, wired to the metrics, drained and stopped with the service.
// Internal to service/core. Thread affinity: every member runs on the main thread; the hooks
// it installs run on Asio and CAF threads (they touch thread-safe metrics only).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "service/config/config.hpp"
#include "service/core/registrations.hpp"

namespace boost::asio {
class io_context;
}
namespace astra::metrics {
struct astra_metrics;
}

namespace astra::runtime {

class ari_outbound_runtime {
 public:
  // Null with `error` set when the server cannot be built or cannot listen.
  static std::unique_ptr<ari_outbound_runtime> start(caf::actor_system& system, boost::asio::io_context& io,
                                                     const config::ari_outbound_config& cfg, const registrations& regs,
                                                     metrics::astra_metrics& m, std::string& error);
  ~ari_outbound_runtime();

  std::uint16_t port() const;
  // New upgrades get 503 from now on.
  void drain();
  // Waits (polling) until no call runs on an outbound socket or `deadline`; returns how many
  // channel actors are still live.
  std::size_t wait_calls(std::chrono::steady_clock::time_point deadline);
  void stop();
  std::size_t live_calls() const;
  std::string detail_json() const;  // for /v1/status

  struct impl;

 private:
  explicit ari_outbound_runtime(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace astra::runtime
