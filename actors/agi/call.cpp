#include "actors/agi/call.hpp"

#include "actors/agi/router.hpp"

namespace astra::agi {

namespace {

using std::chrono::milliseconds;

astra::result<void> decode_void(const reply& r) { return decode_status(r); }

// The catalog entry of a command, looked up once per method (function-local static).
const command_spec& spec_of(std::string_view name) {
  const auto* spec = find_command(name);
  // The catalog is generated from the same documentation as these names: a miss is a build
  // defect, caught by the tests that call every method.
  static const command_spec unknown{"unknown", "UNKNOWN", 1, {}, false};
  return spec ? *spec : unknown;
}

void set_line(detail::command_slot& slot, astra::result<std::string> built) {
  if (built) {
    slot.line = std::move(*built);
  } else {
    slot.preset = built.error().code;
    slot.line = built.error().detail;
  }
}

milliseconds own(std::optional<milliseconds> t) { return t ? (t->count() < 0 ? milliseconds{-1} : *t) : milliseconds{0}; }

}  // namespace

call::call(const detail::core_settings& settings, std::shared_ptr<detail::call_transport> transport,
           const server_hooks* hooks, call_environment env, identity id)
    : core_(settings, std::move(transport), hooks, id.id), env_(std::move(env)), id_(std::move(id)) {}

std::string_view call::route_pattern() const noexcept { return id_.target ? std::string_view(id_.target->pattern) : std::string_view{}; }

std::optional<std::string_view> call::path_param(std::string_view name) const {
  for (const auto& [k, v] : id_.params)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

// A catalog-backed command: `name` is the catalog name, its dead-channel flag comes from it.
#define ASTRA_AGI_MAKE(T, name_literal, line_expr, decode, ...)                                    \
  do {                                                                                        \
    static const command_spec& spec = spec_of(name_literal);                                  \
    auto slot_ptr = std::make_unique<detail::command_slot>();                                 \
    auto& slot = *slot_ptr;                                                                   \
    set_line(slot, line_expr);                                                                \
    slot.name = spec.name;                                                                    \
    slot.dead_ok = spec.dead_channel_ok;                                                      \
    __VA_ARGS__;                                                                              \
    return command<T>(core_, std::move(slot_ptr), decode);                                    \
  } while (false)

command<reply> call::send_args(std::string_view verb, std::vector<std::string> args) {
  auto slot = std::make_unique<detail::command_slot>();
  set_line(*slot, format_command(verb, std::span<const std::string>(args)));
  const auto* spec = find_command(verb);
  slot->name = spec ? spec->name : std::string_view("raw");
  slot->dead_ok = spec ? spec->dead_channel_ok : false;
  return command<reply>(core_, std::move(slot), &check_reply);
}

command<void> call::answer() { ASTRA_AGI_MAKE(void, "answer", cmd::answer(), &decode_void); }
command<void> call::asyncagi_break() { ASTRA_AGI_MAKE(void, "asyncagi break", cmd::asyncagi_break(), &decode_void); }
command<channel_state> call::channel_status(std::optional<std::string_view> channel) {
  ASTRA_AGI_MAKE(channel_state, "channel status", cmd::channel_status(channel), &decode_channel_status);
}
command<stream_result> call::control_stream_file(std::string_view file, std::string_view escape_digits,
                                                 std::optional<milliseconds> skip, std::optional<std::string_view> ff_char,
                                                 std::optional<std::string_view> rew_char,
                                                 std::optional<std::string_view> pause_char,
                                                 std::optional<milliseconds> offset) {
  ASTRA_AGI_MAKE(stream_result, "control stream file",
                 cmd::control_stream_file(file, escape_digits, skip, ff_char, rew_char, pause_char, offset),
                 &decode_control_stream_file, slot.minus_one_ambiguous = true);
}
command<bool> call::database_del(std::string_view family, std::string_view key) {
  ASTRA_AGI_MAKE(bool, "database del", cmd::database_del(family, key), &decode_flag);
}
command<bool> call::database_deltree(std::string_view family, std::optional<std::string_view> keytree) {
  ASTRA_AGI_MAKE(bool, "database deltree", cmd::database_deltree(family, keytree), &decode_flag);
}
command<std::optional<std::string>> call::database_get(std::string_view family, std::string_view key) {
  ASTRA_AGI_MAKE(std::optional<std::string>, "database get", cmd::database_get(family, key), &decode_database_get);
}
command<bool> call::database_put(std::string_view family, std::string_view key, std::string_view value) {
  ASTRA_AGI_MAKE(bool, "database put", cmd::database_put(family, key, value), &decode_flag);
}
command<exec_result> call::exec(std::string_view application, std::optional<std::string_view> options) {
  ASTRA_AGI_MAKE(exec_result, "exec", cmd::exec(application, options), &decode_exec, slot.long_running = true);
}
command<get_data_result> call::get_data(std::string_view file, std::optional<milliseconds> timeout,
                                        std::optional<long> max_digits) {
  // The timeout applies to each digit: the whole command may take max_digits times as long.
  auto per_digit = own(timeout);
  auto whole = per_digit.count() > 0 ? per_digit * std::max<long>(1, max_digits.value_or(1)) : per_digit;
  ASTRA_AGI_MAKE(get_data_result, "get data", cmd::get_data(file, timeout, max_digits), &decode_get_data,
                 slot.own_timeout = whole, slot.minus_one_is_hangup = true);
}
command<std::optional<std::string>> call::get_full_variable(std::string_view expression,
                                                            std::optional<std::string_view> channel) {
  ASTRA_AGI_MAKE(std::optional<std::string>, "get full variable", cmd::get_full_variable(expression, channel),
                 &decode_get_full_variable);
}
command<stream_result> call::get_option(std::string_view file, std::string_view escape_digits,
                                        std::optional<milliseconds> timeout) {
  ASTRA_AGI_MAKE(stream_result, "get option", cmd::get_option(file, escape_digits, timeout), &decode_get_option,
                 slot.own_timeout = own(timeout), slot.minus_one_ambiguous = true);
}
command<std::optional<std::string>> call::get_variable(std::string_view name) {
  ASTRA_AGI_MAKE(std::optional<std::string>, "get variable", cmd::get_variable(name), &decode_get_variable);
}
command<void> call::gosub(std::string_view context, std::string_view extension, std::string_view priority,
                          std::optional<std::string_view> arguments) {
  ASTRA_AGI_MAKE(void, "gosub", cmd::gosub(context, extension, priority, arguments), &decode_void,
                 slot.long_running = true);
}
command<void> call::hangup(std::optional<std::string_view> channel) {
  ASTRA_AGI_MAKE(void, "hangup", cmd::hangup(channel), &decode_void);
}
command<void> call::noop() { ASTRA_AGI_MAKE(void, "noop", cmd::noop(), &decode_void); }
command<std::optional<char>> call::receive_char(milliseconds timeout) {
  ASTRA_AGI_MAKE(std::optional<char>, "receive char", cmd::receive_char(timeout), &decode_receive_char,
                 slot.own_timeout = timeout.count() == 0 ? milliseconds{-1} : own(timeout));
}
command<std::string> call::receive_text(milliseconds timeout) {
  ASTRA_AGI_MAKE(std::string, "receive text", cmd::receive_text(timeout), &decode_receive_text,
                 slot.own_timeout = timeout.count() == 0 ? milliseconds{-1} : own(timeout));
}
command<record_result> call::record_file(std::string_view file, std::string_view format, std::string_view escape_digits,
                                         milliseconds timeout, std::optional<long> offset_samples, bool beep,
                                         std::optional<std::chrono::seconds> silence) {
  ASTRA_AGI_MAKE(record_result, "record file",
                 cmd::record_file(file, format, escape_digits, timeout, offset_samples, beep, silence),
                 &decode_record_file, slot.own_timeout = own(timeout));
}
command<std::optional<char>> call::say_alpha(std::string_view text, std::string_view escape_digits) {
  ASTRA_AGI_MAKE(std::optional<char>, "say alpha", cmd::say_alpha(text, escape_digits), &decode_say, slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_digits(std::string_view digits, std::string_view escape_digits) {
  ASTRA_AGI_MAKE(std::optional<char>, "say digits", cmd::say_digits(digits, escape_digits), &decode_say, slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_number(std::string_view number, std::string_view escape_digits,
                                              std::optional<std::string_view> gender) {
  ASTRA_AGI_MAKE(std::optional<char>, "say number", cmd::say_number(number, escape_digits, gender), &decode_say,
                 slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_phonetic(std::string_view text, std::string_view escape_digits) {
  ASTRA_AGI_MAKE(std::optional<char>, "say phonetic", cmd::say_phonetic(text, escape_digits), &decode_say,
                 slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_date(long epoch_seconds, std::string_view escape_digits) {
  ASTRA_AGI_MAKE(std::optional<char>, "say date", cmd::say_date(epoch_seconds, escape_digits), &decode_say,
                 slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_time(long epoch_seconds, std::string_view escape_digits) {
  ASTRA_AGI_MAKE(std::optional<char>, "say time", cmd::say_time(epoch_seconds, escape_digits), &decode_say,
                 slot.minus_one_ambiguous = true);
}
command<std::optional<char>> call::say_datetime(long epoch_seconds, std::string_view escape_digits,
                                                std::optional<std::string_view> format,
                                                std::optional<std::string_view> timezone) {
  ASTRA_AGI_MAKE(std::optional<char>, "say datetime", cmd::say_datetime(epoch_seconds, escape_digits, format, timezone),
                 &decode_say, slot.minus_one_ambiguous = true);
}
command<void> call::send_image(std::string_view image) {
  ASTRA_AGI_MAKE(void, "send image", cmd::send_image(image), &decode_void);
}
command<void> call::send_text(std::string_view text) {
  ASTRA_AGI_MAKE(void, "send text", cmd::send_text(text), &decode_void);
}
command<void> call::set_autohangup(std::chrono::seconds time) {
  ASTRA_AGI_MAKE(void, "set autohangup", cmd::set_autohangup(time), &decode_void);
}
command<void> call::set_callerid(std::string_view caller_id) {
  ASTRA_AGI_MAKE(void, "set callerid", cmd::set_callerid(caller_id), &decode_void);
}
command<void> call::set_context(std::string_view context) {
  ASTRA_AGI_MAKE(void, "set context", cmd::set_context(context), &decode_void);
}
command<void> call::set_extension(std::string_view extension) {
  ASTRA_AGI_MAKE(void, "set extension", cmd::set_extension(extension), &decode_void);
}
command<void> call::set_music(bool on, std::optional<std::string_view> music_class) {
  ASTRA_AGI_MAKE(void, "set music", cmd::set_music(on, music_class), &decode_void);
}
command<void> call::set_priority(std::string_view priority) {
  ASTRA_AGI_MAKE(void, "set priority", cmd::set_priority(priority), &decode_void);
}
command<void> call::set_variable(std::string_view name, std::string_view value) {
  ASTRA_AGI_MAKE(void, "set variable", cmd::set_variable(name, value), &decode_void);
}
command<stream_result> call::stream_file(std::string_view file, std::string_view escape_digits,
                                         std::optional<long> sample_offset) {
  ASTRA_AGI_MAKE(stream_result, "stream file", cmd::stream_file(file, escape_digits, sample_offset), &decode_stream_file,
                 slot.minus_one_ambiguous = true);
}
command<bool> call::tdd_mode(std::string_view mode) {
  ASTRA_AGI_MAKE(bool, "tdd mode", cmd::tdd_mode(mode), &decode_flag);
}
command<void> call::verbose(std::string_view message, long level) {
  ASTRA_AGI_MAKE(void, "verbose", cmd::verbose(message, level), &decode_void);
}
command<std::optional<char>> call::wait_for_digit(milliseconds timeout) {
  ASTRA_AGI_MAKE(std::optional<char>, "wait for digit", cmd::wait_for_digit(timeout), &decode_wait_for_digit,
                 slot.own_timeout = own(timeout), slot.minus_one_is_hangup = true);
}
command<bool> call::speech_create(std::string_view engine) {
  ASTRA_AGI_MAKE(bool, "speech create", cmd::speech_create(engine), &decode_flag);
}
command<bool> call::speech_set(std::string_view name, std::string_view value) {
  ASTRA_AGI_MAKE(bool, "speech set", cmd::speech_set(name, value), &decode_flag);
}
command<bool> call::speech_destroy() { ASTRA_AGI_MAKE(bool, "speech destroy", cmd::speech_destroy(), &decode_flag); }
command<bool> call::speech_load_grammar(std::string_view grammar, std::string_view path) {
  ASTRA_AGI_MAKE(bool, "speech load grammar", cmd::speech_load_grammar(grammar, path), &decode_flag);
}
command<bool> call::speech_unload_grammar(std::string_view grammar) {
  ASTRA_AGI_MAKE(bool, "speech unload grammar", cmd::speech_unload_grammar(grammar), &decode_flag);
}
command<bool> call::speech_activate_grammar(std::string_view grammar) {
  ASTRA_AGI_MAKE(bool, "speech activate grammar", cmd::speech_activate_grammar(grammar), &decode_flag);
}
command<bool> call::speech_deactivate_grammar(std::string_view grammar) {
  ASTRA_AGI_MAKE(bool, "speech deactivate grammar", cmd::speech_deactivate_grammar(grammar), &decode_flag);
}
command<speech_result> call::speech_recognize(std::string_view prompt, milliseconds timeout, std::optional<long> offset) {
  ASTRA_AGI_MAKE(speech_result, "speech recognize", cmd::speech_recognize(prompt, timeout, offset),
                 &decode_speech_recognize, slot.own_timeout = own(timeout));
}

}  // namespace astra::agi
