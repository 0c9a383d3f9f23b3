// Service JSON writers fed raw AMI bytes: /v1/status (status_board::to_json, a login refusal
// quoting Asterisk's Message:) and the JSON log formatter (json_quote) always produce valid
// UTF-8 JSON; invalid bytes are read as Latin-1 (protocols/common/json_string.hpp).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "service/core/logging.hpp"
#include "service/core/status_board.hpp"

using namespace astra::runtime;

TEST_CASE("status document stays valid JSON when a link-down reason holds non-UTF-8 bytes", "[service][utf8]") {
  status_board b;
  b.add_server("pbx-1");
  b.configure_link("pbx-1", "ami", "10.0.0.1:5038", "env:AMI_SECRET");
  b.link_up("pbx-1", "ami");
  // Before the fix: nlohmann's strict dump() threw type_error 316 from to_json().
  b.link_down("pbx-1", "ami", "login refused: Utilisateur refus\xE9 \xC0\xAF \xE2\x82\xAC");
  std::string text;
  REQUIRE_NOTHROW(text = b.to_json());
  auto doc = nlohmann::json::parse(text);
  const auto& ami = doc["servers"][0]["ami"];
  CHECK(ami["last_error"] == "login refused: Utilisateur refus\xC3\xA9 \xC3\x80\xC2\xAF \xE2\x82\xAC");
  b.link_up("pbx-1", "ami");
  doc = nlohmann::json::parse(b.to_json());
  REQUIRE(doc["servers"][0]["ami"]["gaps"].size() == 1);
  CHECK(doc["servers"][0]["ami"]["gaps"][0]["reason"] == "login refused: Utilisateur refus\xC3\xA9 \xC3\x80\xC2\xAF \xE2\x82\xAC");
  CHECK(b.readiness().ready == true);
}

TEST_CASE("JSON log lines are valid UTF-8 whatever bytes the message holds", "[service][utf8]") {
  CHECK(json_quote("Jos\xE9") == "\"Jos\xC3\xA9\"");
  CHECK(json_quote("caf\xC3\xA9 \x01\x7f\"\\") == "\"caf\xC3\xA9 \\u0001\\u007f\\\"\\\\\"");
  auto line = format_json_line("t", "warn", "", log_fields("peer said \xFF\xFE", "\"n\":1"));
  auto doc = nlohmann::json::parse(line);
  CHECK(doc["msg"] == "peer said \xC3\xBF\xC3\xBE");
  CHECK(doc["n"] == 1);
}
