#include <unistd.h>

#include <cctype>
#include <string>

#include "service/config/bus_config.hpp"

namespace astra::config {

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "astra";
  return buf;
}

namespace detail {

std::string nats_url_problem(const std::string& u) {
  auto sep = u.find("://");
  if (sep == std::string::npos) return "expected nats://HOST[:PORT] or tls://HOST[:PORT], got \"" + u + "\"";
  const std::string scheme = u.substr(0, sep);
  if (scheme != "nats" && scheme != "tls")
    return "scheme must be nats or tls, got \"" + scheme + "\" in \"" + u + "\"";
  std::string rest = u.substr(sep + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  if (rest.find('@') != std::string::npos)
    return "credentials in the URL are not accepted (use token, user + password or credentials_file): \"" + u + "\"";
  std::string host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return "unterminated [IPv6] host in \"" + u + "\"";
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return "expected [IPv6]:PORT in \"" + u + "\"";
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return "empty host in \"" + u + "\"";
  if (!port.empty() || rest.back() == ':') {
    bool digits = !port.empty() && port.size() <= 5;
    for (char ch : port) digits = digits && ch >= '0' && ch <= '9';
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return "port must be an integer in 1..65535 in \"" + u + "\"";
  }
  return {};
}

std::string subject_prefix_problem(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 64) return "must be 1..64 characters, got \"" + prefix + "\"";
  bool token_empty = true;
  for (char ch : prefix) {
    if (ch == '.') {
      if (token_empty) break;
      token_empty = true;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-')
      return "dot-separated tokens of A-Z a-z 0-9 _ - only (no wildcard), got \"" + prefix + "\"";
    token_empty = false;
  }
  if (token_empty) return "empty token in \"" + prefix + "\"";
  return {};
}

}  // namespace detail
}  // namespace astra::config
