// Replays the recorded FastAGI sessions (tests/data/asterisk/fixtures/agi/*.jsonl):
// the `in` side (Asterisk -> server) through environment_parser + reply_parser, whole, as
// recorded, byte by byte and split at every offset; the `out` side (server -> Asterisk)
// re-produced byte-exactly by format_command and, for many commands, by the typed builders.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "protocols/agi/command.hpp"
#include "tests/agi/codec_pipeline.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra::agi;
using astra::agi::test::describe;
using astra::agi::test::run_pieces;

namespace {

struct exchange {
  std::string command;                 // the recorded command line (LF included)
  int hangups_before = 0;              // HANGUP notices between the command and its final reply
  int provisionals = 0;                // 1xx replies before the final one
  reply final;
};

std::vector<std::string> split_lines_keep_lf(const std::string& all) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < all.size()) {
    auto lf = all.find('\n', start);
    if (lf == std::string::npos) lf = all.size() - 1;
    out.push_back(all.substr(start, lf - start + 1));
    start = lf + 1;
  }
  return out;
}

// Pairs each recorded command with the events the parser produced after it.
std::vector<exchange> pair_up(const std::vector<std::string>& commands, const std::vector<reply_event>& events,
                              int& trailing_hangups) {
  std::vector<exchange> out;
  std::size_t e = 0;
  for (const auto& cmd : commands) {
    exchange x;
    x.command = cmd;
    while (e < events.size() && events[e].kind != reply_event::final_reply) {
      if (events[e].kind == reply_event::hangup_notice) ++x.hangups_before;
      else ++x.provisionals;
      ++e;
    }
    REQUIRE(e < events.size());
    x.final = events[e++].value;
    out.push_back(std::move(x));
  }
  trailing_hangups = static_cast<int>(events.size() - e);
  return out;
}

std::size_t count_lines(const std::string& bytes, std::string_view prefix, bool exact = false) {
  std::size_t n = 0, start = 0;
  while (start < bytes.size()) {
    auto lf = bytes.find('\n', start);
    if (lf == std::string::npos) break;
    std::string_view line(bytes.data() + start, lf - start);
    if (exact ? line == prefix : line.substr(0, prefix.size()) == prefix) ++n;
    start = lf + 1;
  }
  return n;
}

const exchange& find_exchange(const std::vector<exchange>& xs, std::string_view command) {
  auto it = std::find_if(xs.begin(), xs.end(), [&](const exchange& x) { return x.command == command; });
  REQUIRE(it != xs.end());
  return *it;
}

// Typed decoder per verb; returns the error code (empty when decoded).
std::error_code decode_by_verb(const std::string& verb, const reply& r) {
  static const std::map<std::string, std::function<std::error_code(const reply&)>> decoders = {
      {"ANSWER", [](const reply& r) { return decode_status(r).code(); }},
      {"GET VARIABLE", [](const reply& r) { return decode_get_variable(r).code(); }},
      {"GET FULL VARIABLE", [](const reply& r) { return decode_get_full_variable(r).code(); }},
      {"SET VARIABLE", [](const reply& r) { return decode_status(r).code(); }},
      {"CHANNEL STATUS", [](const reply& r) { return decode_channel_status(r).code(); }},
      {"DATABASE PUT", [](const reply& r) { return decode_flag(r).code(); }},
      {"DATABASE GET", [](const reply& r) { return decode_database_get(r).code(); }},
      {"DATABASE DEL", [](const reply& r) { return decode_flag(r).code(); }},
      {"DATABASE DELTREE", [](const reply& r) { return decode_flag(r).code(); }},
      {"VERBOSE", [](const reply& r) { return decode_flag(r).code(); }},
      {"STREAM FILE", [](const reply& r) { return decode_stream_file(r).code(); }},
      {"CONTROL STREAM FILE", [](const reply& r) { return decode_control_stream_file(r).code(); }},
      {"GET OPTION", [](const reply& r) { return decode_get_option(r).code(); }},
      {"SAY NUMBER", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY DIGITS", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY ALPHA", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY PHONETIC", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY DATE", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY TIME", [](const reply& r) { return decode_say(r).code(); }},
      {"SAY DATETIME", [](const reply& r) { return decode_say(r).code(); }},
      {"GET DATA", [](const reply& r) { return decode_get_data(r).code(); }},
      {"WAIT FOR DIGIT", [](const reply& r) { return decode_wait_for_digit(r).code(); }},
      {"EXEC", [](const reply& r) { return decode_exec(r).code(); }},
      {"NOOP", [](const reply& r) { return decode_status(r).code(); }},
      {"RECEIVE CHAR", [](const reply& r) { return decode_receive_char(r).code(); }},
      {"RECEIVE TEXT", [](const reply& r) { return decode_receive_text(r).code(); }},
      {"SEND TEXT", [](const reply& r) { return decode_status(r).code(); }},
      {"SEND IMAGE", [](const reply& r) { return decode_status(r).code(); }},
      {"TDD MODE", [](const reply& r) { return decode_flag(r).code(); }},
      {"SET MUSIC", [](const reply& r) { return decode_status(r).code(); }},
      {"SET CALLERID", [](const reply& r) { return decode_flag(r).code(); }},
      {"RECORD FILE", [](const reply& r) { return decode_record_file(r).code(); }},
      {"GOSUB", [](const reply& r) { return decode_status(r).code(); }},
      {"SET AUTOHANGUP", [](const reply& r) { return decode_status(r).code(); }},
      {"ASYNCAGI BREAK", [](const reply& r) { return decode_status(r).code(); }},
      {"SPEECH CREATE", [](const reply& r) { return decode_flag(r).code(); }},
      {"SET CONTEXT", [](const reply& r) { return decode_status(r).code(); }},
      {"SET EXTENSION", [](const reply& r) { return decode_status(r).code(); }},
      {"SET PRIORITY", [](const reply& r) { return decode_status(r).code(); }},
      {"HANGUP", [](const reply& r) { return decode_status(r).code(); }},
  };
  auto it = decoders.find(verb);
  if (it == decoders.end()) return check_reply(r).code();
  return it->second(r);
}

}  // namespace

TEST_CASE("every AGI fixture parses identically whole, as recorded, per byte and split at every offset") {
  auto fixtures = astra::test::list_fixtures("agi");
  REQUIRE(fixtures.size() >= 3);
  for (const auto& name : fixtures) {
    INFO("fixture " << name);
    auto chunks = astra::test::load_fixture(name);
    std::string in = astra::test::concat_direction(chunks, "in");
    auto whole = run_pieces({in});
    REQUIRE(whole.env_done);
    REQUIRE_FALSE(whole.env_error);
    REQUIRE_FALSE(whole.reply_error);
    std::vector<std::string> reference;
    for (const auto& e : whole.events) reference.push_back(describe(e));

    // Each event is one reply line ('520-' blocks aside, absent here): the parser neither
    // drops nor invents lines.
    std::size_t env_lines = whole.env.variables.size() + 1;
    REQUIRE(whole.events.size() == count_lines(in, "") - env_lines);

    auto same_as_whole = [&](const astra::agi::test::pipeline_output& o) {
      REQUIRE(o.env_done);
      REQUIRE_FALSE(o.env_error);
      REQUIRE_FALSE(o.reply_error);
      REQUIRE(o.env.variables == whole.env.variables);
      REQUIRE(o.env.args == whole.env.args);
      REQUIRE(o.env.query == whole.env.query);
      REQUIRE(o.env.script_path == whole.env.script_path);
      REQUIRE(o.events.size() == reference.size());
      for (std::size_t i = 0; i < reference.size(); ++i) REQUIRE(describe(o.events[i]) == reference[i]);
    };

    std::vector<std::string_view> recorded;
    for (const auto& c : chunks)
      if (c.dir == "in") recorded.emplace_back(c.data);
    same_as_whole(run_pieces(recorded));

    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < in.size(); ++i) bytes.emplace_back(in.data() + i, 1);
    same_as_whole(run_pieces(bytes));

    std::string_view all(in);
    for (std::size_t k = 0; k <= in.size(); ++k) {
      auto o = run_pieces({all.substr(0, k), all.substr(k)});
      // REQUIRE per split would flood the report: compare compactly, then assert.
      bool same = o.env_done && !o.env_error && !o.reply_error && o.env.variables == whole.env.variables &&
                  o.events.size() == reference.size();
      for (std::size_t i = 0; same && i < reference.size(); ++i) same = describe(o.events[i]) == reference[i];
      if (!same) FAIL("split at offset " << k << " differs");
    }
  }
}

TEST_CASE("agi-full-command-set: environment, reply kinds and typed decoding") {
  auto chunks = astra::test::load_fixture("agi/agi-full-command-set.jsonl");
  std::string in = astra::test::concat_direction(chunks, "in");
  auto out = run_pieces({in});
  REQUIRE(out.env_done);

  const auto& env = out.env;
  CHECK(env.channel() == "Local/agi@default-0000002e;2");
  CHECK(env.uniqueid() == "1795452521.93");
  CHECK(env.caller_id() == "5551234");
  CHECK(env.caller_id_name() == "Caller");
  CHECK(env.version() == "22.11.0-rc1");
  CHECK(env.account_code().empty());
  CHECK(env.get("accountcode") == std::optional<std::string_view>(""));
  CHECK(env.get("agi_network") == std::optional<std::string_view>("yes"));
  CHECK(env.get("agi_nosuch") == std::nullopt);
  CHECK_FALSE(env.enhanced());
  CHECK(env.request == "agi://127.0.0.1:4573/ivr/menu?lang=en&tries=3");
  CHECK(env.script == "ivr/menu?lang=en&tries=3");
  CHECK(env.script_path == "/ivr/menu");
  CHECK(env.query_string == "lang=en&tries=3");
  CHECK(env.param("lang") == std::optional<std::string_view>("en"));
  CHECK(env.param("tries") == std::optional<std::string_view>("3"));
  REQUIRE(env.args == std::vector<std::string>{"first arg", "second"});
  CHECK(env.variables.size() == 24);
  CHECK(env.variables.front().first == "agi_network");
  CHECK(env.variables.back() == std::pair<std::string, std::string>{"agi_arg_2", "second"});

  auto commands = split_lines_keep_lf(astra::test::concat_direction(chunks, "out"));
  REQUIRE(commands.size() == 51);
  int trailing = 0;
  auto xs = pair_up(commands, out.events, trailing);
  CHECK(trailing == 0);

  int provisionals = 0, hangups = 0;
  for (const auto& x : xs) {
    provisionals += x.provisionals;
    hangups += x.hangups_before;
  }
  CHECK(provisionals == 1);
  CHECK(hangups == 1);

  const auto& gosub = find_exchange(xs, "GOSUB subs sub 1 \"myarg\"\n");
  CHECK(gosub.provisionals == 1);
  CHECK(gosub.final.text == "Gosub complete");
  CHECK(decode_status(gosub.final).ok());

  const auto& after_hangup = find_exchange(xs, "VERBOSE \"after hangup\" 1\n");
  CHECK(after_hangup.hangups_before == 1);
  CHECK(decode_flag(after_hangup.final).ok());

  CHECK(check_reply(find_exchange(xs, "FOO BAR\n").final).code() == agi_errc::invalid_command);
  const auto& usage = find_exchange(xs, "GET DATA\n").final;
  CHECK(usage.code == 520);
  CHECK(usage.text == "Invalid command syntax.  Proper usage not available.");
  CHECK(check_reply(usage).code() == agi_errc::usage_error);

  auto get_data = decode_get_data(find_exchange(xs, "GET DATA beep 100 2\n").final);
  REQUIRE(get_data.ok());
  CHECK(get_data->timed_out);
  CHECK(get_data->digits.empty());

  auto stream = decode_stream_file(find_exchange(xs, "STREAM FILE beep \"\"\n").final);
  REQUIRE(stream.ok());
  CHECK_FALSE(stream->digit);
  CHECK(stream->endpos == 3520);
  CHECK(decode_stream_file(find_exchange(xs, "STREAM FILE no-such-file \"\"\n").final).code() ==
        agi_errc::command_failed);
  auto control = decode_control_stream_file(find_exchange(xs, "CONTROL STREAM FILE beep \"\"\n").final);
  REQUIRE(control.ok());
  CHECK(control->endpos == -1);
  auto option = decode_get_option(find_exchange(xs, "GET OPTION beep \"12\" 100\n").final);
  REQUIRE(option.ok());
  CHECK(option->endpos == 3520);

  auto wait = decode_wait_for_digit(find_exchange(xs, "WAIT FOR DIGIT 100\n").final);
  REQUIRE(wait.ok());
  CHECK_FALSE(*wait);

  auto callerid = decode_get_variable(find_exchange(xs, "GET VARIABLE CALLERID(num)\n").final);
  REQUIRE(callerid.ok());
  CHECK(*callerid == std::optional<std::string>("5551234"));
  CHECK(*decode_get_variable(find_exchange(xs, "GET VARIABLE NO_SUCH_VAR\n").final) == std::nullopt);
  CHECK(*decode_get_full_variable(find_exchange(xs, "GET FULL VARIABLE \"${ASTRA_RESULT}-${EXTEN}\"\n").final) ==
        std::optional<std::string>("ok fine-agi"));
  CHECK(*decode_database_get(find_exchange(xs, "DATABASE GET astra agi\n").final) ==
        std::optional<std::string>("v 1"));
  CHECK(*decode_database_get(find_exchange(xs, "DATABASE GET astra nokey\n").final) == std::nullopt);

  auto status = decode_channel_status(find_exchange(xs, "CHANNEL STATUS\n").final);
  REQUIRE(status.ok());
  CHECK(*status == channel_state::up);
  CHECK(to_string(*status) == "up");

  auto exec_ok = decode_exec(find_exchange(xs, "EXEC Wait 0.1\n").final);
  REQUIRE(exec_ok.ok());
  CHECK(exec_ok->code == 0);
  CHECK(decode_exec(find_exchange(xs, "EXEC NoSuchApp x\n").final).code() == agi_errc::application_not_found);

  auto rchar = find_exchange(xs, "RECEIVE CHAR 100\n").final;
  CHECK(rchar.data == std::optional<std::string>("hangup"));
  CHECK(decode_receive_char(rchar).code() == agi_errc::command_failed);

  auto record = decode_record_file(find_exchange(xs, "RECORD FILE /tmp/astra-rec gsm \"#\" 500 0 BEEP s=1\n").final);
  REQUIRE(record.ok());
  CHECK(record->reason == "timeout");
  CHECK(record->endpos == 0);
  CHECK_FALSE(record->digit);

  auto speech = decode_flag(find_exchange(xs, "SPEECH CREATE nosuchengine\n").final);
  REQUIRE(speech.ok());
  CHECK_FALSE(*speech);

  // Every final reply decodes with its command's typed decoder without a format error.
  for (const auto& x : xs) {
    INFO(x.command);
    auto parsed = parse_command_line(x.command);
    auto ec = decode_by_verb(parsed.verb, x.final);
    CHECK(ec != agi_errc::malformed_reply);
  }
}

TEST_CASE("agi-hangup-mid-session: HANGUP, then 511 for live-channel commands, 200 for dead-capable ones") {
  auto chunks = astra::test::load_fixture("agi/agi-hangup-mid-session.jsonl");
  std::string in = astra::test::concat_direction(chunks, "in");
  auto out = run_pieces({in});
  REQUIRE(out.env_done);
  CHECK(out.env.uniqueid() == "1795452401.87");
  CHECK(out.env.script_path == "/ivr/menu");
  auto commands = split_lines_keep_lf(astra::test::concat_direction(chunks, "out"));
  int trailing = 0;
  auto xs = pair_up(commands, out.events, trailing);
  CHECK(trailing == 0);

  const auto& wait = find_exchange(xs, "WAIT FOR DIGIT 100\n");
  CHECK(wait.hangups_before == 1);
  CHECK(check_reply(wait.final).code() == agi_errc::hung_up);

  std::size_t hung_up = 0;
  bool dead_seen = false;
  for (const auto& x : xs) {
    INFO(x.command);
    dead_seen = dead_seen || x.hangups_before > 0;
    auto parsed = parse_command_line(x.command);
    if (x.final.code == 511) {
      ++hung_up;
      CHECK(x.final.text == "Command Not Permitted on a dead channel or intercept routine");
      CHECK(decode_by_verb(parsed.verb, x.final) == agi_errc::hung_up);
      // The catalog agrees with Asterisk: a command answered 511 is not dead-capable.
      REQUIRE(parsed.spec != nullptr);
      CHECK_FALSE(parsed.spec->dead_channel_ok);
    } else if (dead_seen && parsed.spec) {
      // Answered after the hangup: Asterisk ran it on the dead channel.
      CHECK(parsed.spec->dead_channel_ok);
    }
  }
  CHECK(hung_up == count_lines(in, "511 "));
  CHECK(hung_up == 20);
}

TEST_CASE("agi-autohangup: HANGUP between a command and its reply") {
  auto chunks = astra::test::load_fixture("agi/agi-autohangup.jsonl");
  std::string in = astra::test::concat_direction(chunks, "in");
  auto out = run_pieces({in});
  REQUIRE(out.env_done);
  CHECK(out.env.script == "hang");
  CHECK(out.env.script_path == "/hang");
  CHECK(out.env.query.empty());
  CHECK(out.env.args.empty());
  CHECK(out.env.caller_id() == "unknown");
  auto commands = split_lines_keep_lf(astra::test::concat_direction(chunks, "out"));
  int trailing = 0;
  auto xs = pair_up(commands, out.events, trailing);
  REQUIRE(xs.size() == 4);
  CHECK(xs[2].command == "VERBOSE \"after autohangup\" 1\n");
  CHECK(xs[2].hangups_before == 1);
  CHECK(xs[2].final.raw == "200 result=1");
  CHECK(xs[3].hangups_before == 0);
}

TEST_CASE("every recorded command line is re-produced byte-exactly by format_command") {
  std::size_t lines = 0;
  for (const auto& name : astra::test::list_fixtures("agi")) {
    auto chunks = astra::test::load_fixture(name);
    for (const auto& line : split_lines_keep_lf(astra::test::concat_direction(chunks, "out"))) {
      INFO(name << ": " << line);
      auto parsed = parse_command_line(line);
      auto formatted = format_command(parsed.verb, std::span<const command_arg>(parsed.args));
      REQUIRE(formatted.ok());
      CHECK(*formatted == line);
      if (line != "FOO BAR\n") CHECK(parsed.spec != nullptr);
      ++lines;
    }
  }
  CHECK(lines == 51 + 51 + 4);
}

TEST_CASE("typed builders re-produce recorded command lines") {
  using namespace std::chrono_literals;
  std::set<std::string> recorded;
  for (const auto& name : astra::test::list_fixtures("agi"))
    for (const auto& line : split_lines_keep_lf(astra::test::concat_direction(astra::test::load_fixture(name), "out")))
      recorded.insert(line);

  std::vector<astra::result<std::string>> built = {
      cmd::answer(),
      cmd::get_variable("CALLERID(num)"),
      cmd::set_variable("ASTRA_RESULT", "ok fine"),
      cmd::get_full_variable("${ASTRA_RESULT}-${EXTEN}"),
      cmd::channel_status(),
      cmd::database_put("astra", "agi", "v 1"),
      cmd::database_get("astra", "nokey"),
      cmd::database_del("astra", "agi"),
      cmd::database_deltree("astra"),
      cmd::verbose("hello from agi", 1),
      cmd::stream_file("beep", ""),
      cmd::stream_file("no-such-file", ""),
      cmd::say_number("42", ""),
      cmd::say_digits("123", "#"),
      cmd::say_alpha("abc", ""),
      cmd::say_phonetic("ab", ""),
      cmd::say_date(0, ""),
      cmd::say_time(0, ""),
      cmd::say_datetime(0, "", std::nullopt, "UTC"),
      cmd::get_data("beep", 100ms, 2),
      cmd::wait_for_digit(100ms),
      cmd::get_option("beep", "12", 100ms),
      cmd::control_stream_file("beep", ""),
      cmd::exec("Wait", "0.1"),
      cmd::exec("NoSuchApp", "x"),
      cmd::exec("Set", "X=1,2"),
      cmd::receive_char(100ms),
      cmd::receive_text(100ms),
      cmd::send_text("hello"),
      cmd::send_image("foo"),
      cmd::tdd_mode("off"),
      cmd::set_music(true, "default"),
      cmd::set_music(false),
      cmd::set_callerid("Astra <123>"),
      cmd::record_file("/tmp/astra-rec", "gsm", "#", 500ms, 0, true, 1s),
      cmd::gosub("subs", "sub", "1", "myarg"),
      cmd::gosub("default", "wait", "1"),
      cmd::set_autohangup(0s),
      cmd::set_autohangup(1s),
      cmd::asyncagi_break(),
      cmd::speech_create("nosuchengine"),
      cmd::set_context("default"),
      cmd::set_extension("wait"),
      cmd::set_priority("1"),
      cmd::hangup(),
      cmd::verbose("after hangup", 1),
      cmd::noop(),
  };
  for (const auto& b : built) {
    REQUIRE(b.ok());
    INFO(*b);
    CHECK(recorded.count(*b) == 1);
  }
  CHECK(built.size() >= 45);
}
