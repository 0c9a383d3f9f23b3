#pragma once
// FastAGI commands: the writer (format_command), Asterisk's tokenizer (for tests and logging),
// the command catalog generated from Asterisk 22's documentation, and pure decoders that turn a
// reply into a typed result. Typed builders, one per command, are in generated/agi_commands.hpp
// (included at the end of this header; namespace astra::agi::cmd).
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/errors.hpp"
#include "protocols/agi/limits.hpp"
#include "protocols/agi/reply.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi {

// ---------------------------------------------------------------- writer

// One argument of a command line. always_quote forces "..." even when the value needs none
// (cosmetic: Asterisk parses both the same; used for escape digits and free text so that lines
// read like the usual FastAGI libraries' and the recorded sessions).
struct command_arg {
  std::string value;
  bool always_quote = false;
};

// True when `value` must be (or, by our policy, is better) quoted: empty; contains space, tab,
// '"' or '\\' (meaningful to Asterisk's parse_args); or contains one of ,$|{}[]'; (dialplan
// syntax, quoted for readability).
bool needs_quotes(std::string_view value) noexcept;

// Appends `value` to `out` as one argument for Asterisk's parse_args (res_agi.c): quoted when
// needs_quotes() or always_quote, with '"' and '\\' escaped by a backslash.
void append_argument(std::string& out, std::string_view value, bool always_quote = false);

// "VERB arg1 arg2\n": `verb` written as given (e.g. "STREAM FILE"), each argument by
// append_argument, LF-terminated (Asterisk answers 510 to a CR).
// Errors: invalid_argument (CR, LF or NUL in the verb or an argument), too_many_arguments
// (more than max_command_words words), line_too_long (more than max_command_line_bytes bytes).
astra::result<std::string> format_command(std::string_view verb, std::span<const std::string> args);
astra::result<std::string> format_command(std::string_view verb, std::span<const command_arg> args);
astra::result<std::string> format_command(std::string_view verb, std::initializer_list<std::string_view> args);

// Asterisk's tokenizer (res_agi.c parse_args): words split on unquoted, unescaped space/tab;
// '"' toggles quoting; '\\' makes the next character literal. `quoted` records whether a word
// contained a quote character (so a writer can reproduce the line). Accepts a line with or
// without its final LF. Words beyond max_command_words are kept (Asterisk would drop them).
struct command_token {
  std::string value;
  bool quoted = false;
};
std::vector<command_token> tokenize_command(std::string_view line);

// ---------------------------------------------------------------- catalog (generated)

struct command_param {
  std::string_view name;  // as documented ("escape_digits", "sample offset", "s=silence")
  bool required;
};

struct command_spec {
  std::string_view name;   // lower case, as documented: "stream file"
  std::string_view verb;   // as written on the wire: "STREAM FILE"
  std::size_t words;       // words in the name (2 for "stream file")
  std::span<const command_param> params;
  // Asterisk runs it after the channel hung up (res_agi.c commands[] `dead` flag; app_stack.c
  // registers gosub with 0); otherwise it answers 511.
  bool dead_channel_ok;
};

// All 47 commands of Asterisk 22, in documentation order.
std::span<const command_spec> all_commands() noexcept;
// Case-insensitive lookup by name ("stream file", "STREAM FILE", "Stream  File" is not found).
const command_spec* find_command(std::string_view name) noexcept;
// The command whose words start `tokens` (longest match, case-insensitive), as Asterisk's
// find_command does; nullptr when unknown (Asterisk answers 510).
const command_spec* match_command(std::span<const command_token> tokens) noexcept;

// A command line split into its catalog verb and arguments (quoted flags kept). For an unknown
// command every token is part of the verb. Used to log and to re-format recorded lines.
struct parsed_command {
  const command_spec* spec = nullptr;
  std::string verb;                   // the tokens of the command name joined by ' ', as sent
  std::vector<command_arg> args;
};
parsed_command parse_command_line(std::string_view line);

// ---------------------------------------------------------------- decoders (pure)

// 200 -> the reply; 510 -> invalid_command; 511 -> hung_up; 520 -> usage_error (detail: usage);
// anything else (including a provisional 100) -> malformed_reply.
astra::result<reply> check_reply(const reply& r);

// check_reply + the integer result (any value). malformed_reply when result is not an integer.
astra::result<long> decode_result(const reply& r);
// check_reply + result >= 0 (ANSWER, GOSUB, HANGUP, SEND TEXT, SET *, ...); -1 -> command_failed
// (detail: the reply's text, e.g. "Gosub label not found").
astra::result<void> decode_status(const reply& r);
// check_reply + result 1 -> true, 0 -> false, negative -> command_failed
// (SPEECH CREATE/SET/LOAD GRAMMAR..., TDD MODE, SET CALLERID, VERBOSE).
astra::result<bool> decode_flag(const reply& r);

// GET DATA: "200 result=<digits>[ (timeout)]"; result=-1 -> command_failed (hangup or error).
struct get_data_result {
  std::string digits;      // possibly empty
  bool timed_out = false;  // Asterisk appended "(timeout)"
};
astra::result<get_data_result> decode_get_data(const reply& r);

// STREAM FILE / CONTROL STREAM FILE / GET OPTION: "200 result=<ascii digit or 0> endpos=<n>";
// result=-1 -> command_failed (missing file, hangup). endpos is required.
struct stream_result {
  std::optional<char> digit;  // the DTMF digit that interrupted playback
  long endpos = 0;            // sample offset where playback stopped (-1: CONTROL STREAM FILE end)
};
astra::result<stream_result> decode_stream_file(const reply& r);
inline astra::result<stream_result> decode_control_stream_file(const reply& r) { return decode_stream_file(r); }
inline astra::result<stream_result> decode_get_option(const reply& r) { return decode_stream_file(r); }

// WAIT FOR DIGIT / SAY *: "200 result=<ascii digit or 0>": nullopt on timeout / no digit;
// result=-1 -> command_failed.
astra::result<std::optional<char>> decode_digit(const reply& r);
inline astra::result<std::optional<char>> decode_wait_for_digit(const reply& r) { return decode_digit(r); }
inline astra::result<std::optional<char>> decode_say(const reply& r) { return decode_digit(r); }

// RECEIVE CHAR: "200 result=<ascii>" or "200 result=0 (timeout)"; -1 -> command_failed.
astra::result<std::optional<char>> decode_receive_char(const reply& r);
// RECEIVE TEXT: "200 result=1 (<text>)"; -1 -> command_failed.
astra::result<std::string> decode_receive_text(const reply& r);

// GET VARIABLE / GET FULL VARIABLE / DATABASE GET: "200 result=1 (<value>)" -> value,
// "200 result=0" -> nullopt (not set / no such key).
astra::result<std::optional<std::string>> decode_value(const reply& r);
inline astra::result<std::optional<std::string>> decode_get_variable(const reply& r) { return decode_value(r); }
inline astra::result<std::optional<std::string>> decode_get_full_variable(const reply& r) { return decode_value(r); }
inline astra::result<std::optional<std::string>> decode_database_get(const reply& r) { return decode_value(r); }

// CHANNEL STATUS: "200 result=<0..9>" (Asterisk's ast_channel_state); -1 -> command_failed.
enum class channel_state {
  down = 0, reserved, off_hook, dialing, ring, ringing, up, busy, dialing_offhook, pre_ring
};
std::string_view to_string(channel_state s) noexcept;
astra::result<channel_state> decode_channel_status(const reply& r);

// EXEC: "200 result=<application's return>"; -2 -> application_not_found.
struct exec_result {
  long code = 0;  // what the application returned (-1 usually means the channel hung up)
};
astra::result<exec_result> decode_exec(const reply& r);

// RECORD FILE: "200 result=<r> (<reason>) endpos=<n>". The recording is kept when the caller
// hangs up, so "result=-1 (hangup)" is a value (reason "hangup"); any other negative result
// ("(writefile)", "(randomerror)") -> command_failed.
struct record_result {
  long result = 0;
  std::optional<char> digit;  // the escape digit that ended the recording (reason "dtmf")
  std::string reason;         // "timeout", "dtmf", "hangup", "randomerror", "writefile", ... or ""
  long endpos = 0;
};
astra::result<record_result> decode_record_file(const reply& r);

// SPEECH RECOGNIZE: "200 result=1 (speech) endpos=<n> results=<k> score0=.. text0=".." grammar0=..",
// "(digit) digit=<c> endpos=<n>", "(timeout|hangup) endpos=<n>", or "200 result=0 endpos=<n>".
struct speech_match {
  long score = 0;
  std::string text;
  std::string grammar;
};
struct speech_result {
  enum class outcome { speech, dtmf, timeout, hangup, nothing } how = outcome::nothing;
  std::optional<char> digit;
  long endpos = 0;
  std::vector<speech_match> matches;
};
astra::result<speech_result> decode_speech_recognize(const reply& r);

}  // namespace astra::agi

#include "generated/agi_commands.hpp"
