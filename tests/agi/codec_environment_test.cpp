// environment_parser: format edge cases, limits, percent-decoding.
#include <catch2/catch.hpp>

#include "protocols/agi/environment.hpp"

using namespace astra::agi;

namespace {

struct parsed {
  environment env;
  std::error_code error;
  bool done = false;
  std::size_t consumed = 0;
};

parsed parse(std::string_view bytes) {
  environment_parser p;
  parsed out;
  out.consumed = p.feed(bytes);
  out.done = p.done();
  out.error = p.error();
  if (out.done) out.env = p.take();
  return out;
}

}  // namespace

TEST_CASE("environment: values with ':' and spaces, empty values, stops after the blank line") {
  std::string block =
      "agi_network: yes\n"
      "agi_network_script: ivr/menu\n"
      "agi_request: agi://10.0.0.1:4573/ivr/menu\n"
      "agi_channel: PJSIP/alice-00000001\n"
      "agi_calleridname: Doe: John \"JD\"\n"
      "agi_accountcode: \n"
      "agi_dnid:\n"
      "agi_arg_1: a: b\n"
      "agi_arg_2: \n"
      "agi_arg_3:   three\n"
      "\n";
  auto p = parse(block + "200 result=0\n");
  REQUIRE(p.done);
  REQUIRE_FALSE(p.error);
  CHECK(p.consumed == block.size());
  CHECK(p.env.caller_id_name() == "Doe: John \"JD\"");
  CHECK(p.env.get("accountcode") == std::optional<std::string_view>(""));
  CHECK(p.env.get("dnid") == std::optional<std::string_view>(""));
  CHECK(p.env.args == std::vector<std::string>{"a: b", "", "  three"});
  CHECK(p.env.script_path == "/ivr/menu");
  CHECK(p.env.query.empty());
  CHECK(p.env.variables.size() == 10);
}

TEST_CASE("environment: agi_arg_N placed by N") {
  auto p = parse("agi_arg_2: two\nagi_arg_1: one\nagi_arg_4: four\n\n");
  REQUIRE(p.done);
  CHECK(p.env.args == std::vector<std::string>{"one", "two", "", "four"});
  CHECK(parse("agi_arg_0: x\n\n").error == agi_errc::malformed_environment);
  CHECK(parse("agi_arg_x: x\n\n").error == agi_errc::malformed_environment);
  CHECK(parse("agi_arg_99999999999999999999: x\n\n").error == agi_errc::malformed_environment);
}

TEST_CASE("environment: script path and query, percent-decoded, repeated keys kept") {
  auto p = parse("agi_network_script: ivr/menu?lang=en&x=a%20b&x=c%2Bd&x=&flag&&y=%zz&z=%4&e=caf%C3%A9&n=+1555\n\n");
  REQUIRE(p.done);
  const auto& env = p.env;
  CHECK(env.script_path == "/ivr/menu");
  CHECK(env.query_string == "lang=en&x=a%20b&x=c%2Bd&x=&flag&&y=%zz&z=%4&e=caf%C3%A9&n=+1555");
  CHECK(env.param("lang") == std::optional<std::string_view>("en"));
  auto xs = env.params("x");
  REQUIRE(xs.size() == 3);
  CHECK(xs[0] == "a b");
  CHECK(xs[1] == "c+d");
  CHECK(xs[2] == "");
  CHECK(env.param("flag") == std::optional<std::string_view>(""));
  CHECK(env.param("y") == std::optional<std::string_view>("%zz"));
  CHECK(env.param("z") == std::optional<std::string_view>("%4"));
  CHECK(env.param("e") == std::optional<std::string_view>("caf\xC3\xA9"));
  CHECK(env.param("n") == std::optional<std::string_view>("+1555"));
  CHECK(env.param("missing") == std::nullopt);
  CHECK(env.params("missing").empty());
  CHECK(env.query.size() == 9);
}

TEST_CASE("environment: percent_decode and split_script") {
  CHECK(percent_decode("") == "");
  CHECK(percent_decode("%41%62c") == "Abc");
  CHECK(percent_decode("100%") == "100%");
  CHECK(percent_decode("%2") == "%2");
  CHECK(percent_decode("%%41") == "%A");
  CHECK(percent_decode("%00") == std::string(1, '\0'));
  CHECK(percent_decode("a+b") == "a+b");
  environment env;
  split_script("", env);
  CHECK(env.script_path == "/");
  split_script("/abs?k%3D=v%26w", env);
  CHECK(env.script_path == "/abs");
  REQUIRE(env.query.size() == 1);
  CHECK(env.query[0] == std::pair<std::string, std::string>{"k=", "v&w"});
  split_script("?only=query", env);
  CHECK(env.script_path == "/");
  CHECK(env.param("only") == std::optional<std::string_view>("query"));
}

TEST_CASE("environment: script derived from agi_request when agi_network_script is absent") {
  auto p = parse("agi_request: agi://127.0.0.1/sales/queue?id=7\nagi_channel: x\n\n");
  REQUIRE(p.done);
  CHECK(p.env.script == "sales/queue?id=7");
  CHECK(p.env.script_path == "/sales/queue");
  CHECK(p.env.param("id") == std::optional<std::string_view>("7"));
  auto q = parse("agi_request: agi://127.0.0.1\n\n");
  REQUIRE(q.done);
  CHECK(q.env.script_path == "/");
}

TEST_CASE("environment: malformed blocks are refused with malformed_environment") {
  CHECK(parse("\n").error == agi_errc::malformed_environment);                       // empty block
  CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").error == agi_errc::malformed_environment);
  CHECK(parse("agi_channel x\n\n").error == agi_errc::malformed_environment);        // no ':'
  CHECK(parse("agi_: x\n\n").error == agi_errc::malformed_environment);              // empty name
  CHECK(parse("agi_a b: x\n\n").error == agi_errc::malformed_environment);           // space in key
  CHECK(parse("foo: bar\n\n").error == agi_errc::malformed_environment);             // not agi_*
  // A CR before LF is tolerated.
  auto crlf = parse("agi_channel: x\r\n\r\n");
  REQUIRE(crlf.done);
  CHECK(crlf.env.channel() == "x");
}

TEST_CASE("environment: limits") {
  SECTION("line too long, even when it never ends") {
    environment_parser p;
    std::string chunk(1000, 'a');
    p.feed("agi_x: ");
    std::size_t fed = 0;
    while (!p.error() && fed < 100000) {
      p.feed(chunk);
      fed += chunk.size();
    }
    CHECK(p.error() == agi_errc::line_too_long);
    CHECK(fed <= max_line_bytes + chunk.size());
    CHECK(p.feed("more\n\n") == 0);  // sticky
  }
  SECTION("a line of exactly max_line_bytes is accepted") {
    std::string line = "agi_x: " + std::string(max_line_bytes - 7, 'v');
    REQUIRE(line.size() == max_line_bytes);
    auto p = parse(line + "\n\n");
    REQUIRE(p.done);
    CHECK(p.env.get("x")->size() == max_line_bytes - 7);
    CHECK(parse(line + "v\n\n").error == agi_errc::line_too_long);
  }
  SECTION("too many variables") {
    std::string block;
    for (std::size_t i = 0; i < max_variables; ++i) block += "agi_v" + std::to_string(i) + ": x\n";
    auto ok = parse(block + "\n");
    REQUIRE(ok.done);
    CHECK(ok.env.variables.size() == max_variables);
    CHECK(parse(block + "agi_one_more: x\n\n").error == agi_errc::too_many_variables);
  }
  SECTION("environment too large") {
    std::string value(4000, 'v');
    std::string block;
    for (int i = 0; block.size() <= max_environment_bytes; ++i) block += "agi_v" + std::to_string(i) + ": " + value + "\n";
    environment_parser p;
    std::size_t used = p.feed(block + "\n");
    CHECK(p.error() == agi_errc::environment_too_large);
    CHECK(used <= max_environment_bytes);
    CHECK_FALSE(p.done());
  }
}

TEST_CASE("environment: consumes nothing after done") {
  environment_parser p;
  CHECK(p.feed("agi_channel: a\n\nagi_channel: b\n\n") == 16);
  CHECK(p.done());
  CHECK(p.feed("more") == 0);
  CHECK(p.consumed_bytes() == 16);
  auto env = p.take();
  CHECK(env.channel() == "a");
}
