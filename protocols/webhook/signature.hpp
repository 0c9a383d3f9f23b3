#pragma once
// Request signing of the webhook protocol: X-Astra-Signature: sha256=<hex HMAC-SHA256 over
// "<X-Astra-Timestamp>.<body>"> keyed with the route's secret. The timestamp is Unix seconds
// as decimal text; apps reject old timestamps (replays) and bad signatures (forgeries).
#include <string>
#include <string_view>

namespace astra::webhook {

// "sha256=" + 64 lowercase hex digits.
std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body);
// Constant-time comparison of a received signature header with the expected one.
bool signature_matches(std::string_view secret, std::string_view timestamp, std::string_view body,
                       std::string_view header);

}  // namespace astra::webhook
