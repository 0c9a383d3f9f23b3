#include "actors/agi/detail/call_core.hpp"

#include <algorithm>

#include "protocols/agi/command.hpp"

namespace astra::agi::detail {

namespace {

// Written by the core to settle an ambiguous -1. CHANNEL STATUS is refused on a dead channel
// (res_agi: not allowed dead => "511 Command Not Permitted on a dead channel"); on a live one it
// answers "200 result=<state 0..7>"; "200 result=-1" only for a named channel that does not exist,
// which for the call's own channel also means it is gone.
constexpr std::string_view probe_line = "CHANNEL STATUS\n";

// The reply of an ambiguous command shows that the file was never played, so -1 is a plain
// failure: STREAM FILE and GET OPTION answer a file they cannot open with
// "200 result=-1 endpos=<requested sample offset>" (0 unless an offset was asked for), while a
// playback that started and was cut by a hang-up reports the position reached (> 0: at least one
// frame is read when playback starts) or the file's length. CONTROL STREAM FILE reports endpos in
// ms (>= 20 once a frame was read). RECORD FILE's -1 replies carry "(data)" and SAY * have no
// endpos: they are always probed.
bool never_played(const reply& r) {
  if (r.data) return false;
  auto endpos = r.extra("endpos");
  return endpos && *endpos == "0";
}

}  // namespace

call_core::call_core(const core_settings& settings, std::shared_ptr<call_transport> transport, const server_hooks* hooks,
                     std::uint64_t call_id)
    : settings_(&settings), command_timeout_(settings.command_timeout), transport_(std::move(transport)), hooks_(hooks),
      call_id_(call_id) {
  if (settings.max_call_duration.count() > 0) {
    call_deadline_ = settings.now() + settings.max_call_duration;
    armed_for_ = call_deadline_;
    transport_->arm(call_deadline_);
  }
}

call_core::~call_core() {
  // Frames still referencing slots are destroyed before the core (see call_actor); detach any
  // remaining link defensively so no slot points back at a dead core.
  if (inflight_) inflight_->owner = nullptr;
  for (auto* s = head_; s != nullptr; s = s->next) s->owner = nullptr;
}

std::chrono::milliseconds call_core::timeout_for(const command_slot& slot) const {
  using std::chrono::milliseconds;
  if (slot.long_running || slot.own_timeout.count() < 0)
    return std::max(command_timeout_, settings_->long_command_timeout);
  if (slot.own_timeout.count() > 0)
    return std::max(command_timeout_, slot.own_timeout + settings_->timeout_margin);
  return command_timeout_;
}

bool call_core::submit(command_slot& slot) {
  const auto now = settings_->now();
  slot.issued = now;
  slot.outcome.reset();
  if (slot.preset) {
    slot.outcome = std::make_unique<astra::result<reply>>(slot.preset, std::move(slot.line));
    report(slot, 0, now);
    return false;
  }
  if (closed_) {
    if (++after_close_ > settings_->max_commands_after_close) {
      runaway_ = true;
      return true;  // never completed: the actor ends the call and destroys the frame
    }
    slot.outcome = std::make_unique<astra::result<reply>>(make_error_code(closed_reason_), "the call is closed");
    report(slot, 0, now);
    return false;
  }
  if (settings_->fail_fast_after_hangup && hung_up_ && !slot.dead_ok) {
    slot.outcome = std::make_unique<astra::result<reply>>(make_error_code(agi_errc::hung_up),
                                                          "the channel hung up before " + std::string(slot.name));
    report(slot, 0, now);
    return false;
  }
  ++counters_.commands;
  slot.deadline = now + timeout_for(slot);
  enqueue(slot);
  pump();
  if (inflight_ != &slot) rearm();  // queued behind an orphan: its deadline still counts
  return true;
}

void call_core::detach(command_slot& slot) noexcept {
  if (slot.owner != this) return;
  slot.owner = nullptr;
  slot.waiter = {};
  if (inflight_ == &slot) {
    inflight_ = nullptr;
    probing_ = false;
    ++orphans_;  // its reply (or its probe's) will still come: swallow it
    return;
  }
  unlink(slot);
}

void call_core::enqueue(command_slot& slot) {
  slot.owner = this;
  slot.next = nullptr;
  if (tail_) tail_->next = &slot;
  else head_ = &slot;
  tail_ = &slot;
}

command_slot* call_core::pop_front() noexcept {
  auto* s = head_;
  if (!s) return nullptr;
  head_ = s->next;
  if (!head_) tail_ = nullptr;
  s->next = nullptr;
  return s;
}

bool call_core::unlink(command_slot& slot) noexcept {
  command_slot* prev = nullptr;
  for (auto* s = head_; s != nullptr; prev = s, s = s->next) {
    if (s != &slot) continue;
    if (prev) prev->next = s->next;
    else head_ = s->next;
    if (tail_ == s) tail_ = prev;
    s->next = nullptr;
    return true;
  }
  return false;
}

void call_core::pump() {
  if (closed_ || inflight_ || orphans_ > 0 || !head_) return;
  auto* slot = pop_front();
  inflight_ = slot;
  slot->written = settings_->now();
  send(std::move(slot->line), slot->deadline, slot->written);
}

void call_core::send(std::string line, clock::time_point deadline, clock::time_point now) {
  // The timer is only ever moved earlier: a later deadline is picked up when it fires (on_tick
  // re-arms), which saves a timer cancel + wait per command.
  auto wake_at = clock::time_point::max();
  if (deadline < armed_for_ || armed_for_ <= now) {
    armed_for_ = deadline;
    wake_at = deadline;
  }
  transport_->write(std::move(line), wake_at);
}

void call_core::start_probe(command_slot& slot, reply&& minus_one, clock::time_point now) {
  // The command stays in flight (no outcome yet); its spent line keeps the -1 reply's bytes
  // until the probe settles it.
  slot.line = std::move(minus_one.raw);
  slot.deadline = now + command_timeout_;
  probing_ = true;
  ++counters_.probes;
  send(std::string(probe_line), slot.deadline, now);
}

void call_core::finish_probe(const reply& answer) {
  auto* slot = std::exchange(inflight_, nullptr);
  probing_ = false;
  pump();
  if (answer.code == 511 || (answer.code == 200 && answer.result == "-1")) {
    hung_up_ = true;
    complete(*slot, astra::result<reply>{make_error_code(agi_errc::hung_up),
                                         std::string(slot->name) + " answered -1 and the channel is gone (CHANNEL STATUS: " +
                                             answer.raw + ")"});
    return;
  }
  // The same bytes parsed again: the handler's decoder sees the original reply (command_failed).
  auto original = parse_reply_line(slot->line);
  slot->line.clear();
  complete(*slot, std::move(original));
}

void call_core::rearm() {
  if (closed_) return;
  auto earliest = call_deadline_;
  if (inflight_) earliest = std::min(earliest, inflight_->deadline);
  for (auto* s = head_; s; s = s->next) earliest = std::min(earliest, s->deadline);
  if (orphans_ > 0 && orphan_after_hangup_) earliest = std::min(earliest, orphan_grace_until);
  if (earliest == clock::time_point::max()) return;
  // A timer already set for an earlier instant will tick and re-arm; only move it earlier.
  if (earliest < armed_for_ || armed_for_ <= settings_->now()) {
    armed_for_ = earliest;
    transport_->arm(earliest);
  }
}

void call_core::report(const command_slot& slot, int code, clock::time_point now) {
  if (hooks_ && hooks_->command_completed) {
    auto start = slot.written != clock::time_point{} ? slot.written : slot.issued;
    invoke_hook(hooks_->command_completed, settings_->faults, hook_kind::command_completed,
                hook_subject{call_id_, {}, nullptr}, slot.name, now - start, code);
  }
}

void call_core::complete(command_slot& slot, astra::result<reply> outcome) {
  slot.owner = nullptr;
  slot.next = nullptr;
  slot.outcome = std::make_unique<astra::result<reply>>(std::move(outcome));
  if (auto h = std::exchange(slot.waiter, {})) h.resume();
}

void call_core::on_event(reply_event event) {
  if (hooks_ && hooks_->reply_received)
    invoke_hook(hooks_->reply_received, settings_->faults, hook_kind::reply_received, hook_subject{call_id_, {}, nullptr},
                event.kind == reply_event::hangup_notice ? 0 : event.value.code);
  switch (event.kind) {
    case reply_event::provisional:
      return;  // "100 result=0 Trying...": the final reply follows
    case reply_event::hangup_notice: {
      hung_up_ = true;
      if (inflight_ && (probing_ || !inflight_->dead_ok)) {
        // Asterisk still answers the command (or the probe; usually at once): hand hung_up to the
        // handler now and swallow that reply when it comes.
        auto* slot = std::exchange(inflight_, nullptr);
        const bool probed = std::exchange(probing_, false);
        const auto now = settings_->now();
        ++orphans_;
        orphan_after_hangup_ = true;
        orphan_grace_until = now + settings_->hangup_reply_grace;
        rearm();
        if (!probed) report(*slot, 0, now);  // a probed command was reported at its -1
        complete(*slot, astra::result<reply>{make_error_code(agi_errc::hung_up),
                                             (probed ? "HANGUP after the -1 of " : "HANGUP during ") + std::string(slot->name)});
      }
      return;
    }
    case reply_event::final_reply:
      break;
  }
  if (orphans_ > 0) {
    --orphans_;
    ++counters_.orphan_replies;
    if (orphans_ == 0) orphan_after_hangup_ = false;
    pump();
    return;
  }
  if (!inflight_) {
    ++counters_.unexpected_replies;
    return;
  }
  if (probing_) {
    finish_probe(event.value);
    return;
  }
  auto* slot = inflight_;
  const auto now = settings_->now();
  report(*slot, event.value.code, now);
  if (event.value.code == 511) hung_up_ = true;
  const bool minus_one = event.value.code == 200 && !slot->dead_ok && event.value.result == "-1";
  if (minus_one && slot->minus_one_ambiguous && !slot->minus_one_is_hangup && !hung_up_ && !never_played(event.value)) {
    start_probe(*slot, std::move(event.value), now);
    return;
  }
  inflight_ = nullptr;
  pump();
  if (minus_one && (slot->minus_one_is_hangup || hung_up_)) {
    hung_up_ = true;
    complete(*slot, astra::result<reply>{make_error_code(agi_errc::hung_up), std::move(event.value.raw)});
    return;
  }
  complete(*slot, std::move(event.value));
}

void call_core::fail_all(agi_errc code, const std::string& detail) {
  const auto now = settings_->now();
  if (auto* slot = std::exchange(inflight_, nullptr)) {
    if (!std::exchange(probing_, false)) report(*slot, 0, now);
    complete(*slot, astra::result<reply>{make_error_code(code), detail});
  }
  while (auto* slot = pop_front()) {
    report(*slot, 0, now);
    complete(*slot, astra::result<reply>{make_error_code(code), detail});
  }
}

void call_core::on_protocol_error(failure f) {
  if (closed_) return;
  closed_ = true;
  closed_reason_ = agi_errc::disconnected;
  transport_->close();
  const auto code = f.code;
  const auto detail = f.message();
  const auto now = settings_->now();
  if (auto* slot = std::exchange(inflight_, nullptr)) {
    if (!std::exchange(probing_, false)) report(*slot, 0, now);
    complete(*slot, astra::result<reply>{code, detail});
  }
  fail_all(agi_errc::disconnected, detail);
}

void call_core::on_disconnected(std::error_code ec) {
  if (closed_) return;
  closed_ = true;
  closed_reason_ = agi_errc::disconnected;
  transport_->close();
  fail_all(agi_errc::disconnected, ec ? ec.message() : std::string("peer closed the connection"));
}

void call_core::on_tick(clock::time_point now) {
  if (closed_ || expired_) return;
  armed_for_ = clock::time_point::max();
  if (now >= call_deadline_) {
    expired_ = true;  // the owner ends the call; nothing is completed (the handler is not resumed)
    return;
  }
  if (orphans_ > 0 && orphan_after_hangup_ && now >= orphan_grace_until) {
    // Asterisk did not answer the command that HANGUP interrupted: stop waiting for it.
    orphans_ = 0;
    orphan_after_hangup_ = false;
    pump();
  }
  // Queued commands past their deadline never reach the wire.
  for (auto* s = head_; s;) {
    auto* next = s->next;
    if (now >= s->deadline) {
      unlink(*s);
      ++counters_.timeouts;
      report(*s, 0, now);
      complete(*s, astra::result<reply>{make_error_code(agi_errc::timeout), "deadline expired before " + std::string(s->name) + " could be sent"});
      if (closed_) return;
      next = head_;  // the handler may have changed the queue while resumed
    }
    s = next;
  }
  if (inflight_ && now >= inflight_->deadline) {
    auto* slot = std::exchange(inflight_, nullptr);
    const bool probed = std::exchange(probing_, false);
    ++orphans_;  // Asterisk may still answer it (or the probe): swallow that late reply
    ++counters_.timeouts;
    rearm();
    if (!probed) report(*slot, 0, now);
    complete(*slot, astra::result<reply>{make_error_code(agi_errc::timeout),
                                         probed ? "no reply to the CHANNEL STATUS probe after the -1 of " + std::string(slot->name)
                                                : "no reply to " + std::string(slot->name) + " before its deadline"});
    if (closed_) return;
  }
  rearm();
}

void call_core::shutdown(agi_errc reason) {
  if (closed_) return;
  closed_ = true;
  closed_reason_ = reason;
  transport_->close();
  fail_all(reason, "the call is closing");
}

}  // namespace astra::agi::detail
