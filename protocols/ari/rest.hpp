#pragma once
// Transport-neutral description of one ARI REST call, its HTTP request-target, and the
// REST-over-WebSocket codec (Asterisk 22.4+: RESTRequest frames out, RESTResponse events in).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common/result.hpp"

namespace astra::ari {

struct RESTResponse;  // generated/ari/events.hpp

// One ARI call, produced by to_request(<operation params>). Values, no I/O.
struct rest_request {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string path;    // "/ari/channels/abc/answer": path segments already percent-encoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded name/value pairs, spec order
  std::optional<std::string> body;                          // JSON text (Content-Type: application/json)
  friend bool operator==(const rest_request&, const rest_request&) = default;
};

// Percent-encodes one path segment: keeps RFC 3986 unreserved, sub-delims, ':' and '@'.
std::string percent_encode_segment(std::string_view segment);
// Percent-encodes a query name or value: keeps unreserved and ":/@,!$'()*;" ('+', '&', '=', '#',
// '%', '?', ' ' and non-ASCII bytes are escaped; Asterisk decodes '+' as a space).
std::string percent_encode_query(std::string_view text);
// Decodes %XX (and, in queries, '+' as space). Malformed escapes are kept literally.
std::string percent_decode(std::string_view text, bool plus_is_space = false);

// "a=1&b=x%20y" ("" when there is no query).
std::string encode_query(const rest_request& request);
// HTTP request-target: path + ("?" + encode_query) when there is a query.
std::string encode_target(const rest_request& request);

// ---- REST over the event WebSocket
struct ws_request_options {
  std::optional<std::string> transaction_id;  // sent as "transaction_id" when set
  bool query_in_uri = false;                  // false: "query_strings" array; true: "uri?query"
};
// One RESTRequest text frame, byte-compatible with the recorded client frames:
// {"type": "RESTRequest", ["transaction_id": T, ]"request_id": R, "method": M, "uri": "channels/abc"
//  [, "query_strings": [{"name": N, "value": V}, ...]][, "content_type": "application/json", "message_body": B]}
// The uri is the path without "/ari/" (Asterisk rejects a leading slash with 405).
std::string encode_ws_request(const rest_request& request, std::string_view request_id,
                              const ws_request_options& options = {});
// A RESTResponse frame (an event of type "RESTResponse"); codec_errc::invalid_frame when the
// frame is another event type.
result<RESTResponse> decode_ws_response(std::string_view frame);

}  // namespace astra::ari
