// Pure decoders from a parsed reply to typed results (see protocols/agi/command.hpp).
#include <charconv>

#include "protocols/agi/command.hpp"

namespace astra::agi {
namespace {

astra::failure fail(agi_errc code, const reply& r) { return astra::failure{make_error_code(code), r.raw}; }

std::optional<long> to_long(std::string_view s) {
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// A digit result: the ASCII code of the DTMF key (0 = none).
astra::result<std::optional<char>> digit_of(long code, const reply& r) {
  if (code == 0) return std::optional<char>{};
  if (code < 0) return fail(agi_errc::command_failed, r);
  if (code > 127) return fail(agi_errc::malformed_reply, r);
  return std::optional<char>(static_cast<char>(code));
}

}  // namespace

std::string_view to_string(channel_state s) noexcept {
  switch (s) {
    case channel_state::down: return "down";
    case channel_state::reserved: return "reserved";
    case channel_state::off_hook: return "off_hook";
    case channel_state::dialing: return "dialing";
    case channel_state::ring: return "ring";
    case channel_state::ringing: return "ringing";
    case channel_state::up: return "up";
    case channel_state::busy: return "busy";
    case channel_state::dialing_offhook: return "dialing_offhook";
    case channel_state::pre_ring: return "pre_ring";
  }
  return "unknown";
}

astra::result<reply> check_reply(const reply& r) {
  switch (r.code) {
    case 200: return r;
    case 510: return fail(agi_errc::invalid_command, r);
    case 511: return fail(agi_errc::hung_up, r);
    case 520: {
      std::string detail = r.raw;
      return astra::failure{make_error_code(agi_errc::usage_error), std::move(detail)};
    }
    default: return fail(agi_errc::malformed_reply, r);
  }
}

astra::result<long> decode_result(const reply& r) {
  auto ok = check_reply(r);
  if (!ok) return ok.error();
  auto v = r.result_int();
  if (!v) return fail(agi_errc::malformed_reply, r);
  return *v;
}

astra::result<void> decode_status(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v < 0) return fail(agi_errc::command_failed, r);
  return {};
}

astra::result<bool> decode_flag(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v < 0) return fail(agi_errc::command_failed, r);
  return *v > 0;
}

astra::result<get_data_result> decode_get_data(const reply& r) {
  auto ok = check_reply(r);
  if (!ok) return ok.error();
  if (r.result == "-1") return fail(agi_errc::command_failed, r);
  get_data_result out;
  out.timed_out = r.data && *r.data == "timeout";
  for (char c : r.result) {
    bool dtmf = (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D') || (c >= 'a' && c <= 'd');
    if (!dtmf) return fail(agi_errc::malformed_reply, r);
  }
  out.digits = r.result;
  return out;
}

astra::result<stream_result> decode_stream_file(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  auto digit = digit_of(*v, r);
  if (!digit) return digit.error();
  auto endpos = r.extra("endpos");
  auto pos = endpos ? to_long(*endpos) : std::nullopt;
  if (!pos) return fail(agi_errc::malformed_reply, r);
  return stream_result{*digit, *pos};
}

astra::result<std::optional<char>> decode_digit(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  return digit_of(*v, r);
}

astra::result<std::optional<char>> decode_receive_char(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (r.data && *r.data == "timeout") return std::optional<char>{};
  return digit_of(*v, r);
}

astra::result<std::string> decode_receive_text(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v < 0) return fail(agi_errc::command_failed, r);
  return r.data ? *r.data : std::string{};
}

astra::result<std::optional<std::string>> decode_value(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v == 0) return std::optional<std::string>{};
  if (*v != 1) return fail(agi_errc::command_failed, r);
  return std::optional<std::string>(r.data ? *r.data : std::string{});
}

astra::result<channel_state> decode_channel_status(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v < 0) return fail(agi_errc::command_failed, r);
  if (*v > static_cast<long>(channel_state::pre_ring)) return fail(agi_errc::malformed_reply, r);
  return static_cast<channel_state>(*v);
}

astra::result<exec_result> decode_exec(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v == -2) return fail(agi_errc::application_not_found, r);
  return exec_result{*v};
}

astra::result<record_result> decode_record_file(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  record_result out;
  out.result = *v;
  out.reason = r.data ? *r.data : std::string{};
  if (out.reason == "dtmf" && *v > 0 && *v < 128) out.digit = static_cast<char>(*v);
  if (auto endpos = r.extra("endpos")) {
    auto pos = to_long(*endpos);
    if (!pos) return fail(agi_errc::malformed_reply, r);
    out.endpos = *pos;
  } else if (*v >= 0 && r.data) {
    return fail(agi_errc::malformed_reply, r);
  }
  // On hangup Asterisk keeps what was recorded (result -1, reason "hangup"); any other negative
  // result ("writefile", "randomerror", no reason) is a failure.
  if (*v < 0 && out.reason != "hangup") return fail(agi_errc::command_failed, r);
  return out;
}

astra::result<speech_result> decode_speech_recognize(const reply& r) {
  auto v = decode_result(r);
  if (!v) return v.error();
  if (*v < 0) return fail(agi_errc::command_failed, r);
  speech_result out;
  if (auto endpos = r.extra("endpos")) {
    auto pos = to_long(*endpos);
    if (!pos) return fail(agi_errc::malformed_reply, r);
    out.endpos = *pos;
  }
  std::string_view how = r.data ? std::string_view(*r.data) : std::string_view{};
  if (how == "speech") {
    out.how = speech_result::outcome::speech;
    auto count = r.extra("results");
    auto n = count ? to_long(*count) : std::nullopt;
    if (!n || *n < 0 || *n > 1024) return fail(agi_errc::malformed_reply, r);
    for (long i = 0; i < *n; ++i) {
      auto idx = std::to_string(i);
      speech_match m;
      auto score = r.extra("score" + idx);
      auto text = r.extra("text" + idx);
      auto grammar = r.extra("grammar" + idx);
      auto score_value = score ? to_long(*score) : std::nullopt;
      if (!score_value || !text || !grammar) return fail(agi_errc::malformed_reply, r);
      m.score = *score_value;
      m.text.assign(*text);
      m.grammar.assign(*grammar);
      out.matches.push_back(std::move(m));
    }
  } else if (how == "digit") {
    out.how = speech_result::outcome::dtmf;
    auto d = r.extra("digit");
    if (!d || d->size() != 1) return fail(agi_errc::malformed_reply, r);
    out.digit = d->front();
  } else if (how == "timeout") {
    out.how = speech_result::outcome::timeout;
  } else if (how == "hangup") {
    out.how = speech_result::outcome::hangup;
  } else {
    out.how = speech_result::outcome::nothing;
  }
  return out;
}

}  // namespace astra::agi
