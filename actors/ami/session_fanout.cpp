// Event fan-out of the AMI session actor: per-subscriber in-flight bounds, backlogs
// (drop_oldest / pause_reading), drops counted per event name, the reader hold, and events
// lost to a read limit.
#include <spdlog/spdlog.h>

#include "actors/ami/session_detail.hpp"
#include "protocols/ami/catalog.hpp"

namespace astra::ami::detail {
namespace {

void log_drops(const std::string& label, const std::string& queue, std::uint64_t total, std::uint64_t& logged) {
  // Logs the first drop, then each time the total doubles.
  if (total > 0 && (logged == 0 || total >= 2 * logged)) {
    spdlog::warn("ami[{}]: queue {} full: {} events dropped so far", label, queue, total);
    logged = total;
  }
}

void drop_for(self_ptr self, subscriber_entry& s, const message& m) {
  s.bound->count_drops(1);
  count_dropped(self, s.bound->name(), m.name(), 1);
}

// Sends `out` to the subscriber with its credit (taken with try_reserve).
void deliver(self_ptr self, subscriber_entry& s, std::vector<message_ptr>&& out, std::size_t bytes) {
  if (out.empty()) return;
  const std::size_t n = out.size();
  self->send(s.handle, event_batch{self->state.label, std::move(out), std::make_shared<credit_lease>(s.bound, n, bytes)});
}

// Moves backlog events into flight while the subscriber's bound has room.
void flush_backlog(self_ptr self, subscriber_entry& s) {
  std::vector<message_ptr> out;
  std::size_t bytes = 0;
  while (!s.backlog.empty()) {
    const std::size_t b = s.backlog.front()->raw().size();
    if (!s.bound->try_reserve(b)) break;
    bytes += b;
    s.backlog_bytes -= b;
    out.push_back(std::move(s.backlog.front()));
    s.backlog.pop_front();
  }
  deliver(self, s, std::move(out), bytes);
}

// The backlog is not empty: ask the bound to report room once.
void wait_for_room(self_ptr self, subscriber_entry& s) {
  s.bound->arm_room_callback();
  // A release between the failed reservation and the arming reported nothing: try once more.
  // (Not `!full()`: the front event may still not fit by bytes, which would resend forever.)
  // Whatever stays in the backlog waits for the armed callback.
  flush_backlog(self, s);
}

void enqueue_backlog(self_ptr self, subscriber_entry& s, const message_ptr& m) {
  const std::size_t b = m->raw().size();
  auto over = [&] {
    return s.backlog.size() >= s.backlog_capacity ||
           (!s.backlog.empty() && s.backlog_bytes + b > s.backlog_capacity_bytes);
  };
  if (over()) {
    if (s.policy != queue_policy::drop_oldest) return drop_for(self, s, *m);  // pause_reading past its bound
    while (!s.backlog.empty() && over()) {
      drop_for(self, s, *s.backlog.front());
      s.backlog_bytes -= s.backlog.front()->raw().size();
      s.backlog.pop_front();
    }
  }
  s.backlog_bytes += b;
  s.backlog.push_back(m);
}

}  // namespace

// Counts `n` dropped events named `event_name` from `queue` (per name, bounded).
void count_dropped(self_ptr self, const std::string& queue, std::string_view event_name, std::uint64_t n) {
  auto& st = self->state;
  std::string key(event_name);
  auto it = st.dropped_by_event.find(key);
  if (it == st.dropped_by_event.end()) {
    if (st.dropped_by_event.size() >= max_tracked_event_names) key = "(other)";
    it = st.dropped_by_event.try_emplace(std::move(key), 0).first;
  }
  it->second += n;
  if (st.hooks.drop) st.hooks.drop(queue, event_name, n);
}

// Holds the reader while a pause_reading subscriber has a backlog (the connection bounds
// the hold by max_read_stall on its own).
void update_reader_hold(self_ptr self) {
  auto& st = self->state;
  bool hold = false;
  for (const auto& s : st.subscribers)
    if (s.policy == queue_policy::pause_reading && !s.backlog.empty()) hold = true;
  if (hold != st.reader_held && st.conn) {
    st.reader_held = hold;
    st.conn->hold_reading(hold);
  }
}

void fan_out(self_ptr self, const std::vector<message_ptr>& events) {
  auto& st = self->state;
  for (auto& s : st.subscribers) {
    if (s.filter.kind == event_filter::mode::none) continue;
    const bool had_backlog = !s.backlog.empty();
    std::vector<message_ptr> out;
    std::size_t bytes = 0;
    for (const auto& m : events) {
      if (s.filter.kind != event_filter::mode::all && !s.filter.matches(*m)) continue;
      const std::size_t b = m->raw().size();
      if (s.backlog.empty() && s.bound->try_reserve(b)) {
        out.push_back(m);
        bytes += b;
      } else if (s.policy == queue_policy::drop_newest) {
        drop_for(self, s, *m);
      } else {
        enqueue_backlog(self, s, m);
      }
    }
    deliver(self, s, std::move(out), bytes);
    if (!had_backlog && !s.backlog.empty()) wait_for_room(self, s);
    log_drops(st.label, s.bound->name(), s.bound->dropped(), s.logged_drops);
  }
  update_reader_hold(self);
}

void on_subscriber_room(self_ptr self, std::uint64_t id) {
  auto& st = self->state;
  for (auto& s : st.subscribers) {
    if (s.id != id) continue;
    flush_backlog(self, s);
    if (!s.backlog.empty()) wait_for_room(self, s);
    break;
  }
  update_reader_hold(self);
}

// A message Asterisk wrote over a read limit: discarded by the parser, never silent.
void on_oversized(self_ptr self, const oversized_message& o) {
  auto& st = self->state;
  ++st.oversized;
  if (st.hooks.oversized) st.hooks.oversized(o);
  const std::string what = describe(o);
  const std::string log_key = (o.kind_known && o.kind == message_kind::response ? "response:" : "event:") + o.name;
  if (st.oversized_logged.size() < max_tracked_event_names && st.oversized_logged.try_emplace(log_key, true).second)
    spdlog::warn("ami[{}]: discarded {} (raise ami.read_limits; further ones named '{}' are only counted in "
                 "astra_ami_oversized_total)",
                 st.label, what, o.name);
  if (!o.action_id.empty()) {
    auto it = st.pending.find(o.action_id);
    if (it != st.pending.end()) {  // the answer (or one of its list events) was too large
      it->second.result.error = {make_error_code(ami_errc::response_too_large),
                                 "the answer to " + it->second.action_name + " exceeded a read limit: " + what};
      complete(self, it);
      return;
    }
  }
  if (o.kind_known && o.kind == message_kind::response) return;  // nobody waits for it
  for (auto& s : st.subscribers) {
    bool wants = false;
    switch (s.filter.kind) {
      case event_filter::mode::all: wants = true; break;
      case event_filter::mode::none: wants = false; break;
      case event_filter::mode::predicate: wants = true; break;  // cannot be evaluated on a lost message
      case event_filter::mode::names:
        for (const auto& n : s.filter.names)
          if (!o.kind_known || iequals(n, o.name)) wants = true;
        break;
    }
    if (!wants) continue;
    ++s.lost_oversized;
    self->send(s.handle, event_lost{st.label, o.name, o.bytes, failure{make_error_code(o.limit), what}});
  }
}

}  // namespace astra::ami::detail
