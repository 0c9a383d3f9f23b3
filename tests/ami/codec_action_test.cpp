// Serializer, typed builders (checked against the recorded `out` bytes), MD5 and the catalog.
#include <catch2/catch.hpp>

#include <set>

#include "protocols/ami/action.hpp"
#include "protocols/ami/catalog.hpp"
#include "protocols/ami/parser.hpp"
#include "tests/ami/codec_support.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra::ami;

namespace {

// The recorded client put ActionID last; reproduce that by carrying it as an own header.
std::string recorded_form(action a, const std::string& id) {
  a.add("ActionID", id);
  auto text = serialize(a, "");
  REQUIRE(text.ok());
  return *text;
}

std::set<std::string> recorded_out() {
  std::set<std::string> all;
  for (const auto& name : astra::test::list_fixtures("ami"))
    for (const auto& c : astra::test::load_fixture(name))
      if (c.dir == "out") all.insert(c.data);
  return all;
}

}  // namespace

TEST_CASE("RFC 1321 test vectors", "[ami][codec][md5]") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
        "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
  // Padding edge cases around the 56-byte boundary.
  CHECK(md5_hex(std::string(55, 'a')) == "ef1772b6dff9a122358552954ad0df65");
  CHECK(md5_hex(std::string(56, 'a')) == "3b0c8ac703f828b04c6c197006d17218");
  CHECK(md5_hex(std::string(64, 'a')) == "014842d480b571495a4a0363793f7367");
}

TEST_CASE("md5_key reproduces the recorded challenge login", "[ami][codec][md5]") {
  // login-md5-challenge.jsonl: Challenge: 865690464, secret amp111 (tests/data/asterisk/config).
  CHECK(md5_key("865690464", "amp111") == "8ea06750a9aa48ab33d5c7f5fe032cf8");
}

TEST_CASE("serialize injects ActionID after Action and keeps repeated headers", "[ami][codec][serialize]") {
  action a("Originate");
  a.add("Channel", "Local/100@default").add("Variable", "A=1").add("Variable", "B=2").add("ActionID", "user-id");
  auto text = serialize(a, "sess-7");
  REQUIRE(text.ok());
  CHECK(*text == "Action: Originate\r\nActionID: sess-7\r\nChannel: Local/100@default\r\nVariable: A=1\r\n"
                 "Variable: B=2\r\n\r\n");
  auto plain = serialize(a, "");
  REQUIRE(plain.ok());
  CHECK(*plain == "Action: Originate\r\nChannel: Local/100@default\r\nVariable: A=1\r\nVariable: B=2\r\n"
                  "ActionID: user-id\r\n\r\n");

  // The output parses back as an action with the same headers.
  auto back = astra::ami::test::parse_whole(*text, true);
  REQUIRE(back.size() == 1);
  REQUIRE(back[0].ok);
  CHECK(back[0].kind == message_kind::action);
  CHECK(back[0].name == "Originate");
  CHECK(back[0].headers.size() == 5);

  // set replaces all, add appends, erase removes.
  a.set("variable", "C=3");
  CHECK(a.get_all("Variable") == std::vector<std::string_view>{"C=3"});
  a.erase("VARIABLE");
  CHECK_FALSE(a.get("Variable"));
}

TEST_CASE("CR or LF anywhere in an action is refused as header injection", "[ami][codec][serialize]") {
  auto refused = [](const action& a, std::string_view id, std::string_view mentions) {
    auto r = serialize(a, id);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ami_errc::header_injection));
    CHECK(r.error().detail.find(mentions) != std::string::npos);
  };
  refused(action("Ping").add("Channel", "x\r\nAction: Hangup"), "1", "Channel");
  refused(action("Ping").add("Channel", "x\nAction: Hangup"), "1", "Channel");
  refused(action("Ping").add("Chan\rnel", "x"), "1", "Chan");
  refused(action("Ping").add("Bad:Key", "x"), "1", "Bad:Key");
  refused(action("Ping").add("", "x"), "1", "empty");
  refused(action("Ping"), "id\r\nAction: Hangup", "ActionID");
  refused(action("Ping\r\nAction: Hangup"), "1", "action name");
  refused(action(""), "1", "action name");
  refused(actions::setvar("chan", "V", "value\nAction: Hangup"), "1", "Value");
  CHECK(serialize(action("Ping").add("Note", "tabs\tand: colons are fine"), "1").ok());
}

TEST_CASE("typed builders reproduce the recorded client bytes", "[ami][codec][serialize]") {
  const auto recorded = recorded_out();
  auto check_recorded = [&](const std::string& bytes) {
    INFO(bytes);
    CHECK(recorded.count(bytes) == 1);
  };
  // ActionID injected right after Action: (the contract) equals the recording when there are no other headers.
  for (auto [a, id] : std::vector<std::pair<action, std::string>>{{actions::ping(), "p-1"},
                                                                  {actions::logoff(), "bye"},
                                                                  {actions::core_show_channels(), "csc-1"},
                                                                  {actions::status(), "st-1"},
                                                                  {actions::queue_status(), "qs-1"},
                                                                  {actions::custom("ListCommands"), "lc-1"},
                                                                  {actions::custom("CoreSettings"), "cs-1"}}) {
    auto text = serialize(a, id);
    REQUIRE(text.ok());
    check_recorded(*text);
  }
  check_recorded(*serialize(actions::ping(), ""));  // "Action: Ping\r\n\r\n"
  check_recorded(recorded_form(actions::login("admin", "amp111"), "login-1"));
  check_recorded(recorded_form(actions::login("admin", "wrong"), "login-bad"));
  check_recorded(recorded_form(actions::challenge("md5"), "ch-1"));
  check_recorded(recorded_form(actions::login_md5("admin", md5_key("865690464", "amp111"), "off"), "login-md5"));
  check_recorded(recorded_form(actions::command("core show version"), "cmd-1"));
  check_recorded(recorded_form(actions::getvar("", "ASTERISK_VERSION_NUM"), "gv-1"));
  check_recorded(recorded_form(actions::getvar("Local/wait@default-00000000;1", "FOO"), "gv-1"));
  check_recorded(recorded_form(actions::setvar("Local/wait@default-00000000;1", "FOO", "bar baz"), "sv-1"));
  check_recorded(recorded_form(actions::hangup("Local/wait@default-00000000;1", 16), "hu-1"));
  check_recorded(recorded_form(actions::hangup("/^Local/.*$/"), "hu-all"));
  check_recorded(recorded_form(actions::db_put("astra", "k1", "hello world"), "db-1"));
  check_recorded(recorded_form(actions::db_get("astra", "k1"), "db-2"));

  actions::originate_params o;
  o.channel = "Local/wait@default";
  o.context = "sink";
  o.exten = "s";
  o.priority = 1;
  o.caller_id = "\"Astra Test\" <5550100>";
  o.variables = {{"ASTRA_TAG", "lifecycle"}};
  check_recorded(recorded_form(actions::originate(o), "orig-1"));
  actions::originate_params sync = o;
  sync.async = false;
  sync.caller_id.clear();
  sync.variables.clear();
  sync.timeout_ms = 5000;
  check_recorded(recorded_form(actions::originate(sync), "orig-sync"));
}

TEST_CASE("every recorded action round-trips: parse the out bytes, rebuild, serialize", "[ami][codec][serialize]") {
  std::size_t count = 0;
  for (const auto& bytes : recorded_out()) {
    parser p;
    p.feed(bytes);
    auto m = p.next();
    REQUIRE(m);
    REQUIRE(m->ok());
    REQUIRE((*m)->kind() == message_kind::action);
    action a{std::string((*m)->name())};
    for (std::size_t i = 1; i < (*m)->size(); ++i) a.add(std::string((*m)->key(i)), std::string((*m)->value(i)));
    auto text = serialize(a, "");
    REQUIRE(text.ok());
    CHECK(*text == bytes);
    ++count;
  }
  CHECK(count >= 25);
}

TEST_CASE("the other builders produce the documented headers", "[ami][codec][serialize]") {
  CHECK(*serialize(actions::events("call,system"), "e") == "Action: Events\r\nActionID: e\r\nEventMask: call,system\r\n\r\n");
  CHECK(*serialize(actions::filter("Add", "Event: Newchannel"), "f") ==
        "Action: Filter\r\nActionID: f\r\nOperation: Add\r\nFilter: Event: Newchannel\r\n\r\n");
  CHECK(*serialize(actions::redirect("SIP/a-1", "ctx", "100", 1), "r") ==
        "Action: Redirect\r\nActionID: r\r\nChannel: SIP/a-1\r\nExten: 100\r\nContext: ctx\r\nPriority: 1\r\n\r\n");
  CHECK(*serialize(actions::db_del("fam", "k"), "d") == "Action: DBDel\r\nActionID: d\r\nFamily: fam\r\nKey: k\r\n\r\n");
  CHECK(*serialize(actions::queue_status("support"), "q") == "Action: QueueStatus\r\nActionID: q\r\nQueue: support\r\n\r\n");
  CHECK(*serialize(actions::status("PJSIP/1-0001"), "s") == "Action: Status\r\nActionID: s\r\nChannel: PJSIP/1-0001\r\n\r\n");
  actions::originate_params app;
  app.channel = "PJSIP/100";
  app.application = "Playback";
  app.data = "demo-congrats";
  app.channel_id = "astra-1";
  app.other_channel_id = "astra-2";
  app.variables = {{"A", "1"}, {"B", "2"}};
  app.account = "acct";
  auto o = actions::originate(app);
  CHECK(o.get_all("Variable") == std::vector<std::string_view>{"A=1", "B=2"});
  CHECK(o.get("ChannelId") == std::optional<std::string_view>("astra-1"));
  CHECK(o.get("OtherChannelId") == std::optional<std::string_view>("astra-2"));
  CHECK(o.get("Async") == std::optional<std::string_view>("true"));
  CHECK(o.get("Application") == std::optional<std::string_view>("Playback"));
  CHECK_FALSE(o.get("Context"));
  CHECK(validate(o).ok());
  auto c = actions::custom("PJSIPShowEndpoint", {{"Endpoint", "100"}});
  CHECK(c.name() == "PJSIPShowEndpoint");
  CHECK(c.get("Endpoint") == std::optional<std::string_view>("100"));
}

TEST_CASE("catalog generated from the Asterisk 22 documentation digest", "[ami][codec][catalog]") {
  CHECK(catalog_asterisk_version() == "22.11.0-rc1");
  // 168 documented entries; app_voicemail's three variants document 7 actions 3 times each.
  CHECK(action_specs().size() == 154);
  CHECK(event_names().size() == 181);

  const action_spec* originate = find_action("originate");
  REQUIRE(originate);
  CHECK(originate->name == "Originate");
  bool channel_required = false, channel_id_known = false;
  for (const auto& p : originate->params) {
    if (p.name == "Channel") channel_required = p.required;
    if (p.name == "ChannelId") channel_id_known = !p.required;
  }
  CHECK(channel_required);
  CHECK(channel_id_known);
  for (const char* name : {"Login", "Challenge", "Logoff", "Ping", "Events", "Filter", "Command", "Hangup", "Redirect",
                           "Setvar", "Getvar", "Status", "CoreShowChannels", "DBGet", "DBPut", "DBDel"}) {
    INFO(name);
    REQUIRE(find_action(name));
    CHECK(find_action(name)->name == name);
  }
  CHECK(find_action("VOICEMAILUSERSLIST"));
  CHECK_FALSE(find_action("NoSuchAction"));
  CHECK_FALSE(find_action(""));

  CHECK(is_known_event("OriginateResponse"));
  CHECK(is_known_event("fullybooted"));
  CHECK(is_known_event("Newchannel"));
  CHECK_FALSE(is_known_event("NoSuchEvent"));
  for (std::size_t i = 1; i < event_names().size(); ++i) CHECK(event_names()[i - 1] != event_names()[i]);
  // Every catalog entry is findable (sorted order matches the lookup).
  for (const auto& spec : action_specs()) CHECK(find_action(spec.name) == &spec);
  for (const auto& e : event_names()) CHECK(is_known_event(e));
}

TEST_CASE("validate checks required parameters and ignores unknown actions", "[ami][codec][catalog]") {
  CHECK(validate(actions::login("admin", "amp111")).ok());
  CHECK(validate(actions::ping()).ok());
  CHECK(validate(actions::hangup("Local/x")).ok());
  CHECK(validate(actions::db_get("f", "k")).ok());
  CHECK(validate(actions::custom("TotallyCustomAction")).ok());

  auto missing = validate(action("Hangup"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.code() == make_error_code(ami_errc::invalid_action));
  CHECK(missing.error().detail.find("Channel") != std::string::npos);

  auto db = validate(action("DBGet").add("Family", "f"));
  REQUIRE_FALSE(db.ok());
  CHECK(db.error().detail.find("Key") != std::string::npos);
  // Case-insensitive parameter match.
  CHECK(validate(action("dbget").add("family", "f").add("KEY", "k")).ok());
  // ActionID never counts as missing, even for actions whose docs list it.
  for (const auto& spec : action_specs()) {
    action a{std::string(spec.name)};
    for (const auto& p : spec.params)
      if (p.required && p.name != "ActionID") a.add(std::string(p.name), "x");
    INFO(spec.name);
    CHECK(validate(a).ok());
  }
}

TEST_CASE("error category names every code", "[ami][codec]") {
  CHECK(std::string(ami_category().name()) == "ami");
  for (int c = static_cast<int>(ami_errc::line_too_long); c <= static_cast<int>(ami_errc::queue_full); ++c)
    CHECK(make_error_code(static_cast<ami_errc>(c)).message().find("unknown") == std::string::npos);
  std::error_code ec = ami_errc::timeout;
  CHECK(ec.category() == ami_category());
}
