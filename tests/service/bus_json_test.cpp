// The bus's AMI event JSON (the shape `astra ami watch` prints) and subject tokens (issue 14).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "protocols/ami/message.hpp"
#include "service/bus/nats_bus.hpp"
#include "service/core/bus_requests.hpp"

using astra::ami::message;
using astra::ami::message_kind;

TEST_CASE("bus: AMI events as JSON, repeated keys as arrays at their first position") {
  auto m = message::make(message_kind::event, {{"Event", "VarSet"},
                                               {"Variable", "A=1"},
                                               {"Channel", "PJSIP/1-0001"},
                                               {"Variable", "B=2"},
                                               {"Value", "Jos\xE9 \"q\""}});
  std::string out;
  astra::bus::append_ami_json(out, m);
  CHECK(out == R"({"Event":"VarSet","Variable":["A=1","B=2"],"Channel":"PJSIP/1-0001","Value":"José \"q\""})");
  auto j = nlohmann::json::parse(out);  // valid UTF-8 JSON for any bytes
  CHECK(j["Variable"].size() == 2);
}

TEST_CASE("bus: subject tokens keep A-Z a-z 0-9 _ - only") {
  CHECK(astra::bus::subject_token("Newchannel") == "Newchannel");
  CHECK(astra::bus::subject_token("a.b*c>d e") == "a_b_c_d_e");
  CHECK(astra::bus::subject_token("") == "_");
}

TEST_CASE("bus requests: AMI and ARI requests parsed from untrusted JSON, errors named") {
  std::string why;
  auto act = astra::runtime::parse_ami_request(R"({"action":"Originate","headers":{"Channel":"Local/1","Variable":["A=1","B=2"],"Timeout":30000}})", why);
  REQUIRE(act);
  CHECK(act->name() == "Originate");
  CHECK(act->get_all("Variable").size() == 2);
  CHECK(act->get("Timeout") == std::optional<std::string_view>("30000"));
  for (const char* bad : {"not json", "[]", R"({"headers":{}})", R"({"action":""})", R"({"action":"Ping","headers":[1]})",
                          R"({"action":"Ping","headers":{"K":{"x":1}}})", R"({"action":"Ping","headers":{"K":[1]}})"}) {
    INFO(bad);
    why.clear();
    CHECK_FALSE(astra::runtime::parse_ami_request(bad, why));
    CHECK_FALSE(why.empty());
  }
  auto req = astra::runtime::parse_ari_request(R"({"method":"post","path":"/channels/abc/answer","body":{"x":1}})", why);
  REQUIRE(req);
  CHECK(req->method == "POST");
  CHECK(req->path == "/ari/channels/abc/answer");
  CHECK(req->body == std::optional<std::string>(R"({"x":1})"));
  CHECK_FALSE(astra::runtime::parse_ari_request(R"({"method":"PATCH","path":"/x"})", why));
  CHECK_FALSE(astra::runtime::parse_ari_request(R"({"path":"/x"})", why));
  auto err = nlohmann::json::parse(astra::runtime::bus_error("invalid", "bad \xff byte"));
  CHECK(err["error"]["code"] == "invalid");
}
