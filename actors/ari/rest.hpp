#pragma once
// Transport-neutral ARI REST exchange: the reply as received and the interface both
// transports (HTTP pool, REST over the event WebSocket) implement. The request type is the
// protocol layer's astra::ari::rest_request (method, "/ari/..." path with %-encoded
// segments, decoded query pairs, optional JSON body), built by to_request(op) or by hand.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/ari/errors.hpp"
#include "protocols/ari/rest.hpp"
#include "protocols/common/result.hpp"

namespace astra::ari {

// A reply as received, whatever its status. Transport failures are failures instead.
struct rest_response {
  int status = 0;
  std::string content_type;
  std::string body;    // raw body text ("" for 204)
  std::string reason;  // reason phrase (REST over WebSocket has one even without a body)
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

using rest_callback = std::function<void(result<rest_response>)>;

// Thread-safe. send() never blocks; `done` runs exactly once, on an Asio thread (or
// synchronously on the caller's thread when the request is refused at once, e.g.
// queue_full). It must be cheap: no heavy parsing, just hand the reply to an actor.
// timeout 0 = the client's configured request deadline.
class rest_transport {
 public:
  virtual ~rest_transport() = default;
  virtual void send(rest_request request, rest_callback done, std::chrono::milliseconds timeout = {}) = 0;
};

// "/ari/channels" / "/channels" / "channels" -> "channels" (relative to /ari).
std::string relative_path(std::string_view path);

// Asterisk's "message" from an error body, else the reason phrase, else a short raw body.
std::string error_message(const rest_response& r);

// A reply with a non-2xx status becomes failure{make_http_status_error(status), message}.
result<rest_response> check_status(result<rest_response> r);

// "a=b&c=d" with RFC 3986 percent-encoding of names and values.
std::string encode_query_pairs(const std::vector<std::pair<std::string, std::string>>& query);

// A request from user input (CLI, tests): "channels?endpoint=x&app=y" or "/ari/channels..."
// -> path "/ari/channels" (kept as typed; must already be %-encoded) + decoded query pairs.
rest_request make_raw_request(std::string method, std::string_view path_and_query,
                              std::optional<std::string> body = std::nullopt);

std::string base64_encode(std::string_view in);

}  // namespace astra::ari
