#include "service/config/config.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "protocols/webhook/url.hpp"
#include "protocols/webhook/verbs.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

namespace astra::config {

namespace {

// A secret file larger than this is refused (a credential is a line, not a blob).
constexpr std::size_t max_secret_file_bytes = 64 * 1024;
// Server names appear in metric labels and environment variables: keep them short and plain.
constexpr std::size_t max_server_name_length = 64;

struct scope {
  YAML::Node node;       // a map, or undefined/null when absent
  std::string path;      // "servers[0].ami"
  std::string doc_path;  // "servers[].ami"
  std::string env;       // "ASTRA_SERVER_PBX1_AMI"
  std::string doc_env;   // "ASTRA_SERVER_<NAME>_AMI"
};

std::string join(const std::string& a, const std::string& b, char sep) { return a.empty() ? b : a + sep + b; }

std::string upper(std::string_view key) {
  std::string out;
  for (char c : key) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : '_';
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + '"';
}

std::string line_of(const YAML::Node& n) {
  if (!n.IsDefined()) return {};
  auto m = n.Mark();
  if (m.line < 0) return {};
  return " (line " + std::to_string(m.line + 1) + ")";
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> to_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> to_bool(std::string_view s) {
  std::string l;
  for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  return std::nullopt;
}

// "250ms", "5s", "1.5s", "2m", "1h", or a bare number of seconds.
std::optional<duration> to_duration(std::string_view s) {
  struct unit { std::string_view suffix; double ms; };
  static constexpr unit units[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  for (const auto& u : units) {
    if (s.size() > u.suffix.size() && s.substr(s.size() - u.suffix.size()) == u.suffix) {
      auto num = s.substr(0, s.size() - u.suffix.size());
      // "5ms" also ends in "s": only accept when the remaining text is a number.
      if (auto v = to_double(num); v && *v >= 0) return duration(static_cast<std::int64_t>(std::llround(*v * u.ms)));
    }
  }
  if (auto v = to_double(s); v && *v >= 0) return duration(static_cast<std::int64_t>(std::llround(*v * 1000)));
  return std::nullopt;
}

std::optional<endpoint> to_endpoint(std::string_view s, std::string& why) {
  endpoint ep;
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      why = "expected [IPv6]:PORT";
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      why = "expected HOST:PORT";
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  auto p = to_int(port);
  if (!p || *p < 0 || *p > 65535) {
    why = "port must be an integer in 0..65535";
    return std::nullopt;
  }
  if (host.empty()) {
    why = "empty host";
    return std::nullopt;
  }
  ep.host = std::string(host);
  ep.port = static_cast<std::uint16_t>(*p);
  return ep;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ip_literal(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The rules of astra::agi::cidr_allowlist (actors/agi/auth.cpp): an IPv4-mapped IPv6 address
// is an IPv4 one (prefix <= 32); the prefix is plain digits.
bool valid_cidr(std::string_view s) {
  auto slash = s.find('/');
  std::string addr(s.substr(0, slash));
  unsigned char buf[16];
  int bits = 0;
  if (::inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    bits = 32;
  } else if (::inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bits = std::equal(std::begin(mapped), std::end(mapped), buf) ? 32 : 128;
  } else {
    return false;
  }
  if (slash == std::string_view::npos) return true;
  auto digits = s.substr(slash + 1);
  if (!all_digits(digits)) return false;
  auto n = to_int(digits);
  return n && *n <= bits;
}

// The normalisation of astra::agi::router (actors/agi/router.cpp): repeated '/' collapsed,
// trailing '/' removed (except "/").
std::string normalise_route(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    if (out.empty() && c != '/') out.push_back('/');
    out.push_back(c);
  }
  if (out.empty()) out = "/";
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Why astra::agi::router::add would refuse the (normalised) pattern; empty if it accepts it.
std::string route_pattern_problem(const std::string& normalised) {
  std::size_t pos = 1;
  while (pos < normalised.size()) {
    auto next = normalised.find('/', pos);
    if (next == std::string::npos) next = normalised.size();
    std::string_view seg(normalised.data() + pos, next - pos);
    if (!seg.empty() && (seg[0] == ':' || seg[0] == '*')) {
      if (seg.size() == 1) return "unnamed segment " + quote(seg) + " (write :name or *name)";
      if (seg[0] == '*' && next != normalised.size()) return "a *wildcard segment must be the last one";
    }
    pos = next + 1;
  }
  return {};
}

// Why the TLS layer would refuse `file` as its CA bundle (the call the ARI client makes:
// SSL_CTX_load_verify_locations); empty if it loads.
std::string ca_file_problem(const std::string& file) {
  if (!std::ifstream(file, std::ios::binary)) return "cannot read CA file " + quote(file);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  if (!ctx) return {};  // no TLS at all: the client reports it when it connects
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr) == 1) return {};
  unsigned long e = ERR_peek_last_error();
  const char* why = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return "cannot load CA file " + quote(file) + " (expected PEM certificates)" + (why ? std::string(": ") + why : std::string());
}

class loader {
 public:
  loader(const env_lookup& env, std::string base_dir, std::vector<key_doc>* docs, const handler_names* names = nullptr)
      : env_(env), base_dir_(std::move(base_dir)), docs_(docs) {
    if (names) {
      names_ = *names;
    } else {
      for (auto h : agi_handlers) names_.agi.emplace_back(h);
      for (auto h : ari_handlers) names_.ari.emplace_back(h);
    }
  }

  // Handler names a configuration may use, and their list for messages ("a, b, c").
  const handler_names& names() const { return names_; }
  // The environment lookup the overrides come from.
  const env_lookup& env() const { return env_; }
  static bool known(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  static std::string listed(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

  std::vector<problem> problems;

  void add(std::string path, std::string reason) { problems.push_back({std::move(path), std::move(reason)}); }

  // The child map `key` of `s` (absent -> an undefined node; present but not a map -> problem).
  scope child(const scope& s, const std::string& key, const std::string& env_key = {}) {
    scope c;
    c.path = join(s.path, key, '.');
    c.doc_path = join(s.doc_path, key, '.');
    std::string e = env_key.empty() ? upper(key) : env_key;
    c.env = join(s.env, e, '_');
    c.doc_env = join(s.doc_env, e, '_');
    if (s.node.IsMap() && s.node[key]) {
      c.node = s.node[key];
      if (!c.node.IsMap() && !c.node.IsNull()) {
        add(c.path, "expected a mapping" + line_of(c.node));
        c.node = YAML::Node();
      }
    }
    return c;
  }

  // Reports keys of `s` outside `allowed`.
  void check_keys(const scope& s, std::initializer_list<std::string_view> allowed) {
    if (!s.node.IsMap()) return;
    for (const auto& kv : s.node) {
      auto key = kv.first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string known;
        for (auto a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
        add(join(s.path, key, '.'), "unknown key (known keys: " + known + ")" + line_of(kv.first));
      }
    }
  }

  struct raw_value {
    std::string text;
    std::string where;  // " (line N)" or " (from ENV)"
    bool from_env = false;
  };

  // The text of `key`: its environment variable wins over the YAML value.
  std::optional<raw_value> raw(const scope& s, const std::string& key, const std::string& default_text,
                               const std::string& description) {
    const std::string env_name = join(s.env, upper(key), '_');
    if (docs_) docs_->push_back({join(s.doc_path, key, '.'), default_text, join(s.doc_env, upper(key), '_'), description});
    if (auto v = env_(env_name)) return raw_value{*v, " (from " + env_name + ")", true};
    if (!s.node.IsMap() || !s.node[key]) return std::nullopt;
    auto n = s.node[key];
    if (n.IsNull()) return std::nullopt;
    if (!n.IsScalar()) {
      add(join(s.path, key, '.'), "expected a single value" + line_of(n));
      return std::nullopt;
    }
    return raw_value{n.Scalar(), line_of(n), false};
  }

  // The environment override of `key` only (its YAML value may be a structure the caller reads).
  std::optional<raw_value> raw_text(const scope& s, const std::string& key, const std::string& default_text,
                                    const std::string& description) {
    const std::string env_name = join(s.env, upper(key), '_');
    if (docs_) docs_->push_back({join(s.doc_path, key, '.'), default_text, join(s.doc_env, upper(key), '_'), description});
    if (auto v = env_(env_name)) return raw_value{*v, " (from " + env_name + ")", true};
    return std::nullopt;
  }

  void field(const scope& s, const std::string& key, std::string& out, const std::string& description,
             bool required = false) {
    auto r = raw(s, key, out.empty() ? "(none)" : out, description);
    if (r) out = r->text;
    if (required && out.empty()) add(join(s.path, key, '.'), "required" + (r ? r->where : std::string()));
  }

  void field(const scope& s, const std::string& key, bool& out, const std::string& description) {
    auto r = raw(s, key, out ? "true" : "false", description);
    if (!r) return;
    if (auto v = to_bool(r->text)) out = *v;
    else add(join(s.path, key, '.'), "expected true or false, got " + quote(r->text) + r->where);
  }

  void field(const scope& s, const std::string& key, duration& out, const std::string& description,
             duration min = duration{1}) {
    auto r = raw(s, key, format_duration(out), description);
    if (!r) return;
    auto v = to_duration(r->text);
    if (!v) add(join(s.path, key, '.'), "expected a duration such as 500ms, 5s, 2m or a number of seconds, got " + quote(r->text) + r->where);
    else if (*v < min) add(join(s.path, key, '.'), "must be at least " + format_duration(min) + ", got " + quote(r->text) + r->where);
    else out = *v;
  }

  template <class Int>
  void int_field(const scope& s, const std::string& key, Int& out, std::int64_t min, std::int64_t max,
                 const std::string& description) {
    auto r = raw(s, key, std::to_string(out), description);
    if (!r) return;
    auto v = to_int(r->text);
    if (!v || *v < min || *v > max)
      add(join(s.path, key, '.'), "expected an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                                      ", got " + quote(r->text) + r->where);
    else out = static_cast<Int>(*v);
  }

  void double_field(const scope& s, const std::string& key, double& out, double min, double max,
                    const std::string& description) {
    std::ostringstream def;
    def << out;
    auto r = raw(s, key, def.str(), description);
    if (!r) return;
    auto v = to_double(r->text);
    std::ostringstream range;
    range << min << ".." << max;
    if (!v || *v < min || *v > max) add(join(s.path, key, '.'), "expected a number in " + range.str() + ", got " + quote(r->text) + r->where);
    else out = *v;
  }

  // A listener HOST:PORT: the host must be what the listener can bind (an IPv4/IPv6 address
  // or "localhost"; host names are not resolved).
  void listen_field(const scope& s, const std::string& key, endpoint& out, const std::string& description) {
    auto r = raw(s, key, out.to_string(), description);
    if (!r) return;
    std::string why;
    auto ep = to_endpoint(r->text, why);
    if (ep && ep->host != "localhost" && !ip_literal(ep->host)) {
      why = "host must be an IPv4 or IPv6 address (or localhost)";
      ep.reset();
    }
    if (ep) out = *ep;
    else add(join(s.path, key, '.'), why + ", got " + quote(r->text) + r->where);
  }

  template <class Enum, std::size_t N>
  void enum_field(const scope& s, const std::string& key, Enum& out, const std::pair<std::string_view, Enum> (&names)[N],
                  const std::string& description) {
    std::string def, allowed;
    for (const auto& [n, v] : names) {
      if (v == out && def.empty()) def = std::string(n);
      allowed += (allowed.empty() ? "" : ", ") + std::string(n);
    }
    auto r = raw(s, key, def, description + " (" + allowed + ")");
    if (!r) return;
    for (const auto& [n, v] : names)
      if (r->text == n) {
        out = v;
        return;
      }
    add(join(s.path, key, '.'), "expected one of " + allowed + ", got " + quote(r->text) + r->where);
  }

  // A comma-separated environment value or a YAML sequence of strings.
  void list_field(const scope& s, const std::string& key, std::vector<std::string>& out, const std::string& description) {
    const std::string env_name = join(s.env, upper(key), '_');
    if (docs_) docs_->push_back({join(s.doc_path, key, '.'), "[]", join(s.doc_env, upper(key), '_'), description + " (environment: comma-separated)"});
    if (auto v = env_(env_name)) {
      out.clear();
      std::string item;
      std::istringstream in(*v);
      while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
      return;
    }
    if (!s.node.IsMap() || !s.node[key] || s.node[key].IsNull()) return;
    auto n = s.node[key];
    if (!n.IsSequence()) {
      add(join(s.path, key, '.'), "expected a list" + line_of(n));
      return;
    }
    out.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) add(s.path + "." + key + "[" + std::to_string(i) + "]", "expected a single value" + line_of(n[i]));
      else out.push_back(n[i].Scalar());
    }
  }

  // `key` inline, `key_env` (variable name) or `key_file` (path): exactly one; the
  // environment override ASTRA_..._KEY (value) or ASTRA_..._KEY_FILE (path) wins.
  void credential_field(const scope& s, const std::string& key, credential& out, const std::string& description,
                        bool required) {
    const std::string path = join(s.path, key, '.');
    auto inline_v = raw(s, key, "(none)", description + " (inline; prefer _env or _file)");
    auto env_v = raw(s, key + "_env", "(none)", "name of an environment variable holding " + key);
    auto file_v = raw(s, key + "_file", "(none)", "path of a file holding " + key + " (trailing newline removed)");
    // Environment overrides of the value itself take precedence over YAML-level choices.
    if (inline_v && inline_v->from_env) { env_v.reset(); file_v.reset(); }
    else if (file_v && file_v->from_env) { inline_v.reset(); env_v.reset(); }
    else if (env_v && env_v->from_env) { inline_v.reset(); file_v.reset(); }
    int given = (inline_v ? 1 : 0) + (env_v ? 1 : 0) + (file_v ? 1 : 0);
    if (given > 1) {
      add(path, "give only one of " + key + ", " + key + "_env, " + key + "_file");
      return;
    }
    if (inline_v) {
      out.value = inline_v->text;
      out.source = inline_v->from_env ? "env:" + join(s.env, upper(key), '_') : "inline";
    } else if (env_v) {
      if (auto v = env_(env_v->text)) {
        out.value = *v;
        out.source = "env:" + env_v->text;
      } else {
        add(path + "_env", "environment variable " + quote(env_v->text) + " is not set" + env_v->where);
        return;
      }
    } else if (file_v) {
      std::string file = file_v->text;
      if (!file.empty() && file.front() != '/') file = base_dir_ + "/" + file;
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        add(path + "_file", "cannot read " + quote(file) + file_v->where);
        return;
      }
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (content.size() > max_secret_file_bytes) {
        add(path + "_file", "file " + quote(file) + " is larger than " + std::to_string(max_secret_file_bytes) + " bytes");
        return;
      }
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
      out.value = content;
      out.source = "file:" + file;
    }
    if (required && out.value.empty()) add(path, "required (give " + key + ", " + key + "_env or " + key + "_file)");
    // An optional credential that is given must not be empty: an empty token would silently
    // turn the check it configures off.
    else if (!out.source.empty() && out.value.empty()) add(path, "is empty (from " + out.source + ")");
    if (out.value.find_first_of("\r\n") != std::string::npos) add(path, "must not contain CR or LF");
  }

 private:
  env_lookup env_;
  std::string base_dir_;
  std::vector<key_doc>* docs_;
  handler_names names_;
};

constexpr std::pair<std::string_view, log_format> log_formats[] = {{"json", log_format::json}, {"text", log_format::text}};
constexpr std::pair<std::string_view, ami_event_filter> ami_event_filters[] = {{"auto", ami_event_filter::automatic},
                                                                             {"off", ami_event_filter::off}};
constexpr std::pair<std::string_view, ari_event_filter> ari_event_filters[] = {{"auto", ari_event_filter::automatic},
                                                                             {"off", ari_event_filter::off}};
constexpr std::pair<std::string_view, drop_policy> drop_policies[] = {{"drop_newest", drop_policy::drop_newest},
                                                                     {"drop_oldest", drop_policy::drop_oldest},
                                                                     {"pause_reading", drop_policy::pause_reading}};
constexpr std::pair<std::string_view, ari_worker_loss_policy> ari_worker_loss_policies[] = {
    {"hangup", ari_worker_loss_policy::hangup}, {"reoffer", ari_worker_loss_policy::reoffer}};

constexpr std::pair<std::string_view, ari_reconnect_policy> ari_reconnect_policies[] = {
    {"hangup", ari_reconnect_policy::hangup},
    {"continue", ari_reconnect_policy::continue_},
    {"adopt", ari_reconnect_policy::adopt}};

void load_ami(loader& l, const scope& s, ami_config& a) {
  l.check_keys(s, {"host", "port", "username", "secret", "secret_env", "secret_file", "md5", "events", "event_filter",
                   "async_agi", "tls", "connect_timeout", "login_timeout", "action_timeout", "write_timeout", "keepalive_interval",
                   "keepalive_timeout", "read_limits", "max_read_stall"});
  l.field(s, "host", a.host, "AMI host name or address", true);
  auto tls = l.child(s, "tls");
  l.check_keys(tls, {"enabled", "ca_file", "verify", "server_name"});
  l.field(tls, "enabled", a.tls.enabled, "AMI over TLS (manager.conf tlsenable=yes); the port defaults to 5039");
  l.field(tls, "ca_file", a.tls.ca_file, "PEM CA bundle the AMI server certificate is verified against (default: the system store)");
  l.field(tls, "verify", a.tls.verify,
          "verify the AMI server certificate (chain and name); false accepts any certificate");
  l.field(tls, "server_name", a.tls.server_name,
          "name the certificate must carry, sent as SNI when it is a DNS name (default: host)");
  if (a.tls.enabled) a.port = 5039;
  l.int_field(s, "port", a.port, 1, 65535, "AMI TCP port (5039 when tls.enabled)");
  l.field(s, "username", a.username, "AMI user (manager.conf section)", true);
  l.credential_field(s, "secret", a.secret, "AMI secret", true);
  l.field(s, "md5", a.md5, "log in with the MD5 challenge instead of the plain secret");
  l.field(s, "events", a.events, "the widest Events: mask asked for (on, off, or a list such as call,system)");
  l.enum_field(s, "event_filter", a.event_filter, ami_event_filters,
               "ask Asterisk only for the events the subscribers want (Events: mask and Filter actions) or, off, for "
               "every event of `events` (filtered in astra)");
  l.field(s, "async_agi", a.async_agi,
          "run AsyncAGI calls (dialplan AGI(agi:async,ROUTE,...)) of this server with the FastAGI routes, through AMI");
  l.field(s, "connect_timeout", a.connect_timeout, "deadline for resolve + TCP connect (+ TLS handshake)");
  l.field(s, "login_timeout", a.login_timeout, "deadline for banner + login response");
  l.field(s, "action_timeout", a.action_timeout, "default deadline of one AMI action");
  l.field(s, "write_timeout", a.write_timeout, "deadline of one socket write");
  l.field(s, "keepalive_interval", a.keepalive_interval, "Ping period while logged in (0: no keepalive)", duration{0});
  l.field(s, "keepalive_timeout", a.keepalive_timeout, "dead-peer deadline for the Ping reply");
  auto limits = l.child(s, "read_limits");
  l.check_keys(limits, {"line_bytes", "headers", "message_bytes"});
  l.int_field(limits, "line_bytes", a.read_line_bytes, 1024, 16 * 1024 * 1024,
              "longest line astra reads from Asterisk (a longer one discards its message, counted in astra_ami_oversized_total)");
  l.int_field(limits, "headers", a.read_headers, 128, 1'048'576, "most headers in one message astra reads from Asterisk");
  l.int_field(limits, "message_bytes", a.read_message_bytes, 64 * 1024, 1024 * 1024 * 1024,
              "largest message astra reads from Asterisk (e.g. a Command answer)");
  if (a.read_line_bytes > a.read_message_bytes)
    l.add(limits.path + ".line_bytes", "must not exceed read_limits.message_bytes");
  l.field(s, "max_read_stall", a.max_read_stall,
          "longest the AMI reader pauses for a full pause_reading queue before it sheds (counted); keep it below Asterisk's 100 ms writetimeout",
          duration{0});
  // The CA bundle is loaded at each connection (TLS with verification only).
  if (a.tls.enabled && a.tls.verify && !a.tls.ca_file.empty())
    if (auto why_ca = ca_file_problem(a.tls.ca_file); !why_ca.empty()) l.add(tls.path + ".ca_file", why_ca);
}

// YAML -> JSON for the webhook fallback verbs: scalars that read as integers or booleans
// become numbers / booleans (the verb decoder checks types), the rest strings.
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    auto o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>("")] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    auto a = nlohmann::json::array();
    for (const auto& item : n) a.push_back(yaml_to_json(item));
    return a;
  }
  if (n.IsNull() || !n.IsDefined()) return nullptr;
  const std::string text = n.Scalar();
  if (n.Tag() != "!" && !text.empty()) {  // unquoted
    if (auto b = to_bool(text); b && (text == "true" || text == "false")) return *b;
    if (text.find_first_not_of("-0123456789") == std::string::npos && text.size() < 18 && text != "-")
      return std::stoll(text);
  }
  return text;
}

// servers[].ari.webhook / agi.routes[].webhook. `wanted`: the section's handler is webhook.
void load_webhook(loader& l, const scope& parent, std::optional<webhook_config>& out, bool wanted) {
  auto s = l.child(parent, "webhook");
  l.check_keys(s, {"url", "secret", "secret_env", "secret_file", "timeout", "fallback", "max_connections",
                   "max_response_bytes", "verify_tls", "ca_file"});
  webhook_config w;
  l.field(s, "url", w.url, "webhook handler: the app's URL for call.start (http:// or https://)");
  const std::size_t problems_before = l.problems.size();
  l.credential_field(s, "secret", w.secret, "webhook handler: HMAC-SHA256 key signing each request (X-Astra-Signature)", false);
  const bool secret_reported = l.problems.size() > problems_before;
  l.field(s, "timeout", w.timeout, "webhook handler: deadline of one webhook request");
  l.int_field(s, "max_connections", w.max_connections, 1, 4096, "webhook handler: keep-alive connections per app host");
  l.int_field(s, "max_response_bytes", w.max_response_bytes, 1024, 64 * 1024 * 1024,
              "webhook handler: a bigger response body fails the request (fallback)");
  l.field(s, "verify_tls", w.verify_tls, "webhook handler: verify the app's certificate for https");
  l.field(s, "ca_file", w.ca_file, "webhook handler: CA bundle for https (default: the system store)");
  // fallback: a YAML list of verbs, or JSON text in the environment.
  {
    const std::string path = s.path + ".fallback";
    auto r = l.raw_text(s, "fallback", "[] (hang up)", "webhook handler: verbs run when the app fails (timeout, error status, bad reply); JSON in the environment");
    if (r) {
      w.fallback = r->text;
    } else if (s.node.IsMap() && s.node["fallback"] && !s.node["fallback"].IsNull()) {
      if (!s.node["fallback"].IsSequence()) l.add(path, "expected a list of verbs" + line_of(s.node["fallback"]));
      else w.fallback = yaml_to_json(s.node["fallback"]).dump();
    }
    if (auto verbs = webhook::decode_list(w.fallback); !verbs) {
      l.add(path, verbs.error().detail.empty() ? verbs.error().message() : verbs.error().message());
    } else {
      for (const auto& v : *verbs)
        if (!webhook::action_of(v).empty() || std::holds_alternative<webhook::redirect>(v)) {
          l.add(path, "fallback verbs must not call the app (no action, no redirect)");
          break;
        }
    }
  }
  const bool given = s.node.IsMap();
  if (!wanted) {
    if (given) l.add(s.path, "webhook settings given but the handler is not webhook");
    return;
  }
  if (w.url.empty()) l.add(s.path + ".url", "required for the webhook handler");
  else if (auto u = webhook::parse_url(w.url); !u) l.add(s.path + ".url", u.error().detail);
  if (w.secret.value.empty() && w.secret.source.empty() && !secret_reported)
    l.add(s.path + ".secret", "required for the webhook handler (give secret, secret_env or secret_file)");
  if (w.verify_tls && !w.ca_file.empty())
    if (auto why_ca = ca_file_problem(w.ca_file); !why_ca.empty()) l.add(s.path + ".ca_file", why_ca);
  out = std::move(w);
}

void load_ari(loader& l, const scope& s, ari_config& a) {
  l.check_keys(s, {"url", "username", "password", "password_env", "password_file", "app", "handler", "subscribe_all",
                   "verify_tls", "ca_file", "rest_over_websocket", "max_connections", "request_timeout",
                   "connect_timeout", "dead_peer_timeout", "on_reconnect", "on_worker_loss", "event_filter", "webhook"});
  l.field(s, "url", a.url, "ARI base URL: http(s)://HOST[:PORT][/prefix]", true);
  l.field(s, "username", a.username, "ARI user (ari.conf)", true);
  l.credential_field(s, "password", a.password, "ARI password", true);
  l.field(s, "app", a.app, "Stasis application name(s), comma-separated", true);
  {
    std::string name;
    for (char ch : a.app + ",") {
      if (ch == ',') {
        if (!name.empty()) a.apps.push_back(name);
        name.clear();
      } else if (!std::isspace(static_cast<unsigned char>(ch))) {
        name += ch;
      }
    }
    if (a.apps.empty() && !a.app.empty()) l.add(s.path + ".app", "no application name in " + quote(a.app));
  }
  l.field(s, "handler", a.handler,
          "Stasis handler run for each channel entering the app: a stock one (track, demo, webhook) or one registered in code");
  if (!loader::known(l.names().ari, a.handler))
    l.add(s.path + ".handler", "unknown handler " + quote(a.handler) + " (known: " + loader::listed(l.names().ari) + ")");
  l.field(s, "subscribe_all", a.subscribe_all, "subscribe the app to all channels/bridges/endpoints");
  l.field(s, "verify_tls", a.verify_tls, "verify the server certificate for https/wss");
  l.field(s, "ca_file", a.ca_file, "CA bundle for https/wss (default: the system store)");
  l.field(s, "rest_over_websocket", a.rest_over_websocket, "send REST calls over the event WebSocket when Asterisk supports it (22.4+)");
  l.int_field(s, "max_connections", a.max_connections, 1, 256, "keep-alive HTTP connections to this server");
  l.field(s, "request_timeout", a.request_timeout, "deadline of one REST request");
  l.field(s, "connect_timeout", a.connect_timeout, "deadline of TCP + TLS + WebSocket handshake");
  l.field(s, "dead_peer_timeout", a.dead_peer_timeout, "no frame for this long closes the event socket (pinged at half)");
  l.enum_field(s, "on_reconnect", a.on_reconnect, ari_reconnect_policies,
               "channels found inside the app(s) without an actor when the event socket (re)subscribes: hang up, "
               "continue in the dialplan, or adopt (the handler's adoption entry point)");
  l.enum_field(s, "on_worker_loss", a.on_worker_loss, ari_worker_loss_policies,
               "with bus.nats: the calls of a replica lost mid-call, or a call no replica claimed: hang up, or "
               "reoffer (another replica runs the handler from the start)");
  l.enum_field(s, "event_filter", a.event_filter, ari_event_filters,
               "auto: ask Asterisk to send the apps only the event types their handlers consume (application "
               "eventFilter; handlers track and demo only), off: every subscribed event");
  load_webhook(l, s, a.webhook, a.handler == "webhook");
  // Derive scheme/host/port from the URL.
  std::string_view u = a.url;
  const std::string path = s.path + ".url";
  auto sep = u.find("://");
  if (sep == std::string_view::npos) {
    if (!a.url.empty()) l.add(path, "expected http(s)://HOST[:PORT][/prefix], got " + quote(a.url));
    return;
  }
  a.scheme = std::string(u.substr(0, sep));
  if (a.scheme != "http" && a.scheme != "https") {
    l.add(path, "scheme must be http or https, got " + quote(a.scheme));
    return;
  }
  auto rest = u.substr(sep + 3);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (rest.empty()) {
    l.add(path, "empty host in " + quote(a.url));
    return;
  }
  if (rest.find('@') != std::string_view::npos) {
    l.add(path, "credentials in the URL are not accepted (use username and password)");
    return;
  }
  std::uint16_t default_port = a.scheme == "https" ? 443 : 80;
  std::string why;
  if (rest.find(':') == std::string_view::npos || (rest.front() == '[' && rest.back() == ']')) {
    a.host = std::string(rest.front() == '[' ? rest.substr(1, rest.size() - 2) : rest);
    a.port = default_port;
  } else if (auto ep = to_endpoint(rest, why); ep && ep->port != 0) {
    a.host = ep->host;
    a.port = ep->port;
  } else {
    l.add(path, (why.empty() ? "port must be in 1..65535" : why) + ", got " + quote(a.url));
  }
  // The CA bundle is loaded when the client starts (https with verification only).
  if (a.scheme == "https" && a.verify_tls && !a.ca_file.empty())
    if (auto why_ca = ca_file_problem(a.ca_file); !why_ca.empty()) l.add(s.path + ".ca_file", why_ca);
}

void load_servers(loader& l, const scope& root, config& c) {
  const std::string key = "servers";
  if (!root.node.IsMap() || !root.node[key] || root.node[key].IsNull()) {
    // Document the per-server keys even when no server is configured.
    return;
  }
  auto list = root.node[key];
  if (!list.IsSequence()) {
    l.add(key, "expected a list of servers" + line_of(list));
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    scope s;
    s.node = list[i];
    s.path = key + "[" + std::to_string(i) + "]";
    s.doc_path = key + "[]";
    s.doc_env = "ASTRA_SERVER_<NAME>";
    if (!s.node.IsMap()) {
      l.add(s.path, "expected a mapping with name, ami and/or ari" + line_of(s.node));
      continue;
    }
    server_config sc;
    if (s.node["name"] && s.node["name"].IsScalar()) sc.name = s.node["name"].Scalar();
    s.env = "ASTRA_SERVER_" + env_token(sc.name);
    l.check_keys(s, {"name", "ami", "ari"});
    if (sc.name.empty()) {
      l.add(s.path + ".name", "required" + line_of(s.node));
    } else {
      bool ok = sc.name.size() <= max_server_name_length &&
                std::all_of(sc.name.begin(), sc.name.end(), [](char ch) {
                  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
                });
      if (!ok) l.add(s.path + ".name", "must be 1.." + std::to_string(max_server_name_length) + " characters of A-Z a-z 0-9 - _ . , got " + quote(sc.name));
      else if (!names.insert(sc.name).second) l.add(s.path + ".name", "duplicate server name " + quote(sc.name));
    }
    auto ami = l.child(s, "ami");
    if (ami.node.IsMap()) {
      sc.ami.emplace();
      load_ami(l, ami, *sc.ami);
    }
    auto ari = l.child(s, "ari");
    if (ari.node.IsMap()) {
      sc.ari.emplace();
      load_ari(l, ari, *sc.ari);
    }
    if (!sc.ami && !sc.ari) l.add(s.path, "configure ami and/or ari for this server" + line_of(s.node));
    c.servers.push_back(std::move(sc));
  }
}

void load_route(loader& l, const scope& s, agi_route_config& r) {
  l.check_keys(s, {"path", "handler", "file", "wait", "variables", "allow_cidrs", "token", "token_env", "token_file",
                   "token_param", "webhook"});
  l.field(s, "path", r.path, "route path: exact (/ivr/menu) or with named segments (/ivr/:menu)", true);
  std::string handlers;
  for (auto h : agi_handlers) handlers += (handlers.empty() ? "" : ", ") + std::string(h);
  l.field(s, "handler", r.handler, "handler to run: a stock one (" + handlers + ") or one registered in code");
  l.field(s, "file", r.file, "sound file streamed by the demo and playback handlers");
  l.field(s, "wait", r.wait, "wait handler: how long to wait for a digit");
  l.list_field(s, "allow_cidrs", r.allow_cidrs, "source CIDR allowlist for this route (overrides agi.allow_cidrs)");
  l.credential_field(s, "token", r.token, "shared token the call must carry in its query", false);
  l.field(s, "token_param", r.token_param, "query parameter holding the token");
  load_webhook(l, s, r.webhook, r.handler == "webhook");
  if (!r.path.empty() && r.path.front() != '/') l.add(s.path + ".path", "must start with '/', got " + quote(r.path));
  else if (auto why = route_pattern_problem(normalise_route(r.path)); !why.empty())
    l.add(s.path + ".path", why + ", got " + quote(r.path));
  if (!loader::known(l.names().agi, r.handler))
    l.add(s.path + ".handler", "unknown handler " + quote(r.handler) + " (known: " + loader::listed(l.names().agi) + ")");
  for (std::size_t i = 0; i < r.allow_cidrs.size(); ++i)
    if (!valid_cidr(r.allow_cidrs[i]))
      l.add(s.path + ".allow_cidrs[" + std::to_string(i) + "]", "not an IPv4/IPv6 address or CIDR: " + quote(r.allow_cidrs[i]));
  // variables: a mapping NAME: value; each value overridable by ..._VARIABLES_<NAME>.
  auto vars = l.child(s, "variables");
  if (vars.node.IsMap()) {
    for (const auto& kv : vars.node) {
      auto name = kv.first.as<std::string>("");
      std::string value;
      l.field(vars, name, value, "");
      r.variables[name] = value;
    }
  }
}

void load_agi(loader& l, const scope& s, agi_config& a) {
  l.check_keys(s, {"enabled", "listen", "max_calls", "env_timeout", "command_timeout", "max_call_duration",
                   "handlers_on_io_threads", "allow_cidrs", "routes"});
  l.field(s, "enabled", a.enabled, "run the FastAGI server");
  l.listen_field(s, "listen", a.listen, "FastAGI listener HOST:PORT");
  l.int_field(s, "max_calls", a.max_calls, 1, 1'000'000, "concurrent calls; beyond it new connections are refused and counted");
  l.field(s, "env_timeout", a.env_timeout, "idle limit before the agi_* environment block is complete");
  l.field(s, "command_timeout", a.command_timeout, "default deadline of one AGI command");
  l.field(s, "max_call_duration", a.max_call_duration,
          "a call still running this long after admission is ended (outcome timed_out); 0s: no limit", duration{0});
  l.field(s, "handlers_on_io_threads", a.handlers_on_io_threads,
          "run FastAGI handlers on the io thread that reads their socket (false: on the actor system's workers, two thread hops per command)");
  l.list_field(s, "allow_cidrs", a.allow_cidrs, "source CIDR allowlist for every route (empty: allow all)");
  for (std::size_t i = 0; i < a.allow_cidrs.size(); ++i)
    if (!valid_cidr(a.allow_cidrs[i]))
      l.add(s.path + ".allow_cidrs[" + std::to_string(i) + "]", "not an IPv4/IPv6 address or CIDR: " + quote(a.allow_cidrs[i]));
  if (!s.node.IsMap() || !s.node["routes"] || s.node["routes"].IsNull()) return;
  auto list = s.node["routes"];
  if (!list.IsSequence()) {
    l.add(s.path + ".routes", "expected a list of routes" + line_of(list));
    return;
  }
  std::set<std::string> paths;
  for (std::size_t i = 0; i < list.size(); ++i) {
    scope rs;
    rs.node = list[i];
    rs.path = s.path + ".routes[" + std::to_string(i) + "]";
    rs.doc_path = s.doc_path + ".routes[]";
    rs.env = s.env + "_ROUTES_" + std::to_string(i);
    rs.doc_env = s.doc_env + "_ROUTES_<INDEX>";
    if (!rs.node.IsMap()) {
      l.add(rs.path, "expected a mapping with path and handler" + line_of(rs.node));
      continue;
    }
    agi_route_config r;
    load_route(l, rs, r);
    // Duplicates as the router sees them: "/a", "/a/" and "//a" are one route.
    if (!r.path.empty() && !paths.insert(normalise_route(r.path)).second)
      l.add(rs.path + ".path", "duplicate route " + quote(r.path) + " (routes are compared as " + quote(normalise_route(r.path)) + ")");
    a.routes.push_back(std::move(r));
  }
}

// `ami`: the queue is AMI's and takes bytes and all three policies; the ARI queues only
// drop_newest (their readers are not paused).
void load_queue(loader& l, const scope& parent, const std::string& key, queue_config& q, const std::string& what,
                bool ami) {
  auto s = l.child(parent, key);
  if (ami) l.check_keys(s, {"capacity", "policy", "bytes"});
  else l.check_keys(s, {"capacity", "policy"});
  l.int_field(s, "capacity", q.capacity, 1, 10'000'000, what + ": messages in flight before the policy applies");
  l.enum_field(s, "policy", q.policy, drop_policies, what + ": what happens to a message beyond capacity (drops counted in astra_queue_dropped_total)");
  if (ami)
    l.int_field(s, "bytes", q.bytes, 64 * 1024, std::int64_t{1} << 34, what + ": bytes in flight before the policy applies");
  if (!ami && q.policy != drop_policy::drop_newest)
    l.add(s.path + ".policy", "only drop_newest is supported for the ARI queues");
  if (key == "ami_inbox" && q.policy != drop_policy::pause_reading)
    l.add(s.path + ".policy", "the AMI inbox only supports pause_reading (the reader pauses, then sheds after ami.max_read_stall)");
}

}  // namespace
}  // namespace astra::config
#include "service/config/config_ari_outbound.hpp"
#include "service/config/config_bus.hpp"
namespace astra::config {
namespace {

void load_all(loader& l, const YAML::Node& doc, config& c) {
  scope root;
  root.node = doc;
  root.env = "ASTRA";
  root.doc_env = "ASTRA";
  l.check_keys(root, {"servers", "agi", "admin", "backoff", "queues", "log", "drain_timeout", "io_threads", "ari_outbound", "bus"});
  load_servers(l, root, c);
  load_agi(l, l.child(root, "agi"), c.agi);
  {
    auto s = l.child(root, "admin");
    l.check_keys(s, {"listen"});
    l.listen_field(s, "listen", c.admin.listen, "admin HTTP listener HOST:PORT (/metrics, /healthz, /readyz, /v1/status)");
  }
  {
    auto s = l.child(root, "backoff");
    l.check_keys(s, {"initial", "max", "multiplier", "jitter", "login_failure_delay"});
    l.field(s, "initial", c.backoff.initial, "first reconnect delay");
    l.field(s, "max", c.backoff.max, "cap on any reconnect delay");
    l.double_field(s, "multiplier", c.backoff.multiplier, 1.0, 10.0, "growth of the delay per failed attempt");
    l.double_field(s, "jitter", c.backoff.jitter, 0.0, 1.0, "random +/- fraction applied to each delay");
    l.field(s, "login_failure_delay", c.backoff.login_failure_delay, "retry delay after Asterisk refuses the credentials");
    if (c.backoff.initial > c.backoff.max) l.add("backoff.initial", "must not exceed backoff.max (" + format_duration(c.backoff.max) + ")");
  }
  {
    auto s = l.child(root, "queues");
    l.check_keys(s, {"ami_inbox", "ami_subscriber", "ari_dispatch", "ari_actor"});
    load_queue(l, s, "ami_inbox", c.queues.ami_inbox, "AMI events from the socket reader to the session actor", true);
    load_queue(l, s, "ami_subscriber", c.queues.ami_subscriber, "AMI events to the service's event subscriber", true);
    load_queue(l, s, "ari_dispatch", c.queues.ari_dispatch, "ARI frames from the event socket to the dispatcher", false);
    load_queue(l, s, "ari_actor", c.queues.ari_actor, "events to one ARI channel or bridge actor", false);
  }
  {
    auto s = l.child(root, "log");
    l.check_keys(s, {"format", "level"});
    l.enum_field(s, "format", c.log.format, log_formats, "log line format on stdout");
    l.field(s, "level", c.log.level, "minimum level (trace, debug, info, warn, error, critical, off)");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.log.level)) l.add("log.level", "expected one of trace, debug, info, warn, error, critical, off, got " + quote(c.log.level));
  }
  l.field(root, "drain_timeout", c.drain_timeout, "on SIGTERM/SIGINT: how long running calls may finish before they are cut", duration{0});
  l.int_field(root, "io_threads", c.io_threads, 0, 64,
              "Asio threads for every socket; FastAGI handlers run on them by default (0: half the cores, at least 1)");
  detail::load_ari_outbound<loader, scope, endpoint, credential>(l, root, c.ari_outbound);
  if (c.ari_outbound.enabled && c.agi.enabled && c.ari_outbound.listen_port != 0 &&
      c.ari_outbound.listen_port == c.agi.listen.port)
    l.add("ari_outbound.listen", "same port as agi.listen (" + std::to_string(c.agi.listen.port) + ")");
  if (c.ari_outbound.enabled && c.ari_outbound.listen_port != 0 && c.ari_outbound.listen_port == c.admin.listen.port)
    l.add("ari_outbound.listen", "same port as admin.listen (" + std::to_string(c.admin.listen.port) + ")");
  detail::load_bus<loader, scope, credential>(l, root, c.bus, l.env());
  // With the bus, a server name is a NATS subject token and a KV key: no '.'.
  if (c.bus.enabled())
    for (std::size_t i = 0; i < c.servers.size(); ++i)
      if (c.servers[i].name.find('.') != std::string::npos)
        l.add("servers[" + std::to_string(i) + "].name",
              "must not contain '.' when bus is configured (it is one NATS subject token), got " + quote(c.servers[i].name));
  // Both listeners on one port cannot both bind (a wildcard address covers the others; "::"
  // is dual-stack).
  auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "::"; };
  const auto admin_host = c.admin.listen.bind_address(), agi_host = c.agi.listen.bind_address();
  if (c.agi.enabled && c.admin.listen.port != 0 && c.admin.listen.port == c.agi.listen.port &&
      (admin_host == agi_host || wildcard(admin_host) || wildcard(agi_host)))
    l.add("admin.listen", "same port as agi.listen (" + std::to_string(c.agi.listen.port) + ")");
}

load_result finish(loader& l, config c) {
  load_result r;
  r.problems = std::move(l.problems);
  if (r.problems.empty()) r.value = std::move(c);
  return r;
}

}  // namespace

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

std::string env_token(std::string_view name) { return upper(name); }

std::string_view to_string(log_format f) noexcept { return f == log_format::json ? "json" : "text"; }
std::string_view to_string(drop_policy p) noexcept {
  for (const auto& [name, value] : drop_policies)
    if (value == p) return name;
  return "?";
}

std::string_view to_string(ari_reconnect_policy p) noexcept {
  for (const auto& [name, value] : ari_reconnect_policies)
    if (value == p) return name;
  return "hangup";
}

std::string_view to_string(ari_worker_loss_policy p) noexcept {
  for (const auto& [name, value] : ari_worker_loss_policies)
    if (value == p) return name;
  return "hangup";
}

std::string format_duration(duration d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

load_result load_string(std::string_view yaml, const env_lookup& env, const std::string& base_dir,
                        const handler_names* names) {
  loader l(env, base_dir, nullptr, names);
  config c;
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    l.add("(file)", "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                        std::to_string(e.mark.column + 1) + ": " + e.msg);
    return finish(l, c);
  }
  if (!doc.IsNull() && doc.IsDefined() && !doc.IsMap()) {
    l.add("(file)", "the top level must be a mapping");
    return finish(l, c);
  }
  load_all(l, doc, c);
  return finish(l, std::move(c));
}

load_result load_file(const std::string& path, const env_lookup& env, const handler_names* names) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load_result r;
    r.problems.push_back({"(file)", "cannot read configuration file " + quote(path)});
    return r;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto slash = path.rfind('/');
  return load_string(text, env, slash == std::string::npos ? "." : path.substr(0, slash), names);
}

std::vector<key_doc> documented_keys() {
  // Read a configuration using every section once; the loader records each key it reads.
  static const char* sample = R"(
servers:
  - name: doc
    ami: {username: u, secret: s}
    ari: {username: u, password: p}
agi:
  routes:
    - path: /doc
ari_outbound:
  username: u
  password: p
  apps:
    - name: doc
bus:
  nats: {url: "nats://doc:4222", replica: doc}
)";
  std::vector<key_doc> docs;
  loader l([](const std::string&) { return std::optional<std::string>(); }, ".", &docs);
  config c;
  load_all(l, YAML::Load(sample), c);
  // The sample's own values are not defaults: restore the documented defaults.
  for (auto& d : docs) {
    if (d.path == "servers[].ami.username" || d.path == "servers[].ari.username" || d.path == "agi.routes[].path")
      d.default_value = "(required)";
    if (d.path == "servers[].ami.secret" || d.path == "servers[].ari.password") d.default_value = "(required: one of the three)";
    if (d.path == "ari_outbound.username" || d.path == "ari_outbound.apps[].name") d.default_value = "(required when enabled)";
    if (d.path == "ari_outbound.password") d.default_value = "(required when enabled: one of the three)";
    if (d.path == "ari_outbound.enabled") d.default_value = "false (true when the section is given)";
    if (d.path == "bus.nats.url") d.default_value = "nats://127.0.0.1:4222";
    if (d.path == "bus.nats.replica") d.default_value = "(the host name)";
  }
  docs.push_back({"servers[].name", "(required)", "-", "server name: metric label `server`, env token <NAME>"});
  docs.push_back({"agi.routes[].variables.<NAME>", "-", "ASTRA_AGI_ROUTES_<INDEX>_VARIABLES_<NAME>", "channel variables set before the handler runs"});
  return docs;
}

std::size_t io_threads_for(std::size_t io_threads, std::size_t cores) {
  if (io_threads != 0) return io_threads;
  // Half the cores: the other half runs the actor system's workers and the kernel's network
  // stack. One io thread serves a FastAGI call churn faster than two on 2 cores
  // (docs/performance.md: the threads of one io_context hand work to each other).
  return std::max<std::size_t>(1, cores / 2);
}

}  // namespace astra::config
