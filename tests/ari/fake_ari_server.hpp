#pragma once
// A stand-in Asterisk ARI server for tests: Boost.Beast on 127.0.0.1 (ephemeral port), one
// Asio thread of its own. It answers REST calls from a table filled from the recorded
// fixtures (`rest` records) and pushes WebSocket event frames the test chooses (usually
// the fixtures' `ws-in` frames). REST over WebSocket (RESTRequest -> RESTResponse) is
// answered from the same table, with Asterisk's recorded replies to malformed frames.
//
// Thread-safety: every public method may be called from any thread.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/fixtures.hpp"

namespace astra::test {

struct fake_reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;  // "" => no body (204)
};

struct fake_request {
  std::string method;
  std::string path;                                          // "/ari/channels/x" (no query)
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in wire order
  std::string body;
  std::string authorization;                                 // header value ("" over WebSocket)
  bool over_websocket = false;
  std::string describe() const;                              // "POST /ari/bridges?type=mixing"
};

class fake_ari_server {
 public:
  fake_ari_server();
  ~fake_ari_server();
  fake_ari_server(const fake_ari_server&) = delete;
  fake_ari_server& operator=(const fake_ari_server&) = delete;

  unsigned short port() const;
  std::string url() const;  // "http://127.0.0.1:<port>"

  // Basic credentials required on HTTP and the upgrade (default asterisk/asterisk);
  // anything else gets Asterisk's 401 {"message":"Authentication required"}.
  void set_credentials(std::string user, std::string password);

  // REST table. A request matches an entry with the same method, path and (decoded,
  // order-insensitive) query; failing that, the first entry with the same method and path
  // registered with match_any_query; failing that 404 {"message":"Resource not found"}.
  void add_reply(const std::string& method, const std::string& path_and_query, fake_reply reply,
                 bool match_any_query = false);
  // Every `rest` record of a fixture (exact query match; the first record of a key wins).
  void load_rest_records(const std::vector<recorded_chunk>& records);
  // Consulted before the table for every request (HTTP and WebSocket); runs on the server
  // thread; may call push_event(). nullopt = use the table.
  void set_handler(std::function<std::optional<fake_reply>(const fake_request&)> handler);
  // Every reply is delayed by this much (deadline tests).
  void set_reply_delay(std::chrono::milliseconds delay);

  std::vector<fake_request> requests() const;  // every REST request so far, in arrival order
  std::size_t http_connections() const;        // TCP connections accepted for plain HTTP

  // WebSocket.
  std::size_t ws_handshakes() const;           // successful upgrades so far
  std::size_t ws_open() const;                 // currently open event sockets
  std::string last_ws_target() const;
  std::string last_ws_authorization() const;
  bool wait_ws_handshakes(std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  void refuse_upgrades(std::optional<fake_reply> reply);  // answer upgrades with this instead of 101
  void push_event(std::string frame);                      // to every open event socket, in call order
  void drop_websockets();                                  // abrupt TCP close of every event socket
  void set_ws_rest(bool enabled);                          // false: RESTRequest frames are ignored (old Asterisk)

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// Replaces every occurrence of `from` with `to` (re-targets recorded frames at new ids).
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace astra::test
