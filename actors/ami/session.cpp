#include "actors/ami/session.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <random>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ami/connection.hpp"
#include "actors/ami/session_detail.hpp"
#include "actors/common/io_runtime.hpp"
#include "protocols/ami/catalog.hpp"

namespace astra::ami::detail {
// Asio -> actor messages; `generation` names the connection they came from.
struct io_connected {
  std::uint64_t generation;
};
struct io_batch {
  std::uint64_t generation;
  read_batch batch;
};
struct io_closed {
  std::uint64_t generation;
  failure reason;
};
}  // namespace astra::ami::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::detail::io_connected)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::detail::io_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::detail::io_closed)

namespace astra::ami {

const char* to_string(queue_policy p) noexcept {
  switch (p) {
    case queue_policy::drop_newest: return "drop_newest";
    case queue_policy::drop_oldest: return "drop_oldest";
    case queue_policy::pause_reading: return "pause_reading";
  }
  return "?";
}

bool event_filter::matches(const message& m) const {
  switch (kind) {
    case mode::all: return true;
    case mode::none: return false;
    case mode::predicate: return predicate && predicate(m);
    case mode::names:
      for (const auto& n : names)
        if (iequals(n, m.name())) return true;
      return false;
  }
  return false;
}

std::string make_action_id_prefix() {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device rd;
  std::uint32_t v = rd();
  std::string s = "astra-";
  for (int i = 7; i >= 0; --i) s += hex[(v >> (i * 4)) & 0xf];
  s += '-';
  return s;
}

}  // namespace astra::ami

namespace astra::ami::detail {

const char* to_string(link_state_t s) {
  switch (s) {
    case link_state_t::connecting: return "connecting";
    case link_state_t::logging_in: return "logging_in";
    case link_state_t::up: return "up";
    case link_state_t::backoff: return "backoff";
    case link_state_t::login_failed: return "login_failed";
    case link_state_t::stopped: return "stopped";
  }
  return "?";
}

namespace {

void notify_link(self_ptr self, const link_event& ev) {
  for (auto& s : self->state.subscribers) self->send(s.handle, ev);
}

void report_action(self_ptr self, const pending_request& p, std::error_code outcome) {
  auto& st = self->state;
  if (st.hooks.action_done)
    st.hooks.action_done(p.action_name, outcome,
                         std::chrono::duration<double>(clock_type::now() - p.started).count());
}

}  // namespace

void complete(self_ptr self, std::unordered_map<std::string, pending_request>::iterator it) {
  auto& st = self->state;
  pending_request p = std::move(it->second);
  st.pending.erase(it);
  if (p.list) --st.lists_pending;
  report_action(self, p, p.result.error.code);
  if (p.promise) p.promise->deliver(std::move(p.result));
  else if (p.internal) p.internal(p.result);
}

namespace {

void fail_all_pending(self_ptr self, ami_errc code, const std::string& detail) {
  auto& st = self->state;
  while (!st.pending.empty()) {
    auto it = st.pending.begin();
    it->second.result.error = {make_error_code(code), detail};
    complete(self, it);
  }
}

}  // namespace

void dispatch(self_ptr self, const action& a, milliseconds timeout, std::optional<caf::response_promise> promise,
              std::function<void(reply&)> internal) {
  auto& st = self->state;
  pending_request p;
  p.action_name = a.name();
  p.started = clock_type::now();
  p.promise = std::move(promise);
  p.internal = std::move(internal);
  p.result.action_id = st.prefix + std::to_string(st.next_seq++);
  auto fail_now = [&](ami_errc code, std::string detail) {
    p.result.error = {make_error_code(code), std::move(detail)};
    report_action(self, p, p.result.error.code);
    if (p.promise) p.promise->deliver(std::move(p.result));
    else if (p.internal) p.internal(p.result);
  };
  bool external = p.promise.has_value();
  if (!st.conn || (external && st.state != link_state_t::up)) {
    fail_now(ami_errc::not_logged_in, "AMI session " + st.label + " is " + to_string(st.state) +
                                          (st.last_failure ? " (" + st.last_failure->message() + ")" : std::string()));
    return;
  }
  if (st.pending.size() >= max_pending_requests) {
    fail_now(ami_errc::queue_full, std::to_string(max_pending_requests) + " requests already pending");
    return;
  }
  if (external) {
    auto valid = validate(a);
    if (!valid) {
      fail_now(ami_errc::invalid_action, valid.error().detail.empty() ? valid.error().message() : valid.error().detail);
      return;
    }
  }
  auto bytes = serialize(a, p.result.action_id);
  if (!bytes) {
    auto code = bytes.error().code == make_error_code(ami_errc::header_injection)   ? ami_errc::header_injection
                : bytes.error().code == make_error_code(ami_errc::action_too_large) ? ami_errc::action_too_large
                                                                                      : ami_errc::invalid_action;
    fail_now(code, bytes.error().detail);
    return;
  }
  if (timeout.count() <= 0) timeout = st.cfg.request_timeout;
  std::string id = p.result.action_id;
  st.pending.emplace(id, std::move(p));
  st.conn->write(std::move(*bytes));
  self->delayed_send(self, timeout, req_timeout_atom::value, std::move(id), static_cast<std::int64_t>(timeout.count()));
}

namespace {

void schedule_keepalive(self_ptr self) {
  auto& st = self->state;
  if (st.cfg.keepalive_interval.count() > 0)
    self->delayed_send(self, st.cfg.keepalive_interval, keepalive_atom::value, st.generation);
}

}  // namespace

void became_up(self_ptr self) {
  auto& st = self->state;
  st.state = link_state_t::up;
  ++st.logins;
  st.reconnect_backoff.reset();
  st.login_backoff.reset();
  st.last_failure.reset();
  link_event ev;
  ev.state = link_event::kind::up;
  ev.session = st.label;
  if (st.down_since) {
    ev.gap = elapsed_ms(*st.down_since);
    st.gaps.push_back(ev.gap);
    while (st.gaps.size() > max_gap_history) st.gaps.pop_front();
    st.down_since.reset();
    spdlog::info("ami[{}]: logged in as '{}' again after {} ms down", st.label, st.cfg.username, ev.gap.count());
  } else {
    spdlog::info("ami[{}]: logged in as '{}'", st.label, st.cfg.username);
  }
  if (st.hooks.connected) st.hooks.connected(st.label);
  notify_link(self, ev);
  schedule_keepalive(self);
}

namespace {

void on_login_reply(self_ptr self, std::uint64_t gen, reply& r) {
  auto& st = self->state;
  if (gen != st.generation || !st.conn) return;
  if (r.ok()) {
    pushdown_after_login(self);  // then became_up()
    return;
  }
  if (r.error.code == make_error_code(ami_errc::rejected)) {
    failure refusal{make_error_code(ami_errc::login_failed),
                    "login as '" + st.cfg.username + "' refused by " + st.cfg.host + ":" + std::to_string(st.cfg.port) +
                        ": " + r.error.detail};
    st.login_refusal = refusal;
    st.state = link_state_t::login_failed;
    st.conn->close(refusal);
    return;
  }
  st.conn->close(r.error);  // timeout/disconnected while logging in
}

void start_login(self_ptr self) {
  auto& st = self->state;
  st.state = link_state_t::logging_in;
  auto gen = st.generation;
  st.pushdown.mask = pushdown_login_mask(self);
  if (!st.cfg.md5) {
    auto login = actions::login(st.cfg.username, st.cfg.secret);
    login.set("Events", st.pushdown.mask);
    dispatch(self, login, st.cfg.login_timeout, std::nullopt, [self, gen](reply& r) { on_login_reply(self, gen, r); });
    return;
  }
  dispatch(self, actions::challenge("MD5"), st.cfg.login_timeout, std::nullopt, [self, gen](reply& r) {
    auto& st = self->state;
    if (gen != st.generation || !st.conn) return;
    std::optional<std::string_view> challenge;
    if (r.ok() && r.response) challenge = r.response->get("Challenge");
    if (!challenge) {
      if (r.ok()) r.error = {make_error_code(ami_errc::rejected), "no Challenge: in the Challenge response"};
      on_login_reply(self, gen, r);
      return;
    }
    auto login = actions::login_md5(st.cfg.username, md5_key(*challenge, st.cfg.secret));
    login.set("Events", st.pushdown.mask);
    dispatch(self, login, st.cfg.login_timeout, std::nullopt, [self, gen](reply& r2) { on_login_reply(self, gen, r2); });
  });
}

void start_connect(self_ptr self) {
  auto& st = self->state;
  st.state = link_state_t::connecting;
  ++st.generation;
  ++st.connect_attempts;
  st.login_refusal.reset();
  st.pushdown = {};
  auto gen = st.generation;
  caf::weak_actor_ptr weak{self->ctrl()};
  auto deliver = [weak](auto&& msg) {
    if (auto strong = weak.lock()) caf::anon_send(caf::actor_cast<caf::actor>(strong), std::forward<decltype(msg)>(msg));
  };
  detail::connection_handlers handlers;
  handlers.on_connected = [deliver, gen] { deliver(detail::io_connected{gen}); };
  auto inbox = st.inbox;
  handlers.on_batch = [weak, gen, inbox](detail::read_batch&& b) {
    if (auto strong = weak.lock()) {
      caf::anon_send(caf::actor_cast<caf::actor>(strong), detail::io_batch{gen, std::move(b)});
    } else {
      inbox->release_many(b.events, b.event_bytes);
    }
  };
  handlers.on_closed = [deliver, gen](failure reason) { deliver(detail::io_closed{gen, std::move(reason)}); };
  detail::connection_options opts;
  opts.host = st.cfg.host;
  opts.port = st.cfg.port;
  opts.connect_timeout = st.cfg.connect_timeout;
  opts.write_timeout = st.cfg.write_timeout;
  opts.read_buffer_bytes = st.cfg.read_buffer_bytes;
  opts.max_write_queue_bytes = max_write_queue_bytes;
  opts.inbox = st.inbox;
  opts.limits = st.cfg.read_limits;
  opts.max_read_stall = st.cfg.max_read_stall;
  opts.tls = st.cfg.tls;
  st.conn = detail::make_connection(*st.io, std::move(opts), std::move(handlers));
  st.reader_held = false;
  st.conn->start();
  update_reader_hold(self);  // subscribers may still have a backlog from the last connection
  self->delayed_send(self, st.cfg.connect_timeout + st.cfg.login_timeout, login_deadline_atom::value, gen);
}

void on_closed(self_ptr self, io_closed& msg) {
  auto& st = self->state;
  if (msg.generation != st.generation) return;
  st.conn.reset();
  failure reason = st.login_refusal ? *st.login_refusal : msg.reason;
  st.last_failure = reason;
  fail_all_pending(self, ami_errc::disconnected, reason.detail.empty() ? reason.message() : reason.detail);
  bool was_up = st.state == link_state_t::up;
  if (!st.down_since) st.down_since = clock_type::now();
  if (st.state == link_state_t::stopped) return;
  link_event ev;
  ev.state = link_event::kind::down;
  ev.session = st.label;
  ev.reason = reason;
  ev.gap = elapsed_ms(*st.down_since);
  if (!st.cfg.reconnect) {
    st.state = link_state_t::stopped;
    ev.final = true;
    spdlog::warn("ami[{}]: {} (reconnect disabled)", st.label, reason.message());
  } else if (st.login_refusal) {
    st.state = link_state_t::login_failed;
    ev.retry_in = st.login_backoff.next();
    spdlog::error("ami[{}]: configuration error: {}; check the AMI user/secret/permit in manager.conf; "
                  "next login attempt in {} s",
                  st.label, reason.message(), ev.retry_in.count() / 1000.0);
  } else {
    st.state = link_state_t::backoff;
    ev.retry_in = st.reconnect_backoff.next();
    spdlog::warn("ami[{}]: {}: {}; reconnecting in {} ms", st.label, was_up ? "link lost" : "connection failed",
                 reason.message(), ev.retry_in.count());
  }
  if (st.hooks.disconnected) st.hooks.disconnected(st.label, reason);
  if (!ev.final) {
    unsigned attempt = st.login_refusal ? st.login_backoff.attempts() : st.reconnect_backoff.attempts();
    if (st.hooks.reconnect) st.hooks.reconnect(attempt, ev.retry_in);
    self->delayed_send(self, ev.retry_in, reconnect_atom::value, st.generation);
  }
  notify_link(self, ev);
}

void on_response(self_ptr self, const message_ptr& m) {
  auto& st = self->state;
  auto id = m->action_id();
  if (id.empty()) return;
  auto it = st.pending.find(std::string(id));
  if (it == st.pending.end() || it->second.result.response) return;  // late (timed out) or foreign
  auto& p = it->second;
  p.result.response = m;
  bool error = iequals(m->name(), "Error");
  if (!error) {
    auto list = m->get("EventList");
    if (list && iequals(*list, "start")) {
      p.list = true;
      ++st.lists_pending;
      return;
    }
  } else {
    auto text = m->get("Message");
    p.result.error = {make_error_code(ami_errc::rejected), std::string(text ? *text : "Response: Error")};
  }
  complete(self, it);
}

// True if the event belongs to a pending list action (and was collected).
bool collect_list_event(self_ptr self, const message_ptr& m) {
  auto& st = self->state;
  auto id = m->action_id();
  if (id.size() < st.prefix.size() || id.compare(0, st.prefix.size(), st.prefix) != 0) return false;
  auto it = st.pending.find(std::string(id));
  if (it == st.pending.end() || !it->second.list) return false;
  auto& p = it->second;
  p.result.events.push_back(m);
  auto marker = m->get("EventList");
  if (marker && (iequals(*marker, "Complete") || iequals(*marker, "Cancelled"))) {
    complete(self, it);
  } else if (p.result.events.size() >= max_list_events) {
    p.result.error = {make_error_code(ami_errc::queue_full),
                      "list exceeded " + std::to_string(max_list_events) + " events"};
    complete(self, it);
  }
  return true;
}


void on_batch(self_ptr self, io_batch& msg) {
  auto& st = self->state;
  auto& b = msg.batch;
  st.inbox->release_many(b.events, b.event_bytes);
  if (b.parse_errors) {
    st.parse_errors += b.parse_errors;
    spdlog::warn("ami[{}]: skipped {} malformed message(s): {}", st.label, b.parse_errors, b.last_parse_error);
  }
  if (b.shed_events) {
    for (const auto& name : b.shed_event_names) count_dropped(self, st.inbox->name(), name, 1);
    if (b.shed_events > b.shed_event_names.size())
      count_dropped(self, st.inbox->name(), "(more)", b.shed_events - b.shed_event_names.size());
    spdlog::warn("ami[{}]: session inbox full for {} ms: {} events dropped so far", st.label,
                 st.cfg.max_read_stall.count(), st.inbox->dropped());
  }
  if (msg.generation != st.generation) return;
  for (const auto& o : b.oversized) on_oversized(self, o);
  if (b.oversized_count > b.oversized.size()) st.oversized += b.oversized_count - b.oversized.size();
  std::vector<message_ptr> fanout;
  fanout.reserve(b.messages.size());
  for (auto& m : b.messages) {
    switch (m->kind()) {
      case message_kind::banner:
        if (st.state == link_state_t::connecting) start_login(self);
        break;
      case message_kind::response:
        on_response(self, m);
        break;
      case message_kind::event:
        if (st.lists_pending && !m->action_id().empty() && collect_list_event(self, m)) break;
        ++st.events_received;
        if (st.hooks.event_received) st.hooks.event_received(m->name());
        fanout.push_back(std::move(m));
        break;
      default:
        break;
    }
  }
  if (!fanout.empty() && !st.subscribers.empty()) fan_out(self, fanout);
}

session_status make_status(self_ptr self) {
  auto& st = self->state;
  session_status s;
  s.session = st.label;
  s.state = to_string(st.state);
  s.connect_attempts = st.connect_attempts;
  s.logins = st.logins;
  s.events_received = st.events_received;
  s.parse_errors = st.parse_errors;
  s.inbox_dropped = st.inbox->dropped();
  s.inbox_in_flight = st.inbox->in_flight();
  s.oversized = st.oversized;
  s.dropped_by_event.assign(st.dropped_by_event.begin(), st.dropped_by_event.end());
  std::sort(s.dropped_by_event.begin(), s.dropped_by_event.end());
  s.pending_requests = st.pending.size();
  if (st.down_since) s.current_gap = elapsed_ms(*st.down_since);
  s.gaps.assign(st.gaps.begin(), st.gaps.end());
  if (st.last_failure) s.last_error = st.last_failure->message();
  if (st.conn && st.pushdown.logged_in) {
    s.event_mask = st.pushdown.mask;
    s.event_filters = st.pushdown.filters.size() + (st.pushdown.match_all ? 1 : 0);
  }
  s.event_filters_refused = st.filters_refused;
  for (const auto& sub : st.subscribers)
    s.subscribers.push_back({sub.name, sub.policy, sub.bound->capacity(), sub.bound->in_flight(), sub.backlog.size(),
                             sub.bound->delivered(), sub.bound->dropped(), sub.lost_oversized});
  return s;
}

caf::behavior session_impl(self_ptr self, session_config cfg, session_hooks hooks, io_runtime* io) {
  auto& st = self->state;
  st.label = cfg.name.empty() ? cfg.host + ":" + std::to_string(cfg.port) : cfg.name;
  st.prefix = cfg.action_id_prefix.empty() ? make_action_id_prefix() : cfg.action_id_prefix;
  st.reconnect_backoff = backoff(cfg.reconnect_backoff);
  st.login_backoff = backoff(cfg.login_failure_backoff);
  st.inbox = std::make_shared<inflight_bound>(st.label + "/inbox", cfg.inbox_capacity ? cfg.inbox_capacity : default_inbox_capacity,
                                              cfg.inbox_bytes ? cfg.inbox_bytes : default_inbox_bytes);
  {
    caf::weak_actor_ptr weak{self->ctrl()};
    st.inbox->set_room_callback([weak] {
      if (auto strong = weak.lock()) caf::anon_send(caf::actor_cast<caf::actor>(strong), inbox_room_atom::value);
    });
  }
  st.cfg = std::move(cfg);
  st.hooks = std::move(hooks);
  st.io = io;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const subscriber_entry& s) { return s.addr == dm.source; }),
               subs.end());
    update_reader_hold(self);
    pushdown_sync(self);
  });
  start_connect(self);
  return {
    [self](request& req) -> caf::response_promise {
      auto rp = self->make_response_promise();
      dispatch(self, req.action, req.timeout, rp, {});
      return rp;
    },
    [self](subscribe_request& req) {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!sender) return;  // anonymous senders cannot receive events
      auto handle = caf::actor_cast<caf::actor>(sender);
      auto addr = handle.address();
      auto& subs = st.subscribers;
      subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const subscriber_entry& s) { return s.addr == addr; }),
                 subs.end());
      subscriber_entry e;
      e.id = ++st.subscriber_seq;
      e.handle = handle;
      e.addr = addr;
      e.name = req.name.empty() ? "subscriber-" + std::to_string(e.id) : req.name;
      e.filter = std::move(req.filter);
      e.policy = req.policy;
      const std::size_t capacity = req.capacity ? req.capacity : default_subscriber_capacity;
      const std::size_t capacity_bytes = req.capacity_bytes ? req.capacity_bytes : default_subscriber_bytes;
      e.bound = std::make_shared<inflight_bound>(st.label + "/" + e.name, capacity, capacity_bytes);
      // drop_oldest keeps as much again waiting; pause_reading keeps what the inbox may
      // still deliver while the reader stops (the inbox bound), so that nothing is shed
      // unless the stall bound runs out.
      e.backlog_capacity = e.policy == queue_policy::pause_reading ? std::max(capacity, st.inbox->capacity()) : capacity;
      e.backlog_capacity_bytes =
          e.policy == queue_policy::pause_reading ? std::max(capacity_bytes, st.inbox->capacity_bytes()) : capacity_bytes;
      caf::weak_actor_ptr weak{self->ctrl()};
      e.bound->set_room_callback([weak, id = e.id] {
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<caf::actor>(strong), subscriber_room_atom::value, id);
      });
      self->monitor(handle);
      link_event ev;
      ev.session = st.label;
      ev.snapshot = true;
      bool send_snapshot = true;
      if (st.state == link_state_t::up) {
        ev.state = link_event::kind::up;
      } else if (st.last_failure) {
        ev.state = link_event::kind::down;
        ev.reason = *st.last_failure;
        ev.final = st.state == link_state_t::stopped;
        if (st.down_since) ev.gap = elapsed_ms(*st.down_since);
      } else {
        send_snapshot = false;  // first connection still in progress: its outcome follows
      }
      subs.push_back(std::move(e));
      if (send_snapshot) self->send(handle, ev);
      pushdown_sync(self);
    },
    [self](unsubscribe_request&) {
      auto sender = self->current_sender();
      if (!sender) return;
      auto addr = caf::actor_cast<caf::actor_addr>(sender);
      auto& subs = self->state.subscribers;
      subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const subscriber_entry& s) { return s.addr == addr; }),
                 subs.end());
      self->demonitor(addr);
      update_reader_hold(self);
      pushdown_sync(self);
    },
    [self](status_query&) -> session_status { return make_status(self); },
    [self](stop_request&) {
      auto& st = self->state;
      st.state = link_state_t::stopped;
      fail_all_pending(self, ami_errc::disconnected, "session stopped");
      if (st.conn) st.conn->close({make_error_code(ami_errc::disconnected), "session stopped"});
      link_event ev;
      ev.state = link_event::kind::down;
      ev.session = st.label;
      ev.reason = {make_error_code(ami_errc::disconnected), "session stopped"};
      ev.final = true;
      notify_link(self, ev);
      self->quit();
    },
    [self](io_connected& msg) {
      // TCP is up; the banner starts the login.
      (void)msg;
    },
    [self](io_batch& msg) { on_batch(self, msg); },
    [self](subscriber_room_atom, std::uint64_t id) { on_subscriber_room(self, id); },
    [self](inbox_room_atom) {
      if (self->state.conn) self->state.conn->inbox_room();
    },
    [self](io_closed& msg) { on_closed(self, msg); },
    [self](req_timeout_atom, const std::string& id, std::int64_t timeout_ms) {
      auto& st = self->state;
      auto it = st.pending.find(id);
      if (it == st.pending.end()) return;
      it->second.result.error = {make_error_code(ami_errc::timeout),
                                 "no complete answer to " + it->second.action_name + " within " +
                                     std::to_string(timeout_ms) + " ms"};
      complete(self, it);
    },
    [self](keepalive_atom, std::uint64_t gen) {
      auto& st = self->state;
      if (gen != st.generation || st.state != link_state_t::up) return;
      dispatch(self, actions::ping(), st.cfg.keepalive_timeout, std::nullopt, [self, gen](reply& r) {
        auto& st = self->state;
        if (gen != st.generation || st.state != link_state_t::up) return;
        if (r.ok() || r.error.code == make_error_code(ami_errc::rejected)) {
          schedule_keepalive(self);  // any answer proves the peer alive
        } else if (r.error.code == make_error_code(ami_errc::timeout) && st.conn) {
          st.conn->close({make_error_code(ami_errc::timeout),
                          "keepalive: no answer to Ping within " + std::to_string(st.cfg.keepalive_timeout.count()) +
                              " ms (dead peer)"});
        }
      });
    },
    [self](login_deadline_atom, std::uint64_t gen) {
      auto& st = self->state;
      if (gen != st.generation || !st.conn) return;
      if (st.state == link_state_t::connecting || st.state == link_state_t::logging_in)
        st.conn->close({make_error_code(ami_errc::timeout),
                        std::string(st.state == link_state_t::connecting ? "no banner" : "no login answer") +
                            " within " + std::to_string((st.cfg.connect_timeout + st.cfg.login_timeout).count()) +
                            " ms of connecting"});
    },
    [self](reconnect_atom, std::uint64_t gen) {
      auto& st = self->state;
      if (gen != st.generation) return;
      if (st.state == link_state_t::backoff || st.state == link_state_t::login_failed) start_connect(self);
    },
  };
}

}  // namespace
}  // namespace astra::ami::detail

namespace astra::ami {

caf::actor spawn_session(caf::actor_system& system, io_runtime& io, session_config config, session_hooks hooks) {
  return system.spawn(detail::session_impl, std::move(config), std::move(hooks), &io);
}

}  // namespace astra::ami
