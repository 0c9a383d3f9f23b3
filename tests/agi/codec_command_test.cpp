// Command writer (quoting/escaping per res_agi.c parse_args, CR/LF refusal, limits), the
// tokenizer, the generated catalog and builders, and the decoders' edge cases.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "protocols/agi/command.hpp"

using namespace astra::agi;
using namespace std::chrono_literals;

TEST_CASE("format_command: quoting and escaping") {
  CHECK(*format_command("ANSWER", {}) == "ANSWER\n");
  CHECK(*format_command("STREAM FILE", {"beep", ""}) == "STREAM FILE beep \"\"\n");
  CHECK(*format_command("VERBOSE", {"hello world", "1"}) == "VERBOSE \"hello world\" 1\n");
  CHECK(*format_command("SET VARIABLE", {"X", "say \"hi\""}) == "SET VARIABLE X \"say \\\"hi\\\"\"\n");
  CHECK(*format_command("SET VARIABLE", {"X", "back\\slash"}) == "SET VARIABLE X \"back\\\\slash\"\n");
  CHECK(*format_command("SET VARIABLE", {"X", "tab\there"}) == "SET VARIABLE X \"tab\there\"\n");
  CHECK(*format_command("EXEC", {"Set", "X=1,2"}) == "EXEC Set \"X=1,2\"\n");
  CHECK(*format_command("GET VARIABLE", {"CALLERID(num)"}) == "GET VARIABLE CALLERID(num)\n");
  CHECK(*format_command("GET FULL VARIABLE", {"${EXTEN}"}) == "GET FULL VARIABLE \"${EXTEN}\"\n");
  std::vector<command_arg> forced = {{"hello", true}, {"x", false}};
  CHECK(*format_command("SEND TEXT", std::span<const command_arg>(forced)) == "SEND TEXT \"hello\" x\n");
  std::vector<std::string> strings = {"a b", "c"};
  CHECK(*format_command("NOOP", std::span<const std::string>(strings)) == "NOOP \"a b\" c\n");
}

TEST_CASE("format_command: CR, LF and NUL are refused") {
  for (std::string_view bad : {std::string_view("a\nb"), std::string_view("a\rb"), std::string_view("\n"),
                               std::string_view("x\0y", 3)}) {
    auto r = format_command("VERBOSE", {bad, "1"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == agi_errc::invalid_argument);
    CHECK_FALSE(r.error().detail.empty());
  }
  CHECK(format_command("ANSWER\r", {}).code() == agi_errc::invalid_argument);
  CHECK(format_command("", {}).code() == agi_errc::invalid_argument);
  CHECK(cmd::verbose("two\nlines", 1).code() == agi_errc::invalid_argument);
  CHECK(cmd::set_variable("X", "a\r\nANSWER").code() == agi_errc::invalid_argument);
}

TEST_CASE("format_command: line length and word count limits") {
  std::string fits(max_command_line_bytes - std::string_view("NOOP \n").size(), 'x');
  auto ok = format_command("NOOP", {fits});
  REQUIRE(ok.ok());
  CHECK(ok->size() == max_command_line_bytes);
  auto too_long = format_command("NOOP", {fits + "x"});
  CHECK(too_long.code() == agi_errc::line_too_long);

  std::vector<std::string> args(max_command_words - 1, "a");
  CHECK(format_command("NOOP", std::span<const std::string>(args)).ok());
  args.push_back("a");
  CHECK(format_command("NOOP", std::span<const std::string>(args)).code() == agi_errc::too_many_arguments);
  std::vector<std::string> two_word(max_command_words - 2, "a");
  CHECK(format_command("SET VARIABLE", std::span<const std::string>(two_word)).ok());
  two_word.push_back("a");
  CHECK(format_command("SET VARIABLE", std::span<const std::string>(two_word)).code() ==
        agi_errc::too_many_arguments);
}

TEST_CASE("tokenize_command follows res_agi.c parse_args") {
  auto t = tokenize_command("SET VARIABLE X \"a b\" \"\" c\\ d \\\"q \"in\\\"side\" x\"y z\"w\n");
  REQUIRE(t.size() == 9);
  CHECK(t[0].value == "SET");
  CHECK(t[3].value == "a b");
  CHECK(t[3].quoted);
  CHECK(t[4].value.empty());
  CHECK(t[4].quoted);
  CHECK(t[5].value == "c d");
  CHECK_FALSE(t[5].quoted);
  CHECK(t[6].value == "\"q");
  CHECK_FALSE(t[6].quoted);
  CHECK(t[7].value == "in\"side");
  CHECK(t[8].value == "xy zw");
  CHECK(tokenize_command("  ANSWER  ").size() == 1);
  CHECK(tokenize_command("").empty());
  CHECK(tokenize_command("a\\\\b")[0].value == "a\\b");
  CHECK(tokenize_command("a\\nb")[0].value == "anb");  // backslash makes the next char literal
}

TEST_CASE("format_command and tokenize_command round-trip arbitrary arguments") {
  std::mt19937 rng(12345);
  const std::string alphabet = "ab \t\"\\,$x(){}=#'";
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::string> args(rng() % 5);
    for (auto& a : args) {
      std::size_t n = rng() % 8;
      for (std::size_t i = 0; i < n; ++i) a.push_back(alphabet[rng() % alphabet.size()]);
    }
    auto line = format_command("SET VARIABLE", std::span<const std::string>(args));
    REQUIRE(line.ok());
    auto tokens = tokenize_command(*line);
    REQUIRE(tokens.size() == args.size() + 2);
    for (std::size_t i = 0; i < args.size(); ++i) REQUIRE(tokens[i + 2].value == args[i]);
    auto parsed = parse_command_line(*line);
    REQUIRE(parsed.spec == find_command("set variable"));
    REQUIRE(parsed.args.size() == args.size());
  }
}

TEST_CASE("catalog: 47 commands with documented parameters and res_agi.c dead flags") {
  auto all = all_commands();
  REQUIRE(all.size() == 47);
  std::set<std::string_view> names;
  for (const auto& c : all) {
    names.insert(c.name);
    CHECK(c.words >= 1);
    CHECK(c.verb.size() == c.name.size());
  }
  CHECK(names.size() == 47);
  const auto* stream = find_command("STREAM FILE");
  REQUIRE(stream);
  CHECK(stream == find_command("stream file"));
  CHECK(stream->verb == "STREAM FILE");
  CHECK(stream->words == 2);
  REQUIRE(stream->params.size() == 3);
  CHECK(stream->params[0].name == "filename");
  CHECK(stream->params[0].required);
  CHECK(stream->params[1].name == "escape_digits");
  CHECK_FALSE(stream->params[2].required);
  CHECK_FALSE(find_command("stream"));
  CHECK_FALSE(find_command("foo bar"));

  std::set<std::string_view> dead_ok;
  for (const auto& c : all)
    if (c.dead_channel_ok) dead_ok.insert(c.name);
  CHECK(dead_ok == std::set<std::string_view>{"asyncagi break", "database del", "database deltree", "database get",
                                              "database put", "exec", "get full variable", "get variable", "noop",
                                              "set variable", "verbose", "speech destroy", "speech unload grammar"});
  CHECK(find_command("gosub")->params.size() == 4);
  CHECK(find_command("get full variable")->words == 3);

  auto tokens = tokenize_command("get FULL variable x");
  CHECK(match_command(tokens) == find_command("get full variable"));
  auto unknown = parse_command_line("FOO BAR \"a b\"\n");
  CHECK(unknown.spec == nullptr);
  CHECK(unknown.verb == "FOO");
  REQUIRE(unknown.args.size() == 2);
  CHECK(unknown.args[1].value == "a b");
}

TEST_CASE("builders: optional parameters and placeholders") {
  CHECK(*cmd::stream_file("beep", "", 800) == "STREAM FILE beep \"\" 800\n");
  CHECK(*cmd::control_stream_file("beep", "12", std::nullopt, std::nullopt, std::nullopt, std::nullopt, 1500ms) ==
        "CONTROL STREAM FILE beep \"12\" 3000 \"\" \"\" \"\" 1500\n");
  CHECK(*cmd::control_stream_file("beep", "", 5000ms, "#", "*") == "CONTROL STREAM FILE beep \"\" 5000 # *\n");
  CHECK(*cmd::record_file("f", "wav", "", -1ms) == "RECORD FILE f wav \"\" -1\n");
  CHECK(*cmd::record_file("f", "wav", "#", 5000ms, std::nullopt, false, 3s) == "RECORD FILE f wav \"#\" 5000 0 s=3\n");
  CHECK(*cmd::record_file("f", "wav", "#", 5000ms, std::nullopt, true) == "RECORD FILE f wav \"#\" 5000 0 BEEP\n");
  CHECK(*cmd::get_data("menu", std::nullopt, 4) == "GET DATA menu 0 4\n");
  CHECK(*cmd::get_data("menu") == "GET DATA menu\n");
  CHECK(*cmd::say_datetime(1700000000, "#", "IMp") == "SAY DATETIME 1700000000 \"#\" IMp\n");
  CHECK(*cmd::channel_status("PJSIP/a-1") == "CHANNEL STATUS PJSIP/a-1\n");
  CHECK(*cmd::exec("Answer") == "EXEC Answer\n");
  CHECK(*cmd::speech_recognize("prompt", 5000ms, 10) == "SPEECH RECOGNIZE prompt 5000 10\n");
  CHECK(*cmd::wait_for_digit(-1ms) == "WAIT FOR DIGIT -1\n");
  CHECK(*cmd::speech_load_grammar("yesno", "/var/lib/grammars/yesno.gram") ==
        "SPEECH LOAD GRAMMAR yesno /var/lib/grammars/yesno.gram\n");
  CHECK(*cmd::say_number("1000", "", "f") == "SAY NUMBER 1000 \"\" f\n");
}

TEST_CASE("decoders: edge cases") {
  auto r = [](std::string_view line) {
    auto p = parse_reply_line(line);
    REQUIRE(p.ok());
    return p.value();
  };
  auto digits = decode_get_data(r("200 result=123#"));
  REQUIRE(digits.ok());
  CHECK(digits->digits == "123#");
  CHECK_FALSE(digits->timed_out);
  auto partial = decode_get_data(r("200 result=12 (timeout)"));
  REQUIRE(partial.ok());
  CHECK(partial->digits == "12");
  CHECK(partial->timed_out);
  CHECK(decode_get_data(r("200 result=-1")).code() == agi_errc::command_failed);
  CHECK(decode_get_data(r("200 result=1x")).code() == agi_errc::malformed_reply);
  CHECK(decode_get_data(r("511 Command Not Permitted on a dead channel")).code() == agi_errc::hung_up);

  auto pressed = decode_stream_file(r("200 result=50 endpos=1234"));
  REQUIRE(pressed.ok());
  CHECK(pressed->digit == std::optional<char>('2'));
  CHECK(pressed->endpos == 1234);
  CHECK(decode_stream_file(r("200 result=0")).code() == agi_errc::malformed_reply);  // endpos missing

  CHECK(*decode_wait_for_digit(r("200 result=35")) == std::optional<char>('#'));
  CHECK(decode_wait_for_digit(r("200 result=-1")).code() == agi_errc::command_failed);
  CHECK(decode_wait_for_digit(r("200 result=300")).code() == agi_errc::malformed_reply);
  CHECK(*decode_receive_char(r("200 result=0 (timeout)")) == std::nullopt);
  CHECK(*decode_receive_char(r("200 result=65")) == std::optional<char>('A'));
  CHECK(*decode_receive_text(r("200 result=1 (hello there)")) == "hello there");

  CHECK(*decode_value(r("200 result=1 ()")) == std::optional<std::string>(""));
  CHECK(decode_value(r("200 result=")).code() == agi_errc::malformed_reply);
  CHECK(*decode_channel_status(r("200 result=4")) == channel_state::ring);
  CHECK(decode_channel_status(r("200 result=-1")).code() == agi_errc::command_failed);
  CHECK(decode_channel_status(r("200 result=10")).code() == agi_errc::malformed_reply);
  CHECK(decode_exec(r("200 result=-1"))->code == -1);
  CHECK(decode_exec(r("200 result=-2")).code() == agi_errc::application_not_found);

  auto rec = decode_record_file(r("200 result=35 (dtmf) endpos=8000"));
  REQUIRE(rec.ok());
  CHECK(rec->digit == std::optional<char>('#'));
  CHECK(rec->reason == "dtmf");
  CHECK(rec->endpos == 8000);
  auto rec_hangup = decode_record_file(r("200 result=-1 (hangup) endpos=4000"));
  REQUIRE(rec_hangup.ok());
  CHECK(rec_hangup->reason == "hangup");
  CHECK(decode_record_file(r("200 result=-1 (writefile)")).code() == agi_errc::command_failed);
  CHECK(decode_record_file(r("200 result=-1 (randomerror) endpos=0")).code() == agi_errc::command_failed);
  CHECK(decode_record_file(r("200 result=0 (timeout)")).code() == agi_errc::malformed_reply);
  CHECK(decode_record_file(r("200 result=-1")).code() == agi_errc::command_failed);

  CHECK(*decode_flag(r("200 result=1")));
  CHECK_FALSE(*decode_flag(r("200 result=0")));
  CHECK(decode_status(r("200 result=0")).ok());
  CHECK(decode_result(r("200 result=abc")).code() == agi_errc::malformed_reply);
  CHECK(check_reply(r("300 result=0")).code() == agi_errc::malformed_reply);
  CHECK(std::error_code(agi_errc::hung_up).message() == "channel hung up");
  CHECK(std::string(agi_category().name()) == "agi");
}
