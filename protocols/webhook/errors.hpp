#pragma once
// Error codes of the webhook protocol (protocols/webhook) and of the webhook runner
// (actors/webhook). Append new codes at the end only (metrics labels name them).
#include <string_view>
#include <system_error>

namespace astra::webhook {

enum class webhook_errc {
  // reply decoding
  not_json = 1,       // the body is not JSON (or nests deeper than max_json_depth)
  bad_reply,          // not an object with a "verbs" list
  too_many_verbs,     // more than max_verbs
  bad_verb,           // a list element that is not an object with exactly one key
  unknown_verb,       // a verb name astra does not know
  bad_argument,       // a verb argument missing, of the wrong type, out of range or unknown
  // requests
  timeout,            // the request's deadline expired (connect, pool wait, write, read)
  connection_failed,  // resolve / connect / TLS handshake / I/O error
  bad_status,         // a non-2xx status (redirects are not followed)
  body_too_large,     // the response body exceeded its limit
};

const std::error_category& webhook_category() noexcept;
std::error_code make_error_code(webhook_errc e) noexcept;
// Short label for metrics (astra_webhook_failures_total{reason}): "not_json", "timeout", ...
std::string_view reason_label(webhook_errc e) noexcept;

}  // namespace astra::webhook

template <>
struct std::is_error_code_enum<astra::webhook::webhook_errc> : std::true_type {};
