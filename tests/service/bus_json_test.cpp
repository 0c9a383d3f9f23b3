// The bus's AMI event JSON (the shape `astra ami watch` prints) and subject tokens (issue 14).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "protocols/ami/message.hpp"
#include "service/bus/nats_bus.hpp"

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
