#include "protocols/webhook/url.hpp"

#include "protocols/webhook/errors.hpp"

namespace astra::webhook {

std::string url::authority() const { return host + ":" + std::to_string(port); }

std::string url::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + host + "]" : host;
  if ((tls && port != 443) || (!tls && port != 80)) h += ":" + std::to_string(port);
  return h;
}

result<url> parse_url(std::string_view text) {
  auto bad = [&](const char* why) {
    return failure{make_error_code(webhook_errc::bad_argument), std::string(why) + ": \"" + std::string(text.substr(0, 200)) + "\""};
  };
  if (text.size() > 2048) return bad("URL longer than 2048 bytes");
  for (unsigned char c : text)
    if (c <= 0x20 || c == 0x7f) return bad("URL with whitespace or control characters");
  url out;
  std::string_view rest;
  if (text.rfind("http://", 0) == 0) rest = text.substr(7);
  else if (text.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = text.substr(8);
  } else {
    return bad("expected an http:// or https:// URL");
  }
  if (rest.find('#') != std::string_view::npos) return bad("URL with a fragment");
  const auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return bad("URL with user info (use the signature secret)");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed IPv6 address in URL");
    out.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("bad URL authority");
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("URL without a host");
  if (port_text.empty()) {
    out.port = out.tls ? 443 : 80;
  } else {
    unsigned long p = 0;
    if (port_text.size() > 5) return bad("bad port in URL");
    for (char c : port_text) {
      if (c < '0' || c > '9') return bad("bad port in URL");
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return bad("bad port in URL");
    out.port = static_cast<std::uint16_t>(p);
  }
  out.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  return out;
}

}  // namespace astra::webhook
