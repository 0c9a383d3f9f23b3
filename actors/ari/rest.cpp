#include "actors/ari/rest.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "actors/ari/config.hpp"

namespace astra::ari {

std::string relative_path(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.substr(0, 4) == "ari/") path.remove_prefix(4);
  else if (path == "ari") path = {};
  return std::string(path);
}

std::string error_message(const rest_response& r) {
  if (!r.body.empty()) {
    auto doc = nlohmann::json::parse(r.body, nullptr, false);
    if (doc.is_object()) {
      auto it = doc.find("message");
      if (it != doc.end() && it->is_string()) return it->get<std::string>();
    }
    if (r.body.size() <= 512 && r.content_type.find("json") != std::string::npos) return r.body;
  }
  return r.reason;
}

result<rest_response> check_status(result<rest_response> r) {
  if (!r.ok() || r->ok()) return r;
  return failure{make_http_status_error(r->status), error_message(*r)};
}

std::string encode_query_pairs(const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out.push_back('&');
    out += percent_encode_query(name);  // Asterisk's own encoding rules (protocols/ari/rest.hpp)
    out.push_back('=');
    out += percent_encode_query(value);
  }
  return out;
}

rest_request make_raw_request(std::string method, std::string_view input, std::optional<std::string> body) {
  rest_request req;
  req.method = std::move(method);
  req.body = std::move(body);
  auto q = input.find('?');
  // Segments are decoded then re-encoded, so "a b" and "a%20b" both go out as "a%20b".
  std::string rel = relative_path(input.substr(0, q));
  req.path = "/ari";
  std::size_t start = 0;
  do {
    auto slash = rel.find('/', start);
    req.path += '/';
    req.path += percent_encode_segment(percent_decode(
        std::string_view(rel).substr(start, slash == std::string::npos ? std::string::npos : slash - start), false));
    start = slash == std::string::npos ? std::string::npos : slash + 1;
  } while (start != std::string::npos);
  if (q == std::string_view::npos) return req;
  std::string_view rest = input.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    if (!item.empty()) {
      auto eq = item.find('=');
      if (eq == std::string_view::npos) req.query.emplace_back(percent_decode(item, true), "");
      else req.query.emplace_back(percent_decode(item.substr(0, eq), true), percent_decode(item.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return req;
}

std::string base64_encode(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string endpoint::target(std::string_view relative_path) const {
  std::string t = prefix;
  t += "/ari/";
  t += astra::ari::relative_path(relative_path);
  return t;
}

std::string endpoint::host_header() const { return host + ":" + port; }

result<endpoint> parse_endpoint(std::string_view url) {
  endpoint ep;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return failure{ari_errc::invalid_url, std::string(url)};
  std::string scheme(url.substr(0, scheme_end));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "http" || scheme == "ws") ep.tls = false;
  else if (scheme == "https" || scheme == "wss") ep.tls = true;
  else return failure{ari_errc::invalid_url, "scheme must be http or https: " + std::string(url)};
  std::string_view rest = url.substr(scheme_end + 3);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view p = rest.substr(slash);
    while (!p.empty() && p.back() == '/') p.remove_suffix(1);
    if (p.size() >= 4 && p.substr(p.size() - 4) == "/ari") p.remove_suffix(4);  // ".../ari" given: same thing
    ep.prefix = std::string(p);
  }
  if (authority.find('@') != std::string_view::npos)
    return failure{ari_errc::invalid_url, "credentials in the URL are not accepted; use user/password"};
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return failure{ari_errc::invalid_url, std::string(url)};
    ep.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() == ':') ep.port = std::string(after.substr(1));
  } else {
    auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) ep.port = std::string(authority.substr(colon + 1));
  }
  if (ep.host.empty()) return failure{ari_errc::invalid_url, "no host in " + std::string(url)};
  if (ep.port.empty()) ep.port = ep.tls ? "443" : "80";
  for (char c : ep.port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return failure{ari_errc::invalid_url, "bad port in " + std::string(url)};
  return ep;
}

}  // namespace astra::ari

namespace astra::ari {

const std::vector<std::string>& client_event_types() {
  // dispatcher.cpp (lifecycle, routing), actors.cpp (channel/bridge end, playbacks),
  // reconcile.cpp (orphan candidates), the event stream (ApplicationReplaced, and RESTResponse
  // for REST over the WebSocket: not documented as subject to the filter, listed so that it
  // cannot be filtered out; Asterisk stores the allowed types as given, unknown names included).
  static const std::vector<std::string> types{
      "ApplicationReplaced",  "BridgeCreated",     "BridgeDestroyed",  "ChannelDestroyed", "ChannelEnteredBridge",
      "ChannelLeftBridge",    "PlaybackFinished",  "PlaybackStarted",  "RESTResponse",     "StasisEnd",
      "StasisStart"};
  return types;
}

std::string event_filter_body(const std::vector<std::string>& types) {
  std::vector<std::string> all = client_event_types();
  all.insert(all.end(), types.begin(), types.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  nlohmann::json allowed = nlohmann::json::array();
  for (const auto& t : all) allowed.push_back({{"type", t}});
  return nlohmann::json{{"allowed", allowed}}.dump();
}

}  // namespace astra::ari
