// Event filters pushed to Asterisk: the pure parts (actors/ami/event_pushdown.hpp) and the
// catalog facts they stand on, checked against the recorded Asterisk 22 traffic and against
// Asterisk's own matching rules (tests/ami/fake_ami_events.hpp, POSIX regcomp as Asterisk).
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "actors/ami/event_pushdown.hpp"
#include "protocols/ami/catalog.hpp"
#include "tests/ami/fake_ami_events.hpp"
#include "tests/ami/fake_ami_server.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace astra::ami::detail;
using astra::ami::event_filter;
namespace rules = astra::test::ami_rules;

namespace {

event_demand demand(std::vector<event_filter> filters) {
  std::vector<const event_filter*> ptrs;
  for (const auto& f : filters) ptrs.push_back(&f);
  return demand_of(ptrs);
}

// The events of every recorded AMI fixture (Asterisk -> client).
std::vector<rules::event> recorded_events() {
  std::vector<rules::event> out;
  for (const auto& name : astra::test::list_fixtures("ami")) {
    auto in = astra::test::concat_direction(astra::test::load_fixture(name), "in");
    auto first = in.find("\r\n");  // the banner line
    for (auto& e : rules::split_events(std::string_view(in).substr(first == std::string::npos ? 0 : first + 2)))
      out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

TEST_CASE("demand: the union of the subscribers' filters", "[ami][pushdown]") {
  CHECK(demand({}).what == event_demand::kind::nothing);
  CHECK(demand({event_filter::links_only()}).what == event_demand::kind::nothing);
  CHECK(demand({event_filter::by_names({})}).what == event_demand::kind::nothing);
  CHECK(demand({event_filter::by_names({"Hangup"}), event_filter::all()}).what == event_demand::kind::everything);
  CHECK(demand({event_filter::by_predicate([](const ami::message&) { return false; })}).what ==
        event_demand::kind::everything);
  // A name no filter can express (header injection, regex syntax) means everything.
  CHECK(demand({event_filter::by_names({"Hangup\r\nAction: Logoff"})}).what == event_demand::kind::everything);
  CHECK(demand({event_filter::by_names({"Hang.*"})}).what == event_demand::kind::everything);

  auto d = demand({event_filter::by_names({"hangup", "HANGUP", "newexten"}), event_filter::links_only(),
                   event_filter::by_names({"MyUserThing"})});
  REQUIRE(d.what == event_demand::kind::names);
  REQUIRE(d.names.size() == 3);
  CHECK(d.names["hangup"].spelling == "Hangup");  // the documented spelling
  CHECK(d.names["hangup"].documented);
  CHECK(d.names["newexten"].spelling == "Newexten");  // documented as NewExten, written Newexten
  CHECK(d.names["myuserthing"].spelling == "MyUserThing");
  CHECK_FALSE(d.names["myuserthing"].documented);
}

TEST_CASE("Events: mask from the names' documented classes", "[ami][pushdown]") {
  auto names = [](std::vector<std::string> n) { return demand({event_filter::by_names(std::move(n))}); };
  CHECK(mask_for(names({"Hangup"}), "on") == "call");
  CHECK(mask_for(names({"Hangup", "Newexten", "AsyncAGIExec"}), "on") == "agi,call,dialplan");
  CHECK(mask_for(names({"Hangup", "MyUserThing"}), "on") == "on");              // no certain class
  CHECK(mask_for(names({"VoicemailPasswordChange"}), "on") == "on");            // docs contradict the source
  CHECK(mask_for(names({"ChannelTalkingStart"}), "on") == "on");                // documented as EVENT_FLAG_CLASS
  CHECK(mask_for(names({"Hangup"}), "call,system") == "call,system");           // configuration restricts
  CHECK(mask_for(names({"Hangup"}), "off") == "off");
  CHECK(mask_for(names({"Hangup"}), "yes") == "call");
  CHECK(mask_for(demand({}), "on") == "off");
  CHECK(mask_for(demand({event_filter::all()}), "on") == "on");
  CHECK(mask_for(demand({event_filter::all()}), "true") == "on");
  CHECK(mask_for(demand({event_filter::all()}), "call") == "call");
  CHECK(normalize_mask("0") == "off");
  CHECK(normalize_mask("OFF") == "off");
  CHECK(normalize_mask("1") == "1");  // a number: the system class for Asterisk, not "on"
}

TEST_CASE("the catalog's event classes agree with every Privilege: header Asterisk wrote", "[ami][pushdown]") {
  std::size_t checked = 0;
  std::set<std::string> seen;
  for (const auto& e : recorded_events()) {
    auto priv_pos = e.text.find("\r\nPrivilege: ");
    if (priv_pos == std::string::npos) continue;
    auto priv = e.text.substr(priv_pos + 13, e.text.find("\r\n", priv_pos + 2) - priv_pos - 13);
    const ami::event_spec* spec = ami::find_event(e.name);
    if (!spec || spec->event_class.empty()) continue;
    if (priv.find(",all") == std::string::npos) continue;  // list answers (Status: "Privilege: Call") are no events
    INFO(e.name << " Privilege: " << priv);
    CHECK(std::string(spec->event_class) + ",all" == priv);
    CHECK(spec->wire_name == e.name);
    ++checked;
    seen.insert(e.name);
  }
  CHECK(checked > 800);
  CHECK(seen.count("Hangup"));
  CHECK(seen.count("Newexten"));  // the documented NewExten, by its wire spelling
}

TEST_CASE("structured filters from 18.26, 20.11, 21.6, 22.1", "[ami][pushdown]") {
  CHECK(structured_filters_supported("22.11.0-rc1"));
  CHECK(structured_filters_supported("22.1.0"));
  CHECK_FALSE(structured_filters_supported("22.0.0"));
  CHECK(structured_filters_supported("21.6.0"));
  CHECK_FALSE(structured_filters_supported("21.5.0"));
  CHECK(structured_filters_supported("20.11.0"));
  CHECK_FALSE(structured_filters_supported("20.10.0"));
  CHECK_FALSE(structured_filters_supported("certified-20.7-cert5"));
  CHECK(structured_filters_supported("18.26.1"));
  CHECK_FALSE(structured_filters_supported("18.9.0"));
  CHECK_FALSE(structured_filters_supported("19.8.0"));
  CHECK(structured_filters_supported("23.0.0"));
  CHECK_FALSE(structured_filters_supported("GIT-master-a1b2c3d"));
  CHECK_FALSE(structured_filters_supported(""));
}

TEST_CASE("each filter lets exactly its event through, under Asterisk's matching rules", "[ami][pushdown]") {
  const auto burst = rules::split_events(astra::test::event_burst_bytes());
  REQUIRE(burst.size() > 800);
  std::map<std::string, std::size_t> per_name;
  for (const auto& e : burst) ++per_name[e.name];
  CHECK(legacy_filter_regex("Hangup") == "^Event: [Hh][Aa][Nn][Gg][Uu][Pp][[:space:]]");

  for (const char* name : {"Hangup", "hangup", "Newexten", "DialBegin", "SoftHangupRequest"}) {
    for (bool structured : {true, false}) {
      INFO(name << (structured ? " name()" : " regex"));
      auto d = demand({event_filter::by_names({name})});
      REQUIRE(d.names.size() == 1);
      auto a = filter_action(d.names.begin()->second, structured);
      CHECK(a.name() == "Filter");
      CHECK(a.get("Operation").value_or("") == "Add");
      rules::session_rules r;
      REQUIRE(r.add_filter(a.get("MatchCriteria").value_or(""), a.get("Filter").value_or(""), true).empty());
      std::size_t passed = 0;
      for (const auto& e : burst)
        if (r.allows(e)) {
          CHECK(ami::iequals(e.name, name));
          ++passed;
        }
      std::size_t expected = 0;
      for (const auto& [n, count] : per_name)
        if (ami::iequals(n, name)) expected = count;
      CHECK(passed == expected);
      CHECK(passed > 0);
    }
  }
  // The unanchored filter of the manager.conf examples would take HangupRequest too.
  rules::session_rules naive;
  REQUIRE(naive.add_filter("", "Event: Hangup", true).empty());
  std::size_t naive_passed = 0;
  for (const auto& e : burst) naive_passed += naive.allows(e);
  CHECK(naive_passed == per_name["Hangup"] + per_name["HangupRequest"]);

  // Widening: the match-all filter lets everything through next to the others.
  rules::session_rules wide;
  auto d = demand({event_filter::by_names({"Hangup"})});
  auto one = filter_action(d.names.begin()->second, true);
  REQUIRE(wide.add_filter(one.get("MatchCriteria").value_or(""), one.get("Filter").value_or(""), true).empty());
  auto all = match_all_filter_action();
  REQUIRE(wide.add_filter("", all.get("Filter").value_or(""), true).empty());
  std::size_t wide_passed = 0;
  for (const auto& e : burst) wide_passed += wide.allows(e);
  CHECK(wide_passed == burst.size());

  // And the mask: call-class events only.
  rules::session_rules masked;
  masked.mask = rules::strings_to_mask(mask_for(d, "on"));
  std::size_t masked_passed = 0;
  for (const auto& e : burst) masked_passed += masked.allows(e);
  CHECK(masked_passed == burst.size() - per_name["Newexten"] - per_name["SuccessfulAuth"] - per_name["FullyBooted"]);
}
