#pragma once
// What the admin endpoints report: per-server upstream link states with their gap history,
// the FastAGI listener state, the drain flag, and the latest snapshots of live actors and
// queues. Written by component hooks (CAF and Asio threads) and the status poller; read by
// the admin HTTP handlers (Asio threads). Every member is thread-safe and non-blocking
// beyond one short mutex section.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "service/admin/admin_server.hpp"

namespace astra::runtime {

// Past outages kept per link (oldest dropped first).
inline constexpr std::size_t max_gap_history = 32;

struct outage {
  std::int64_t started_unix_ms = 0;
  std::int64_t duration_ms = 0;  // until the link came back
  std::string reason;            // why it went down
};

struct link_view {
  bool configured = false;
  bool up = false;
  std::string state = "connecting";  // connecting, up, down, stopped (+ component-specific detail)
  std::string endpoint;               // host:port or URL (never credentials)
  std::string credential_source;      // "inline", "env:NAME", "file:PATH" — never the value
  std::string last_error;
  std::uint64_t connects = 0;         // successful logins / handshakes
  std::uint64_t disconnects = 0;
  std::int64_t down_since_unix_ms = 0;  // while down (0 when up)
  std::int64_t retry_at_unix_ms = 0;    // while down: next reconnect attempt (0: not known)
  std::deque<outage> gaps;              // completed outages, oldest first
};

struct queue_view {
  std::string name;
  std::size_t capacity = 0;
  std::size_t depth = 0;       // messages in flight now
  std::uint64_t dropped = 0;   // total
};

class status_board {
 public:
  void add_server(const std::string& name);
  // kind: "ami" or "ari".
  void configure_link(const std::string& server, const std::string& kind, std::string endpoint,
                      std::string credential_source);
  void link_up(const std::string& server, const std::string& kind);
  void link_down(const std::string& server, const std::string& kind, const std::string& reason);
  void link_state(const std::string& server, const std::string& kind, const std::string& state);
  // The next reconnect attempt of a link that is down is due in `retry_in` (< 0: none is
  // scheduled). Shown by readiness() ("retrying in N s") and to_json(); link_up clears it.
  void link_retry(const std::string& server, const std::string& kind, std::chrono::milliseconds retry_in);

  void set_agi(bool enabled, std::string listen);
  void set_agi_listening(bool listening);
  void set_draining();
  bool draining() const;

  // Snapshot fields shown under "actors" and "queues" (replaced wholesale by the poller).
  void set_actor_counts(std::map<std::string, std::int64_t> counts);
  void set_queues(std::vector<queue_view> queues);
  // Arbitrary extra JSON members per server and kind (component status), pre-rendered.
  void set_link_detail(const std::string& server, const std::string& kind, std::string json_object);
  void set_agi_detail(std::string json_object);

  // Issue 14, the NATS bus (only when configured). While it is down /readyz answers 503;
  // a server whose lease another replica holds is on standby: its links are not started
  // here and do not count against readiness. holder: the replica holding it ("" none known).
  void set_bus(std::string replica);
  void set_bus_connection(bool up, std::string detail);
  void set_bus_detail(std::string json_object);
  void set_holder(const std::string& server, std::string holder, bool held_here, std::uint64_t epoch);

  // Ready when not draining, the FastAGI listener accepts (if enabled), and every
  // configured link is up; otherwise the reasons, "; "-separated, one per link:
  // "<kind> <server>: <state> (<last error>)[, retrying in <N> s | , retrying now]".
  admin::readiness readiness() const;
  // The /v1/status document.
  std::string to_json() const;

  std::optional<link_view> link(const std::string& server, const std::string& kind) const;

 private:
  struct server_entry {
    link_view ami, ari;
    std::string ami_detail, ari_detail;
    std::string holder;        // bus: replica holding the lease ("" none known)
    bool held_here = false;    // bus: this replica holds it
    std::uint64_t epoch = 0;   // bus: epoch of this replica's hold
  };
  // True when the links of `e` are expected up here (no bus, or this replica holds it).
  bool links_expected(const server_entry& e) const { return !bus_configured_ || e.held_here; }
  link_view* find(const std::string& server, const std::string& kind);
  mutable std::mutex mutex_;
  std::vector<std::string> order_;
  std::map<std::string, server_entry> servers_;
  bool agi_enabled_ = false;
  bool agi_listening_ = false;
  std::string agi_listen_;
  std::string agi_detail_;
  bool draining_ = false;
  std::int64_t started_unix_ms_ = 0;
  std::map<std::string, std::int64_t> actors_;
  std::vector<queue_view> queues_;
  bool bus_configured_ = false;
  bool bus_up_ = false;
  std::string bus_replica_;
  std::string bus_state_ = "connecting";
  std::string bus_detail_;
};

std::int64_t unix_ms_now();

}  // namespace astra::runtime
