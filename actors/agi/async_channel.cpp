#include "actors/agi/detail/async_channel.hpp"

#include <charconv>

#include "protocols/agi/async.hpp"

namespace astra::agi::detail {

async_channel::async_channel(std::string channel, std::string command_id_prefix)
    : channel_(std::move(channel)), prefix_(std::move(command_id_prefix)) {}

ami::action async_channel::command_action(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  last_id_ = prefix_ + std::to_string(next_++);
  ami::action a("AGI");
  a.add("Channel", channel_);
  a.add("Command", std::string(line));
  a.add("CommandID", last_id_);
  return a;
}

ami::action async_channel::break_action() const {
  ami::action a("AGI");
  a.add("Channel", channel_);
  a.add("Command", "ASYNCAGI BREAK");
  a.add("CommandID", prefix_ + "break");
  return a;
}

bool async_channel::on_exec(const ami::message& event, call_core& core) {
  // Asterisk spells it CommandId in the event (the action's header is CommandID); get() is
  // case-insensitive.
  const std::string_view id = event.get("CommandId").value_or("");
  if (id.size() <= prefix_.size() || id.substr(0, prefix_.size()) != prefix_) return false;
  std::uint64_t n = 0;
  const auto digits = id.substr(prefix_.size());
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size() || n >= next_) return false;
  if (gone_) return true;
  auto events = async::decode_result(event.get("Result").value_or(""));
  if (!events) {
    core.on_protocol_error(events.error());
    return true;
  }
  for (auto& e : *events) {
    if (!core.connected()) break;
    core.on_event(std::move(e));
  }
  return true;
}

void async_channel::on_gone(call_core& core) {
  if (gone_) return;
  gone_ = true;
  if (!core.connected()) return;
  reply_event hangup{reply_event::hangup_notice, {}};
  hangup.value.raw = "HANGUP";
  core.on_event(std::move(hangup));
  core.on_disconnected(make_error_code(agi_errc::hung_up));
}

}  // namespace astra::agi::detail
