#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "service/config/config.hpp"
#include "tests/service/config_support.hpp"

using namespace astra::config;
using namespace std::chrono_literals;

namespace {

using astra::test::env_of;

const env_lookup no_env = env_of({});

std::set<std::string> problem_paths(const load_result& r) {
  std::set<std::string> out;
  for (const auto& p : r.problems) out.insert(p.path);
  return out;
}

std::string dump(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems) out += p.path + ": " + p.reason + "\n";
  return out;
}

const char* full_yaml = R"(
servers:
  - name: pbx-1
    ami:
      host: 10.0.0.5
      port: 15038
      username: admin
      secret: amp111
      md5: true
      events: call,system
      action_timeout: 2500ms
    ari:
      url: https://10.0.0.5:8089
      username: asterisk
      password_env: TEST_ARI_PW
      app: astra
      subscribe_all: yes
  - name: pbx-2
    ari:
      url: http://10.0.0.6
      username: u
      password: p
agi:
  listen: 127.0.0.1:4573
  max_calls: 500
  command_timeout: 1m
  allow_cidrs: [127.0.0.0/8, "::1"]
  routes:
    - path: /ivr/menu
      handler: demo
      variables: {GREETING: hello}
    - path: /hang
      handler: wait
      wait: 90s
      token: t0k
admin:
  listen: 127.0.0.1:19573
backoff: {initial: 100ms, max: 5s, multiplier: 1.5, jitter: 0.1}
queues:
  ami_subscriber: {capacity: 42, policy: drop_newest}
log: {format: text, level: debug}
drain_timeout: 12s
)";

}  // namespace

TEST_CASE("a full configuration loads with every value") {
  auto r = load_string(full_yaml, env_of({{"TEST_ARI_PW", "s3cret"}}));
  INFO(dump(r));
  REQUIRE(r.ok());
  const config& c = *r.value;
  REQUIRE(c.servers.size() == 2);
  const auto& s1 = c.servers[0];
  CHECK(s1.name == "pbx-1");
  REQUIRE(s1.ami);
  CHECK(s1.ami->host == "10.0.0.5");
  CHECK(s1.ami->port == 15038);
  CHECK(s1.ami->username == "admin");
  CHECK(s1.ami->secret.value == "amp111");
  CHECK(s1.ami->secret.describe() == "inline");
  CHECK(s1.ami->md5);
  CHECK(s1.ami->events == "call,system");
  CHECK(s1.ami->action_timeout == 2500ms);
  CHECK(s1.ami->keepalive_interval == 15s);  // default
  REQUIRE(s1.ari);
  CHECK(s1.ari->scheme == "https");
  CHECK(s1.ari->host == "10.0.0.5");
  CHECK(s1.ari->port == 8089);
  CHECK(s1.ari->password.value == "s3cret");
  CHECK(s1.ari->password.describe() == "env:TEST_ARI_PW");
  CHECK(s1.ari->subscribe_all);
  CHECK_FALSE(c.servers[1].ami);
  CHECK(c.servers[1].ari->port == 80);
  CHECK(c.agi.listen.host == "127.0.0.1");
  CHECK(c.agi.listen.port == 4573);
  CHECK(c.agi.max_calls == 500);
  CHECK(c.agi.command_timeout == 60s);
  CHECK(c.agi.allow_cidrs == std::vector<std::string>{"127.0.0.0/8", "::1"});
  REQUIRE(c.agi.routes.size() == 2);
  CHECK(c.agi.routes[0].variables.at("GREETING") == "hello");
  CHECK(c.agi.routes[1].handler == "wait");
  CHECK(c.agi.routes[1].wait == 90s);
  CHECK(c.agi.routes[1].token.value == "t0k");
  CHECK(c.admin.listen.port == 19573);
  CHECK(c.backoff.initial == 100ms);
  CHECK(c.backoff.multiplier == 1.5);
  CHECK(c.queues.ami_subscriber.capacity == 42);
  CHECK(c.queues.ari_actor.capacity == 256);  // default
  CHECK(c.log.format == log_format::text);
  CHECK(c.log.level == "debug");
  CHECK(c.drain_timeout == 12s);
}

TEST_CASE("an empty file gives the documented defaults") {
  auto r = load_string("", no_env);
  REQUIRE(r.ok());
  const config& c = *r.value;
  CHECK(c.servers.empty());
  CHECK(c.admin.listen.to_string() == "0.0.0.0:9573");
  CHECK(c.agi.listen.to_string() == "0.0.0.0:4573");
  CHECK(c.agi.enabled);
  CHECK(c.log.format == log_format::json);
  CHECK(c.log.level == "info");
  CHECK(c.drain_timeout == 30s);
  CHECK(c.backoff.initial == 500ms);
  CHECK(c.backoff.max == 30s);
}

TEST_CASE("environment variables override every kind of value") {
  auto r = load_string(full_yaml, env_of({{"TEST_ARI_PW", "x"},
                                         {"ASTRA_ADMIN_LISTEN", "0.0.0.0:1234"},
                                         {"ASTRA_SERVER_PBX_1_AMI_PORT", "5039"},
                                         {"ASTRA_SERVER_PBX_1_AMI_SECRET", "from-env"},
                                         {"ASTRA_SERVER_PBX_2_ARI_URL", "http://h:1"},
                                         {"ASTRA_AGI_ROUTES_1_WAIT", "3s"},
                                         {"ASTRA_AGI_ROUTES_0_VARIABLES_GREETING", "bye"},
                                         {"ASTRA_AGI_ALLOW_CIDRS", "10.0.0.0/8,192.168.1.1"},
                                         {"ASTRA_QUEUES_ARI_ACTOR_CAPACITY", "7"},
                                         {"ASTRA_LOG_FORMAT", "json"},
                                         {"ASTRA_DRAIN_TIMEOUT", "250ms"}}));
  INFO(dump(r));
  REQUIRE(r.ok());
  const config& c = *r.value;
  CHECK(c.admin.listen.port == 1234);
  CHECK(c.servers[0].ami->port == 5039);
  CHECK(c.servers[0].ami->secret.value == "from-env");
  CHECK(c.servers[0].ami->secret.describe() == "env:ASTRA_SERVER_PBX_1_AMI_SECRET");
  CHECK(c.servers[1].ari->host == "h");
  CHECK(c.servers[1].ari->port == 1);
  CHECK(c.agi.routes[1].wait == 3s);
  CHECK(c.agi.routes[0].variables.at("GREETING") == "bye");
  CHECK(c.agi.allow_cidrs == std::vector<std::string>{"10.0.0.0/8", "192.168.1.1"});
  CHECK(c.queues.ari_actor.capacity == 7);
  CHECK(c.log.format == log_format::json);
  CHECK(c.drain_timeout == 250ms);
}

TEST_CASE("a bad environment value is reported under its variable") {
  auto r = load_string("", env_of({{"ASTRA_AGI_MAX_CALLS", "lots"}}));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].path == "agi.max_calls");
  CHECK(r.problems[0].reason.find("ASTRA_AGI_MAX_CALLS") != std::string::npos);
}

TEST_CASE("a bad configuration lists every problem with its key path") {
  const char* bad = R"(
servers:
  - name: pbx 1
    ami:
      port: 70000
      secret: x
      secret_file: /nonexistent
    colour: blue
  - ami: {username: a, secret: b}
  - name: dup
    ari: {url: ftp://h, username: u, password_env: NOT_SET_ANYWHERE}
  - name: dup
agi:
  listen: nowhere
  max_calls: -1
  command_timeout: soon
  allow_cidrs: [10.0.0.0/33]
  routes:
    - handler: dance
    - path: ivr
admin: {listen: "0.0.0.0:99999"}
backoff: {multiplier: 0.5, jitter: 2}
queues: {ami_subscriber: {capacity: 0, policy: drop_everything}}
log: {format: xml, level: loud}
drain_timeout: -5s
extra: 1
)";
  auto r = load_string(bad, no_env);
  REQUIRE_FALSE(r.ok());
  INFO(dump(r));
  auto paths = problem_paths(r);
  for (const char* expected :
       {"servers[0].name", "servers[0].ami.port", "servers[0].ami.username", "servers[0].ami.secret",
        "servers[0].colour", "servers[1].name", "servers[2].ari.url", "servers[2].ari.password_env", "servers[3].name",
        "servers[3]", "agi.listen", "agi.max_calls", "agi.command_timeout", "agi.allow_cidrs[0]",
        "agi.routes[0].path", "agi.routes[0].handler", "agi.routes[1].path", "admin.listen", "backoff.multiplier",
        "backoff.jitter", "queues.ami_subscriber.capacity", "queues.ami_subscriber.policy", "log.format", "log.level",
        "drain_timeout", "extra"})
    CHECK(paths.count(expected) == 1);
  // Reasons are specific and carry the line of the offending value.
  for (const auto& p : r.problems) {
    if (p.path == "servers[0].ami.port") CHECK(p.reason == "expected an integer in 1..65535, got \"70000\" (line 5)");
    if (p.path == "servers[3].name") CHECK(p.reason.find("duplicate") != std::string::npos);
    if (p.path == "servers[2].ari.password_env") CHECK(p.reason.find("NOT_SET_ANYWHERE") != std::string::npos);
    if (p.path == "agi.routes[0].handler") CHECK(p.reason.find("dance") != std::string::npos);
  }
  CHECK_FALSE(r.value.has_value());
}

// Issue 17: `astra run` refuses nothing `astra check-config` accepts; every check a component
// would make when it is spawned is made by the loader, under the key's path.
TEST_CASE("the loader makes the checks the runtime would make at spawn time") {
  auto problems_of = [](const std::string& yaml, std::map<std::string, std::string> vars = {}) {
    auto r = load_string(yaml, env_of(std::move(vars)));
    std::map<std::string, std::string> out;
    for (const auto& p : r.problems) out[p.path] = p.reason;
    return out;
  };
  const std::string ari = "servers:\n  - name: a\n    ari: {username: u, password: p, ";

  // FastAGI enabled with no routes, on a loopback name: valid.
  CHECK(problems_of("agi: {listen: \"localhost:0\"}\nadmin: {listen: \"[::1]:0\"}\n").empty());
  // Listeners bind addresses, never resolve names.
  auto p = problems_of("agi: {listen: \"example.com:4573\"}\nadmin: {listen: \"admin.local:9573\"}\n");
  CHECK(p["agi.listen"] == "host must be an IPv4 or IPv6 address (or localhost), got \"example.com:4573\" (line 1)");
  CHECK(p.count("admin.listen"));
  p = problems_of("", {{"ASTRA_ADMIN_LISTEN", "host:1"}});
  CHECK(p["admin.listen"].find("(from ASTRA_ADMIN_LISTEN)") != std::string::npos);
  // A dual-stack wildcard shares its port with nobody.
  CHECK(problems_of("agi: {listen: \"[::]:7000\"}\nadmin: {listen: \"127.0.0.1:7000\"}\n").count("admin.listen"));
  CHECK(problems_of("agi: {listen: \"localhost:7000\"}\nadmin: {listen: \"127.0.0.1:7000\"}\n").count("admin.listen"));

  // ARI: the URL as the client parses it, at least one Stasis application.
  CHECK(problems_of(ari + "url: \"http://u:p@h:8088\"}\n")["servers[0].ari.url"].find("credentials") != std::string::npos);
  CHECK(problems_of(ari + "app: \" , \"}\n")["servers[0].ari.app"] == "no application name in \" , \"");
  auto r = load_string(ari + "app: \"one, two,,\"}\n", no_env);
  REQUIRE(r.ok());
  CHECK(r.value->servers[0].ari->apps == std::vector<std::string>{"one", "two"});
  // ARI: the CA bundle loads (only used for https with verification).
  p = problems_of(ari + "url: \"https://h\", ca_file: /nonexistent/ca.pem}\n");
  CHECK(p["servers[0].ari.ca_file"] == "cannot read CA file \"/nonexistent/ca.pem\"");
  // A readable file that holds no certificate (this very test's binary will do).
  p = problems_of(ari + "url: \"https://h\", ca_file: /proc/self/exe}\n");
  CHECK(p["servers[0].ari.ca_file"].find("cannot load CA file \"/proc/self/exe\" (expected PEM certificates)") == 0);
  CHECK(problems_of(ari + "url: \"https://h\", ca_file: /nonexistent/ca.pem, verify_tls: false}\n").empty());
  CHECK(problems_of(ari + "url: \"http://h\", ca_file: /nonexistent/ca.pem}\n").empty());
  const std::string system_bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (std::ifstream(system_bundle)) CHECK(problems_of(ari + "url: \"https://h\", ca_file: " + system_bundle + "}\n").empty());

  // FastAGI routes: the router's pattern rules and its notion of a duplicate.
  p = problems_of("agi:\n  routes:\n    - path: /x/*rest/y\n    - path: \"/x/:\"\n    - path: /a\n    - path: /a/\n    - path: /files/*rest\n");
  CHECK(p["agi.routes[0].path"].find("last") != std::string::npos);
  CHECK(p["agi.routes[1].path"].find("unnamed segment") != std::string::npos);
  CHECK(p["agi.routes[3].path"].find("duplicate route \"/a/\"") == 0);
  CHECK_FALSE(p.count("agi.routes[2].path"));
  CHECK_FALSE(p.count("agi.routes[4].path"));
  // A token that is given must not be empty (an empty one would turn the check off).
  p = problems_of("agi:\n  routes:\n    - {path: /t, token_env: EMPTY_TOKEN}\n", {{"EMPTY_TOKEN", ""}});
  CHECK(p["agi.routes[0].token"] == "is empty (from env:EMPTY_TOKEN)");
  // CIDR blocks as the FastAGI allowlist parses them.
  p = problems_of("agi: {allow_cidrs: [\"10.0.0.0/-0\", \"::ffff:10.0.0.0/104\", \"::ffff:10.0.0.0/8\", \"fd00::/8\"]}\n");
  CHECK(p.count("agi.allow_cidrs[0]"));
  CHECK(p.count("agi.allow_cidrs[1]"));
  CHECK_FALSE(p.count("agi.allow_cidrs[2]"));
  CHECK_FALSE(p.count("agi.allow_cidrs[3]"));
}

TEST_CASE("YAML syntax errors and wrong shapes are problems, not exceptions") {
  auto r = load_string("servers: [\n  - {name: a\n", no_env);
  REQUIRE_FALSE(r.ok());
  CHECK(r.problems[0].reason.find("YAML syntax error") != std::string::npos);
  auto r2 = load_string("- just\n- a list\n", no_env);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.problems[0].reason.find("top level") != std::string::npos);
  auto r3 = load_string("servers: {name: x}\nagi: 5\nlog: {level: [a]}\n", no_env);
  REQUIRE_FALSE(r3.ok());
  auto paths = problem_paths(r3);
  CHECK(paths.count("servers"));
  CHECK(paths.count("agi"));
  CHECK(paths.count("log.level"));
  auto missing = load_file("/nonexistent/astra.yaml", no_env);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.problems[0].reason.find("cannot read") != std::string::npos);
}

TEST_CASE("secrets come from a file relative to the config, never shown") {
  char dir_template[] = "/tmp/astra-config-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string dir = dir_template;
  { std::ofstream(dir + "/ami.secret") << "file-secret\n"; }
  { std::ofstream(dir + "/astra.yaml") << "servers:\n  - name: a\n    ami: {username: u, secret_file: ami.secret}\n"; }
  auto r = load_file(dir + "/astra.yaml", no_env);
  INFO(dump(r));
  REQUIRE(r.ok());
  CHECK(r.value->servers[0].ami->secret.value == "file-secret");
  CHECK(r.value->servers[0].ami->secret.describe() == "file:" + dir + "/ami.secret");
  CHECK(r.value->servers[0].ami->secret.describe().find("file-secret") == std::string::npos);
  std::remove((dir + "/ami.secret").c_str());
  std::remove((dir + "/astra.yaml").c_str());
  std::remove(dir.c_str());
}

TEST_CASE("durations accept units and bare seconds") {
  auto with = [](const std::string& v) {
    auto r = load_string("drain_timeout: " + v + "\n", no_env);
    return r.ok() ? std::optional<duration>(r.value->drain_timeout) : std::nullopt;
  };
  CHECK(with("250ms") == 250ms);
  CHECK(with("5s") == 5s);
  CHECK(with("1.5s") == 1500ms);
  CHECK(with("2m") == 120s);
  CHECK(with("1h") == 3600s);
  CHECK(with("3") == 3s);
  CHECK(with("0") == 0ms);
  CHECK_FALSE(with("5 parsecs"));
  CHECK_FALSE(with("-1s"));
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(120s) == "2m");
}

TEST_CASE("AMI over TLS and the event filter: defaults, values, environment, problems") {
  const char* plain = R"(
servers:
  - name: a
    ami: {username: u, secret: s}
)";
  auto d = load_string(plain, no_env);
  INFO(dump(d));
  REQUIRE(d.ok());
  const auto& a0 = *d.value->servers[0].ami;
  CHECK(a0.port == 5038);
  CHECK_FALSE(a0.tls.enabled);
  CHECK(a0.tls.verify);
  CHECK(a0.tls.ca_file.empty());
  CHECK(a0.event_filter == ami_event_filter::automatic);

  const std::string tls_yaml = R"(
servers:
  - name: a
    ami:
      username: u
      secret: s
      event_filter: "off"
      tls: {enabled: true, server_name: pbx.example, verify: false}
)";
  auto t = load_string(tls_yaml, no_env);
  INFO(dump(t));
  REQUIRE(t.ok());
  const auto& a1 = *t.value->servers[0].ami;
  CHECK(a1.tls.enabled);
  CHECK(a1.port == 5039);  // tlsbindaddr's default port
  CHECK(a1.tls.server_name == "pbx.example");
  CHECK_FALSE(a1.tls.verify);
  CHECK(a1.event_filter == ami_event_filter::off);

  auto e = load_string(plain, env_of({{"ASTRA_SERVER_A_AMI_TLS_ENABLED", "true"},
                                      {"ASTRA_SERVER_A_AMI_PORT", "15039"},
                                      {"ASTRA_SERVER_A_AMI_EVENT_FILTER", "off"}}));
  INFO(dump(e));
  REQUIRE(e.ok());
  CHECK(e.value->servers[0].ami->tls.enabled);
  CHECK(e.value->servers[0].ami->port == 15039);  // a given port wins
  CHECK(e.value->servers[0].ami->event_filter == ami_event_filter::off);

  auto bad = load_string(R"(
servers:
  - name: a
    ami:
      username: u
      secret: s
      event_filter: sometimes
      tls: {enabled: yes, ca_file: /nonexistent/ca.pem, sni: x}
)", no_env);
  REQUIRE_FALSE(bad.ok());
  auto paths = problem_paths(bad);
  CHECK(paths.count("servers[0].ami.event_filter"));
  CHECK(paths.count("servers[0].ami.tls.ca_file"));
  CHECK(paths.count("servers[0].ami.tls.sni"));
}

TEST_CASE("docs/configuration.md documents every key, default and variable") {
  std::ifstream in(std::string(ASTRA_SOURCE_DIR) + "/docs/configuration.md");
  REQUIRE(in);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();
  auto keys = documented_keys();
  REQUIRE(keys.size() > 40);
  for (const auto& k : keys) {
    INFO(k.path);
    CHECK(doc.find("`" + k.path + "`") != std::string::npos);
    if (k.env != "-") CHECK(doc.find("`" + k.env + "`") != std::string::npos);
  }
}

TEST_CASE("servers[].ari.on_worker_loss: hangup by default, reoffer from the file or the environment; others refused") {
  const char* yaml = R"(
servers:
  - name: pbx-1
    ari: {url: "http://h:8088", username: u, password: p, on_worker_loss: reoffer}
  - name: pbx-2
    ari: {url: "http://h:8088", username: u, password: p}
)";
  auto r = load_string(yaml, no_env);
  INFO(dump(r));
  REQUIRE(r.ok());
  CHECK(r.value->servers[0].ari->on_worker_loss == ari_worker_loss_policy::reoffer);
  CHECK(r.value->servers[1].ari->on_worker_loss == ari_worker_loss_policy::hangup);
  auto env = load_string(yaml, env_of({{"ASTRA_SERVER_PBX_2_ARI_ON_WORKER_LOSS", "reoffer"}}));
  REQUIRE(env.ok());
  CHECK(env.value->servers[1].ari->on_worker_loss == ari_worker_loss_policy::reoffer);
  auto bad = load_string(R"(
servers:
  - name: pbx-1
    ari: {url: "http://h:8088", username: u, password: p, on_worker_loss: ignore}
)", no_env);
  REQUIRE_FALSE(bad.ok());
  CHECK(dump(bad).find("servers[0].ari.on_worker_loss") != std::string::npos);
}

TEST_CASE("servers[].ari.on_reconnect: hangup by default, adopt or continue, from the file or the environment") {
  const char* yaml = R"(
servers:
  - name: pbx-1
    ari: {url: "http://h:8088", username: u, password: p, on_reconnect: adopt}
  - name: pbx-2
    ari: {url: "http://h:8088", username: u, password: p}
)";
  auto r = load_string(yaml, no_env);
  INFO(dump(r));
  REQUIRE(r.ok());
  CHECK(r.value->servers[0].ari->on_reconnect == ari_reconnect_policy::adopt);
  CHECK(r.value->servers[1].ari->on_reconnect == ari_reconnect_policy::hangup);
  CHECK(to_string(ari_reconnect_policy::continue_) == "continue");

  auto from_env = load_string(yaml, env_of({{"ASTRA_SERVER_PBX_2_ARI_ON_RECONNECT", "continue"}}));
  REQUIRE(from_env.ok());
  CHECK(from_env.value->servers[1].ari->on_reconnect == ari_reconnect_policy::continue_);

  auto bad = load_string(yaml, env_of({{"ASTRA_SERVER_PBX_1_ARI_ON_RECONNECT", "ignore"}}));
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].path == "servers[0].ari.on_reconnect");
  CHECK(bad.problems[0].reason ==
        "expected one of hangup, continue, adopt, got \"ignore\" (from ASTRA_SERVER_PBX_1_ARI_ON_RECONNECT)");
  auto bad_file = load_string(R"(
servers:
  - name: pbx-1
    ari: {url: "http://h:8088", username: u, password: p, on_reconnect: Adopt}
)", no_env);
  REQUIRE_FALSE(bad_file.ok());
  CHECK(bad_file.problems[0].path == "servers[0].ari.on_reconnect");
}

TEST_CASE("ari_outbound: the issue's section loads; ASTRA_ARI_OUTBOUND_* override it; mistakes are reported") {
  const char* yaml = R"(
ari_outbound:
  listen: 0.0.0.0:8765
  path: /ari/events
  username: asterisk-out
  password_env: ARI_OUT_PASSWORD
  max_connections: 20000
  handshake_timeout: 5s
  apps:
    - name: percall
      handler: demo
)";
  auto r = load_string(yaml, env_of({{"ARI_OUT_PASSWORD", "outpass"}}));
  INFO(dump(r));
  REQUIRE(r.ok());
  const auto& o = r.value->ari_outbound;
  CHECK(o.enabled);
  CHECK(o.listen_port == 8765);
  CHECK(o.path == "/ari/events");
  CHECK(o.password == "outpass");
  CHECK(o.password_source == "env:ARI_OUT_PASSWORD");
  CHECK(o.max_connections == 20000);
  REQUIRE(o.apps.size() == 1);
  CHECK(o.apps[0].name == "percall");
  CHECK(o.apps[0].handler == "demo");
  CHECK(o.after_handler == ari_after_handler::hangup);

  auto over = load_string(yaml, env_of({{"ARI_OUT_PASSWORD", "x"},
                                        {"ASTRA_ARI_OUTBOUND_MAX_CONNECTIONS", "7"},
                                        {"ASTRA_ARI_OUTBOUND_APPS_0_HANDLER", "track"},
                                        {"ASTRA_ARI_OUTBOUND_AFTER_HANDLER", "keep"}}));
  REQUIRE(over.ok());
  CHECK(over.value->ari_outbound.max_connections == 7);
  CHECK(over.value->ari_outbound.apps[0].handler == "track");
  CHECK(over.value->ari_outbound.after_handler == ari_after_handler::keep);

  auto absent = load_string("agi: {enabled: false}\n", no_env);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent.value->ari_outbound.enabled);

  auto bad = load_string(R"(
ari_outbound:
  path: events
  apps:
    - {name: "a:b", handler: nosuch}
  tls: {cert_file: /nonexistent.pem}
)", no_env);
  REQUIRE_FALSE(bad.ok());
  std::set<std::string> paths;
  for (const auto& p : bad.problems) paths.insert(p.path);
  CHECK(paths.count("ari_outbound.username"));
  CHECK(paths.count("ari_outbound.password"));
  CHECK(paths.count("ari_outbound.path"));
  CHECK(paths.count("ari_outbound.apps[0].name"));
  CHECK(paths.count("ari_outbound.apps[0].handler"));
  CHECK(paths.count("ari_outbound.tls"));
}

TEST_CASE("servers[].ami.async_agi and servers[].ari.event_filter: defaults, values, environment, problems") {
  const std::string yaml = R"(
servers:
  - name: a
    ami: {host: h, username: u, secret: s}
    ari: {url: "http://h:8088", username: u, password: p}
)";
  auto d = load_string(yaml, no_env);
  REQUIRE(d.ok());
  CHECK_FALSE(d.value->servers[0].ami->async_agi);
  CHECK(d.value->servers[0].ari->event_filter == ari_event_filter::off);

  auto f = load_string(R"(
servers:
  - name: a
    ami: {host: h, username: u, secret: s, async_agi: true}
    ari: {url: "http://h:8088", username: u, password: p, event_filter: auto}
)",
                       no_env);
  REQUIRE(f.ok());
  CHECK(f.value->servers[0].ami->async_agi);
  CHECK(f.value->servers[0].ari->event_filter == ari_event_filter::automatic);

  auto e = load_string(yaml, env_of({{"ASTRA_SERVER_A_AMI_ASYNC_AGI", "true"}, {"ASTRA_SERVER_A_ARI_EVENT_FILTER", "auto"}}));
  REQUIRE(e.ok());
  CHECK(e.value->servers[0].ami->async_agi);
  CHECK(e.value->servers[0].ari->event_filter == ari_event_filter::automatic);

  auto bad = load_string(R"(
servers:
  - name: a
    ami: {host: h, username: u, secret: s, async_agi: sometimes}
    ari: {url: "http://h:8088", username: u, password: p, event_filter: maybe}
)",
                         no_env);
  REQUIRE_FALSE(bad.ok());
  auto paths = problem_paths(bad);
  CHECK(paths.count("servers[0].ami.async_agi"));
  CHECK(paths.count("servers[0].ari.event_filter"));
}

TEST_CASE("io_threads and agi.handlers_on_io_threads: defaults, values, environment, range") {
  auto defaults = load_string("{}", no_env);
  REQUIRE(defaults.ok());
  CHECK(defaults.value->io_threads == 0);
  CHECK(defaults.value->agi.handlers_on_io_threads);
  // 0 stands for half the cores, at least one.
  CHECK(io_threads_for(0, 0) == 1);
  CHECK(io_threads_for(0, 1) == 1);
  CHECK(io_threads_for(0, 2) == 1);
  CHECK(io_threads_for(0, 8) == 4);
  CHECK(io_threads_for(3, 8) == 3);
  auto set = load_string("io_threads: 2\nagi: {handlers_on_io_threads: false}\n", no_env);
  INFO(dump(set));
  REQUIRE(set.ok());
  CHECK(set.value->io_threads == 2);
  CHECK_FALSE(set.value->agi.handlers_on_io_threads);
  auto env = load_string("{}", env_of({{"ASTRA_IO_THREADS", "6"}, {"ASTRA_AGI_HANDLERS_ON_IO_THREADS", "false"}}));
  REQUIRE(env.ok());
  CHECK(env.value->io_threads == 6);
  CHECK_FALSE(env.value->agi.handlers_on_io_threads);
  auto bad = load_string("io_threads: 65\n", no_env);
  REQUIRE_FALSE(bad.ok());
  CHECK(problem_paths(bad).count("io_threads") == 1);
}
