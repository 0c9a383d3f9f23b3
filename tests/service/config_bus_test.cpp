// The `bus:` section (issue 14): defaults, environment overrides, every validation problem.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>

#include "service/config/config.hpp"
#include "tests/service/config_support.hpp"

using namespace astra::config;
using namespace std::chrono_literals;

namespace {

using astra::test::env_of;

std::map<std::string, std::string> problems_of(const load_result& r) {
  std::map<std::string, std::string> out;
  for (const auto& p : r.problems) out[p.path] += p.reason + ";";
  return out;
}

}  // namespace

TEST_CASE("bus: absent means no bus") {
  auto r = load_string("servers:\n  - name: pbx.1\n    ami: {username: u, secret: s}\n", env_of({}));
  REQUIRE(r.ok());
  CHECK_FALSE(r.value->bus.enabled());
}

TEST_CASE("bus.nats: defaults and the issue's example") {
  auto r = load_string(R"(
bus:
  nats:
    url: nats://nats-a:4222, nats://nats-b:4222
    token_env: NATS_TOKEN
    replica: ${POD_NAME}
)",
                       env_of({{"NATS_TOKEN", "t0k"}, {"POD_NAME", "astra-7f9"}}));
  INFO((r.ok() ? std::string() : r.problems[0].path + ": " + r.problems[0].reason));
  REQUIRE(r.ok());
  REQUIRE(r.value->bus.enabled());
  const auto& n = *r.value->bus.nats;
  CHECK(n.urls == std::vector<std::string>{"nats://nats-a:4222", "nats://nats-b:4222"});
  CHECK(n.token == "t0k");
  CHECK(n.token_source == "env:NATS_TOKEN");
  CHECK(n.subject_prefix == "astra");
  CHECK(n.lease_ttl == 5s);
  CHECK(n.replica == "astra-7f9");
  CHECK(n.buffer_messages == 262'144);
}

TEST_CASE("bus.nats: replica defaults to the host name, also for an unset ${VAR}") {
  auto r = load_string("bus:\n  nats: {url: \"nats://127.0.0.1:4222\", replica: \"${NOT_SET_HERE}\"}\n", env_of({}));
  REQUIRE(r.ok());
  CHECK(r.value->bus.nats->replica == local_host_name());
  auto d = load_string("bus:\n  nats: {url: \"nats://127.0.0.1:4222\"}\n", env_of({}));
  REQUIRE(d.ok());
  CHECK(d.value->bus.nats->replica == local_host_name());
}

TEST_CASE("bus.nats: the environment alone enables it and overrides every key") {
  auto r = load_string("", env_of({{"ASTRA_BUS_NATS_URL", "nats://n1:4222"},
                                   {"ASTRA_BUS_NATS_SUBJECT_PREFIX", "prod.astra"},
                                   {"ASTRA_BUS_NATS_LEASE_TTL", "1s"},
                                   {"ASTRA_BUS_NATS_REPLICA", "r-1"},
                                   {"ASTRA_BUS_NATS_USER", "svc"},
                                   {"ASTRA_BUS_NATS_PASSWORD", "pw"},
                                   {"ASTRA_BUS_NATS_BUFFER_MESSAGES", "2048"}}));
  INFO((r.ok() ? std::string() : r.problems[0].path + ": " + r.problems[0].reason));
  REQUIRE(r.ok());
  REQUIRE(r.value->bus.enabled());
  const auto& n = *r.value->bus.nats;
  CHECK(n.urls == std::vector<std::string>{"nats://n1:4222"});
  CHECK(n.subject_prefix == "prod.astra");
  CHECK(n.lease_ttl == 1s);
  CHECK(n.replica == "r-1");
  CHECK(n.user == "svc");
  CHECK(n.password == "pw");
  CHECK(n.buffer_messages == 2048);
}

TEST_CASE("bus.nats: every problem is listed with its key") {
  auto r = load_string(R"(
servers:
  - name: pbx.1
    ami: {username: u, secret: s}
bus:
  nats:
    url: http://x:4222, nats://:4222, nats://u:p@h:4222, nats://h:99999
    token: abc
    user: me
    credentials_file: /nonexistent/astra.creds
    tls: {ca_file: /nonexistent/ca.pem}
    subject_prefix: "astra.>"
    lease_ttl: 100ms
    replica: "bad name"
    colour: blue
)",
                       env_of({}));
  REQUIRE_FALSE(r.ok());
  auto p = problems_of(r);
  CHECK(p.count("bus.nats.url"));
  CHECK(p["bus.nats.url"].find("scheme must be nats or tls") != std::string::npos);
  CHECK(p["bus.nats.url"].find("empty host") != std::string::npos);
  CHECK(p["bus.nats.url"].find("credentials in the URL") != std::string::npos);
  CHECK(p["bus.nats.url"].find("port must be") != std::string::npos);
  CHECK(p["bus.nats"].find("give one of token, user + password, credentials_file") != std::string::npos);
  CHECK(p.count("bus.nats.password"));
  CHECK(p.count("bus.nats.credentials_file"));
  CHECK(p.count("bus.nats.tls.ca_file"));
  CHECK(p.count("bus.nats.subject_prefix"));
  CHECK(p.count("bus.nats.lease_ttl"));
  CHECK(p.count("bus.nats.replica"));
  CHECK(p.count("bus.nats.colour"));
  CHECK(p["servers[0].name"].find("must not contain '.'") != std::string::npos);
}

TEST_CASE("bus.nats: token_env naming an unset variable is refused") {
  auto r = load_string("bus:\n  nats: {url: \"nats://h:4222\", token_env: NO_SUCH_TOKEN}\n", env_of({}));
  REQUIRE_FALSE(r.ok());
  CHECK(problems_of(r).count("bus.nats.token_env"));
}
