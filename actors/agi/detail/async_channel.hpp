#pragma once
// The AMI side of one AsyncAGI call, without I/O and without CAF (used by the call actor and
// unit-tested with the recorded sessions): turns the command lines the call core writes into
// `Action: AGI` actions with unique CommandIDs, and the channel's AsyncAGIExec / AsyncAGIEnd
// events into the core's reply events.
//
// Thread affinity: owned by one call actor; every member runs on its context only.
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/agi/detail/call_core.hpp"
#include "protocols/ami/action.hpp"
#include "protocols/ami/message.hpp"

namespace astra::agi::detail {

class async_channel {
 public:
  // `channel`: the AsyncAGIStart's Channel; `command_id_prefix`: every CommandID this channel
  // sends is prefix + a decimal counter from 0 (the ASYNCAGI BREAK sent at the end: prefix +
  // "break").
  async_channel(std::string channel, std::string command_id_prefix);

  const std::string& channel() const noexcept { return channel_; }
  // The Action: AGI for one command line written by the core (the trailing LF is dropped).
  ami::action command_action(std::string_view line);
  // The Action: AGI that makes the channel leave AGI (the dialplan continues after AGI()).
  ami::action break_action() const;
  // The CommandID the last command_action() used ("" before the first).
  const std::string& last_command_id() const noexcept { return last_id_; }

  // An AsyncAGIExec event of this channel. A CommandId this channel did not send (another
  // AMI client driving the same channel) is ignored: returns false. Otherwise the decoded
  // Result goes to `core` as reply events (a late reply of an abandoned command included: the
  // core swallows it as an orphan); a Result that does not decode is a protocol error of the
  // call (core.on_protocol_error). May resume the handler (inside core).
  bool on_exec(const ami::message& event, call_core& core);
  // The channel is gone from AGI (AsyncAGIEnd; or Response: Error to an Action: AGI):
  // a HANGUP notice (the command in flight fails hung_up), then the end of the connection
  // (later commands fail disconnected). Idempotent; later AsyncAGIExec events are ignored.
  void on_gone(call_core& core);
  bool gone() const noexcept { return gone_; }

 private:
  std::string channel_;
  std::string prefix_;
  std::string last_id_;
  std::uint64_t next_ = 0;
  bool gone_ = false;
};

}  // namespace astra::agi::detail
