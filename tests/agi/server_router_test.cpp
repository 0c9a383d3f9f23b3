// Router patterns and the built-in auth policies (no sockets).
#include <catch2/catch.hpp>

#include "actors/agi/auth.hpp"
#include "actors/agi/call.hpp"
#include "actors/agi/router.hpp"
#include "protocols/agi/environment.hpp"

using astra::agi::router;

namespace {
astra::task<void> nothing(astra::agi::call&) { co_return; }

astra::agi::environment env_for(std::string_view script) {
  astra::agi::environment env;
  env.script = std::string(script);
  astra::agi::split_script(script, env);
  return env;
}
}  // namespace

TEST_CASE("router: exact paths, named segments, tail wildcards", "[agi][server][router]") {
  router r;
  r.add("/ivr/menu", &nothing);
  r.add("/ivr/:menu", &nothing);
  r.add("/queue/:name/agent/:id", &nothing);
  r.add("/files/*rest", &nothing);

  auto m = r.match("ivr/menu");  // Asterisk sends the path without its leading '/'
  REQUIRE(m);
  CHECK(m->target->pattern == "/ivr/menu");  // exact wins over the pattern
  CHECK(m->params.empty());

  m = r.match("/ivr/main/");
  REQUIRE(m);
  CHECK(m->target->pattern == "/ivr/:menu");
  CHECK(m->params == astra::agi::route_params{{"menu", "main"}});

  m = r.match("queue//sales/agent/7");
  REQUIRE(m);
  CHECK(m->params == astra::agi::route_params{{"name", "sales"}, {"id", "7"}});

  m = r.match("/files/a/b/c");
  REQUIRE(m);
  CHECK(m->params == astra::agi::route_params{{"rest", "a/b/c"}});
  m = r.match("/files");
  REQUIRE(m);
  CHECK(m->params == astra::agi::route_params{{"rest", ""}});

  CHECK_FALSE(r.match("/ivr"));
  CHECK_FALSE(r.match("/ivr/a/b"));
  CHECK_FALSE(r.match("/queue/sales/agent"));
  CHECK_FALSE(r.match("/"));

  CHECK(router::normalise("") == "/");
  CHECK(router::normalise("a//b/") == "/a/b");
  CHECK_THROWS_AS(r.add("/ivr/menu", &nothing), std::invalid_argument);
  CHECK_THROWS_AS(r.add("/x/*rest/y", &nothing), std::invalid_argument);
  CHECK_THROWS_AS(r.add("/x/:", &nothing), std::invalid_argument);
}

TEST_CASE("auth: CIDR allowlist", "[agi][server][auth]") {
  auto policy = astra::agi::cidr_allowlist({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"});
  REQUIRE(policy);
  auto env = env_for("ivr");
  astra::agi::route_params params;
  auto check = [&](std::string_view address) {
    astra::agi::peer_address peer;
    REQUIRE(astra::agi::peer_address::parse(address, peer));
    return (*policy)(astra::agi::auth_request{env, "/ivr", "/ivr", params, peer}).allowed;
  };
  CHECK(check("10.1.2.3"));
  CHECK(check("::ffff:10.9.9.9"));  // IPv4-mapped
  CHECK(check("192.168.1.7"));
  CHECK_FALSE(check("192.168.1.8"));
  CHECK_FALSE(check("11.0.0.1"));
  CHECK(check("fd12::1"));
  CHECK(check("::1"));
  CHECK_FALSE(check("::2"));
  CHECK_FALSE(check("127.0.0.1"));

  CHECK_FALSE(astra::agi::cidr_allowlist({"10.0.0.0/33"}));
  CHECK_FALSE(astra::agi::cidr_allowlist({"not-an-ip"}));
  CHECK_FALSE(astra::agi::cidr_allowlist({"10.0.0.0/"}));
}

TEST_CASE("auth: shared token and combinators", "[agi][server][auth]") {
  auto token = astra::agi::shared_token("s3cret");
  astra::agi::route_params params;
  astra::agi::peer_address peer;
  REQUIRE(astra::agi::peer_address::parse("127.0.0.1", peer));
  auto allowed = [&](const astra::agi::auth_policy& p, std::string_view script) {
    auto env = env_for(script);
    return p(astra::agi::auth_request{env, env.script_path, env.script_path, params, peer}).allowed;
  };
  CHECK(allowed(token, "ivr?token=s3cret"));
  CHECK(allowed(token, "ivr?lang=de&token=s3%63ret"));  // percent-decoded
  CHECK_FALSE(allowed(token, "ivr"));
  CHECK_FALSE(allowed(token, "ivr?token=s3cre"));
  CHECK_FALSE(allowed(token, "ivr?token=s3cretX"));
  CHECK_FALSE(allowed(token, "ivr?token=s3cret&token=other"));
  CHECK_FALSE(allowed(astra::agi::shared_token(""), "ivr?token="));

  auto local = astra::agi::cidr_allowlist({"127.0.0.0/8"}).value();
  CHECK(allowed(astra::agi::all_of({local, token}), "ivr?token=s3cret"));
  CHECK_FALSE(allowed(astra::agi::all_of({local, token}), "ivr"));
  CHECK(allowed(astra::agi::any_of({token, local}), "ivr"));
  CHECK(allowed(astra::agi::allow_all(), "ivr"));
}

TEST_CASE("call_environment keeps the agi_* block compactly", "[agi][server]") {
  std::string block =
      "agi_network: yes\nagi_network_script: ivr/menu?lang=de&x=1&x=2&n=%41\nagi_request: agi://h/ivr/menu?lang=de\n"
      "agi_channel: Local/a@b-1;2\nagi_accountcode: \nagi_arg_1: first arg\nagi_arg_2: \nagi_arg_3: a:b\n\n";
  astra::agi::environment_parser parser;
  parser.feed(block);
  REQUIRE(parser.done());
  auto full = parser.take();
  astra::agi::call_environment env(full);
  CHECK(env.channel() == "Local/a@b-1;2");
  CHECK(env.get("agi_channel") == std::optional<std::string_view>("Local/a@b-1;2"));
  CHECK(env.get("accountcode") == std::optional<std::string_view>(""));
  CHECK_FALSE(env.get("nope"));
  CHECK(env.args() == std::vector<std::string_view>{"first arg", "", "a:b"});
  CHECK(env.param("lang") == std::optional<std::string_view>("de"));
  CHECK(env.params("x") == std::vector<std::string_view>{"1", "2"});
  CHECK(env.param("n") == std::optional<std::string_view>("A"));
  CHECK(env.script_path() == "/ivr/menu");
  CHECK(env.query_string() == "lang=de&x=1&x=2&n=%41");
  CHECK(env.request() == "agi://h/ivr/menu?lang=de");
  CHECK(env.variables().size() == full.variables.size());
}
