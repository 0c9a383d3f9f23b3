#pragma once
// Error codes of the AMI codec (protocols/ami) and of the AMI session (actors/ami).
#include <system_error>

namespace astra::ami {

enum class ami_errc {
  // codec (parser / serializer)
  line_too_long = 1,   // a line exceeded parser_limits::line_bytes (terminator excluded)
  too_many_headers,    // a message exceeded parser_limits::headers
  message_too_large,   // a message exceeded parser_limits::message_bytes (terminators included)
  buffer_full,         // a partial message filled parser_limits::buffered_bytes
  malformed_line,      // a header line without ':' or a message without Event/Response/Action
  truncated,           // the peer closed in the middle of a message
  // session-level codes, used by actors/ami
  timeout,
  disconnected,
  not_logged_in,
  rejected,
  login_failed,
  invalid_action,
  header_injection,    // CR or LF inside an action's key or value (serializer refuses it)
  queue_full,
  action_too_large,    // an action over what Asterisk reads (asterisk_max_action_line_bytes per
                       // line, asterisk_max_action_headers lines): refused before it is written
  response_too_large,  // the answer to a request (its response or a list event) exceeded a read
                       // limit: the request fails with it at once; detail names the limit
  event_lost,          // an event a subscriber wanted was lost (oversized, or shed by a policy)
  tls_failed,          // TLS setup or handshake failed (CA store, certificate verification, protocol);
                       // detail carries the verifier's reason when the certificate was refused
};

const std::error_category& ami_category() noexcept;
std::error_code make_error_code(ami_errc e) noexcept;

}  // namespace astra::ami

template <>
struct std::is_error_code_enum<astra::ami::ami_errc> : std::true_type {};
