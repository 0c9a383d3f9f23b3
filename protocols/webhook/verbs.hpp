#pragma once
// The webhook protocol's verbs (docs/webhooks.md): what a user's web app answers to call.start
// and verb.result, `{"verbs": [{"answer": {}}, {"play": {"file": "hello"}}, ...]}`. Sans-IO:
// bytes in, a verb list or a specific error out; never throws, never crashes.
//
// Each verb is a JSON object with exactly one key, the verb's name, whose value is an object
// of its arguments (unknown argument keys are errors: a typo must not pass silently).
// Durations are strings in the configuration's syntax ("5s", "250ms", "1m") or numbers of
// seconds (fractions allowed).
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/common/result.hpp"
#include "protocols/webhook/errors.hpp"

namespace astra::webhook {

using millis = std::chrono::milliseconds;

// Limits of one reply (what astra accepts from the user's app).
inline constexpr std::size_t max_verbs = 64;             // verbs per reply
inline constexpr std::size_t max_json_depth = 16;        // nesting of the reply document
inline constexpr std::size_t max_text_bytes = 512;       // a file name, endpoint, variable value ...
inline constexpr std::size_t max_variables = 64;         // set / get
inline constexpr std::size_t max_gather_digits = 128;
inline constexpr millis max_duration{std::chrono::hours(1)};

struct answer {};
struct play {
  std::string file;              // sound file(s) as Asterisk names them ("hello-world"; ARI: "sound:" added)
  std::string interrupt_digits;  // DTMF that stops the playback (kept as type-ahead for a gather)
};
struct say {
  enum class kind { digits, number, characters };
  kind what = kind::digits;
  std::string text;
  std::string interrupt_digits;
};
struct gather {
  std::string play;  // optional prompt (typing during it counts)
  std::size_t max_digits = 1;
  millis timeout{5'000};                // for the first digit (after the prompt)
  millis inter_digit_timeout{3'000};    // between digits
  std::string finish_on = "#";          // digits that end the input (not part of it)
  std::string action;                   // POST verb.result here; "" = go on with the list
};
struct record {
  std::string file;
  std::string format = "wav";
  millis max_duration{60'000};  // "max_seconds"
  millis max_silence{0};        // 0 = none
  bool beep = true;
  std::string action;
};
struct set {
  std::map<std::string, std::string> variables;
};
struct get {
  std::vector<std::string> variables;
  std::string action;
};
struct dial {
  std::string endpoint;  // "PJSIP/alice"
  millis timeout{30'000};
  std::string caller_id;
  std::string action;
};
struct pause {
  millis duration{1'000};  // "seconds"
};
struct continue_ {
  std::string context, extension;
  std::string priority;  // "1" or a label; "" = 1
};
struct hangup {
  std::string cause;  // Q.850 number ("17") or "" (normal clearing)
};
struct redirect {
  std::string url;
};

using verb = std::variant<answer, play, say, gather, record, set, get, dial, pause, continue_, hangup, redirect>;

// The verb's wire name ("answer", "continue", ...).
std::string_view name_of(const verb& v) noexcept;
// The verb's `action` URL ("" when none or the verb has no action argument).
std::string_view action_of(const verb& v) noexcept;
// Every verb name, in the order of the variant.
const std::vector<std::string_view>& verb_names();

// A reply body: `{"verbs": [...]}` (other top-level keys are ignored).
result<std::vector<verb>> decode_reply(std::string_view body);
// A verb list as JSON text: `[{"answer": {}}, ...]` (the configuration's fallback).
result<std::vector<verb>> decode_list(std::string_view json_array);

// "5s", "250ms", "1m", "1.5s" or a number of seconds as text ("2", "0.5").
result<millis> parse_duration(std::string_view text);

}  // namespace astra::webhook
