// `astra ami watch|send` against the fake AMI server with non-UTF-8 header values: every
// output line is valid JSON in UTF-8; invalid bytes come out as U+00XX (read as Latin-1),
// valid UTF-8 is kept (protocols/common/json_string.hpp).
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/ami/cli_runner.hpp"
#include "tests/ami/fake_ami_server.hpp"

using namespace astra::test;
using json = nlohmann::json;

namespace {

cli_result run(const fake_ami_server& server, std::vector<std::string> args) {
  std::vector<std::string> a{args.front()};
  for (std::string flag : {"--host", "127.0.0.1", "--user", "admin", "--secret", "amp111", "--timeout", "2"}) a.push_back(flag);
  a.push_back("--port");
  a.push_back(std::to_string(server.port()));
  a.insert(a.end(), args.begin() + 1, args.end());
  return run_ami_cli(std::move(a));
}

}  // namespace

TEST_CASE("ami watch: Latin-1 and junk bytes in event values come out as valid JSON", "[ami][cli][utf8]") {
  fake_ami_options opts;
  opts.burst =
      "Event: UserEvent\r\n"
      "Privilege: user,all\r\n"
      "UserEvent: Junk\r\n"
      "CallerIDName: Jos\xE9 M\xFCller\r\n"                                  // Latin-1 from a SIP peer
      "Data: \xFF\xFE\x80\xC0\xAF\xED\xA0\x80|\xE2\x82\xAC \xF0\x9F\x98\x80|\x01\"\\\r\n"  // junk, valid UTF-8, escapes
      "\r\n";
  opts.burst_repeat = 1;
  fake_ami_server server(opts);

  auto r = run(server, {"watch", "--event", "UserEvent", "--count", "1"});
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "{\"Event\":\"UserEvent\",\"Privilege\":\"user,all\",\"UserEvent\":\"Junk\","
        "\"CallerIDName\":\"Jos\xC3\xA9 M\xC3\xBCller\","
        "\"Data\":\"\xC3\xBF\xC3\xBE\xC2\x80\xC3\x80\xC2\xAF\xC3\xAD\xC2\xA0\xC2\x80|\xE2\x82\xAC \xF0\x9F\x98\x80|\\u0001\\\"\\\\\"}\n");
  json j = json::parse(r.out);  // throws (fails the test) on invalid JSON or UTF-8
  CHECK(j["CallerIDName"] == "Jos\xC3\xA9 M\xC3\xBCller");
  CHECK(j.dump().size() > 0);  // strict dump: the decoded strings are valid UTF-8
}

TEST_CASE("ami send: a Latin-1 Command output line comes out as valid JSON", "[ami][cli][utf8]") {
  fake_ami_options opts;
  opts.command_output = {"Jos\xE9", "caf\xC3\xA9 \xE2\x82\xAC", "\xC0\xAF"};
  fake_ami_server server(opts);
  auto r = run(server, {"send", "Command", "Command=core show x"});
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  REQUIRE(j["response"]["Output"].size() == 3);
  CHECK(j["response"]["Output"][0] == "Jos\xC3\xA9");
  CHECK(j["response"]["Output"][1] == "caf\xC3\xA9 \xE2\x82\xAC");
  CHECK(j["response"]["Output"][2] == "\xC3\x80\xC2\xAF");
  CHECK(r.out.find("\"Output\":[\"Jos\xC3\xA9\",\"caf\xC3\xA9 \xE2\x82\xAC\",\"\xC3\x80\xC2\xAF\"]") != std::string::npos);
}
