#pragma once
// Error values of the ARI protocol layer (sans-IO).
//
//  - codec_errc (category "ari_codec"): bad JSON from the peer, a JSON value of the wrong
//    type, a request that violates the Swagger contract (missing required parameter, value
//    outside allowableValues / range), a malformed REST-over-WebSocket frame.
//  - the HTTP status category ("ari_http"): a reply with a non-2xx status. The error code's
//    value() IS the HTTP status (400, 404, 409, 422, ...); failure::detail carries Asterisk's
//    own "message" (e.g. "Channel not found").
#include <string>
#include <system_error>

#include "protocols/common/result.hpp"

namespace astra::ari {

enum class codec_errc {
  invalid_json = 1,        // not well-formed JSON (or trailing bytes after the value)
  json_too_deep,           // nesting deeper than json_reader::max_depth
  type_mismatch,           // well-formed JSON, but the top-level value has the wrong type
  missing_event_type,      // an event object without a string "type"
  missing_required_param,  // a required operation parameter was not set
  invalid_param_value,     // a parameter outside allowableValues / range, or not of its type
  invalid_frame,           // a REST-over-WebSocket frame that is not a RESTResponse
  unexpected_status,       // a non-2xx reply is expected to use the ari_http category; kept for 1xx/3xx
};

const std::error_category& codec_category() noexcept;
const std::error_category& http_status_category() noexcept;

inline std::error_code make_error_code(codec_errc e) noexcept { return {static_cast<int>(e), codec_category()}; }
// A non-2xx HTTP status as an error code (value == status).
inline std::error_code make_http_status_error(int status) noexcept { return {status, http_status_category()}; }

// The HTTP status carried by a failure, or 0 when it is not an HTTP status error.
inline int http_status(const failure& f) noexcept {
  return f.code.category() == http_status_category() ? f.code.value() : 0;
}

}  // namespace astra::ari

namespace std {
template <>
struct is_error_code_enum<astra::ari::codec_errc> : true_type {};
}  // namespace std
