#pragma once
// PRIVATE to astra_actors_ari (outbound_server.cpp, outbound_connection.cpp): one upgraded
// outbound WebSocket and the state it shares with its server. Includes Beast and CAF: never
// include it from an interface header.
//
// Threads and ownership:
//  - server_core is shared by the server and every connection (shared_ptr); its atomics and
//    its mutex-guarded registry may be touched from any thread.
//  - A connection lives on its own strand: every member below marked "strand" is touched
//    there only. It owns the WebSocket (through the template session<Ws>), the write queue,
//    the pending REST requests and, once ApplicationRegistered arrived, the ARI state of its
//    call(s) (detail::shared_state + dispatcher actor). Actors reach it only through
//    socket_transport (a weak reference: a REST request after the close fails at once).
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actors/ari/client_internal.hpp"
#include "actors/ari/outbound_admission.hpp"
#include "actors/ari/outbound_server.hpp"

namespace astra::ari::outbound {

class connection;

struct server_core {
  outbound_server_config cfg;
  outbound_hooks hooks;
  caf::actor_system* system = nullptr;
  credentials creds;
  std::unordered_map<std::string, const outbound_app*> apps;  // base name -> cfg.apps entry
  std::string id_salt;                                         // new_id() prefix part, per server

  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> live{0};  // accepted and not closed: bounded by cfg.max_connections
  std::atomic<std::size_t> live_registered{0};
  std::atomic<std::ptrdiff_t> channel_actors{0}, bridge_actors{0};
  std::atomic<std::uint64_t> next_connection{0};
  std::atomic<std::uint64_t> upgrades[6] = {};  // by upgrade_result
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> per_call{0}, persistent{0};
  std::atomic<std::uint64_t> closes[7] = {};  // by close_reason
  std::atomic<std::uint64_t> invalid_frames{0}, unmatched{0}, failed_on_close{0}, request_timeouts{0};

  // Upgraded connections, for stop(). Guarded by mu.
  std::mutex mu;
  std::unordered_set<std::shared_ptr<connection>> open;

  void count(upgrade_result r) {
    upgrades[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
    if (hooks.upgrade) hooks.upgrade(r);
  }
};

// Type-erased write side of the WebSocket (ws_ops<Ws> in outbound_server.cpp). Strand only.
// Each pending operation keeps the stream alive (its handler holds the owner).
class socket_ops {
 public:
  virtual ~socket_ops() = default;
  // One text frame; `done(ok)` runs on the strand when written (or failed).
  virtual void async_write_text(const std::string& frame, std::function<void(bool ok)> done) = 0;
  // Starts the closing handshake with `code` (1000, 1008 ...); the read loop then ends.
  virtual void async_close(std::uint16_t code, std::string reason) = 0;
  // Closes the TCP socket at once: every pending operation completes (aborted).
  virtual void abort() = 0;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<server_core> core, boost::asio::any_io_executor strand, std::shared_ptr<socket_ops> ops,
             std::uint64_t number);
  ~connection();

  // --- strand ---------------------------------------------------------------------------------
  // After the 101: arms the registration deadline.
  void opened();
  // One text message from Asterisk.
  void on_text(std::string text);
  // The read loop ended (close, loss, oversize: `why` unless a close reason was set first).
  void finished(close_reason why);
  // Closes with `code` and records `why` (the first reason wins). Idempotent.
  void close(close_reason why, std::uint16_t code, std::string text = {});
  void start_rest(rest_request request, rest_callback done, std::chrono::milliseconds timeout);
  bool closing() const { return closing_; }

  // --- any thread -----------------------------------------------------------------------------
  void post(std::function<void()> fn);
  const boost::asio::any_io_executor& strand() const { return strand_; }

 private:
  struct pending_request {
    rest_callback done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void on_registered(const std::string& application);
  void on_rest_response(std::string_view text);
  void on_channel_count(std::size_t channels);
  void enqueue_write(std::string frame);
  void write_next();
  void fail_pending(const failure& why);

  std::shared_ptr<server_core> core_;
  boost::asio::any_io_executor strand_;
  std::shared_ptr<socket_ops> ops_;  // the WebSocket; reset once the read loop ended
  std::uint64_t number_;

  // strand
  boost::asio::steady_timer registration_timer_;
  boost::asio::steady_timer close_timer_;  // a closing handshake left unanswered: the socket is cut
  bool registered_ = false;
  bool closing_ = false;
  bool finished_ = false;
  std::optional<close_reason> reason_;
  std::uint16_t close_code_ = 1000;  // sent once a write in flight completed (close deferred)
  std::string close_text_;
  std::string app_base_;
  outbound_mode mode_ = outbound_mode::per_call;
  std::shared_ptr<detail::shared_state> sh_;
  std::deque<std::string> writes_;
  std::size_t write_bytes_ = 0;
  bool writing_ = false;
  std::unordered_map<std::string, pending_request> pending_;
  std::uint64_t next_request_ = 0;
  bool had_channel_ = false;

};

}  // namespace astra::ari::outbound
