// Channel and bridge actors of the ARI client (actor_core: per-actor requests, callbacks,
// waiters, coroutines) and the handle methods that run inside them. The client facade is in
// client.cpp, the dispatcher in dispatcher.cpp, the reconciliation after a (re)subscription
// in reconcile.cpp. Asio threads only decode frames and anon_send; every map below is owned by
// exactly one actor.
#include "actors/ari/client.hpp"

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ari/client_internal.hpp"
#include "generated/ari/events.hpp"

namespace astra::ari {
namespace {

// Bounded bookkeeping inside one actor.
constexpr std::size_t max_finished_playbacks_remembered = 64;
constexpr auto end_grace_extra = std::chrono::seconds(1);  // after request_timeout, an ended actor quits anyway

}  // namespace

namespace detail {
namespace {

// The adoption entry point when the handlers have none: nothing knows how to resume the
// call, so it is hung up (a caller is never left in silence).
task<void> hang_up_adopted(channel chan, session&, Channel) {
  auto done = co_await chan.hangup();
  if (!done) spdlog::warn("ari: hanging up adopted channel {} failed: {}", chan.id(), done.error().message());
}

// Lives for the program: a coroutine started from it may outlive any one client.
const adoption_handler& default_adoption() {
  static const adoption_handler handler = &hang_up_adopted;
  return handler;
}

}  // namespace

// Per-actor half of the API: pending requests, event callbacks, waiters, coroutines.
class actor_core {
 public:
  using kind = member_kind;

  actor_core(caf::event_based_actor* self, std::shared_ptr<shared_state> sh, kind k, std::string id,
             inflight_bound_ptr bound)
      : self_(self), sh_(std::move(sh)), kind_(k), id_(std::move(id)), bound_(std::move(bound)), api_(this) {}
  ~actor_core() {
    tasks_.clear();  // coroutine frames reference this core: destroy them first
  }

  caf::actor handle() const { return caf::actor_cast<caf::actor>(self_); }
  shared_state& shared() { return *sh_; }
  const shared_state& shared() const { return *sh_; }
  session& api() { return api_; }
  const std::string& id() const { return id_; }
  bool is_channel() const { return kind_ == kind::channel; }
  const inflight_bound_ptr& bound() const { return bound_; }
  const StasisStart* start_event() const { return start_ ? &*start_ : nullptr; }
  bool ended() const { return ended_; }

  void submit(result<rest_request> request, std::function<void(result<rest_response>)> done) {
    if (!request) {
      done(request.error());
      return;
    }
    auto tag = ++next_tag_;
    pending_.emplace(tag, std::move(done));
    auto me = handle();
    sh_->send(std::move(*request), [me, tag](result<rest_response> r) {
      caf::anon_send(me, reply_atom::value, reply_msg{tag, std::make_shared<result<rest_response>>(std::move(r))});
    });
  }

  // Like submit(), for an exchange outside ARI: `start` gets a completion callable once from
  // any thread; `done` runs inside this actor.
  void external(std::function<void(rest_callback)> start, std::function<void(result<rest_response>)> done) {
    auto tag = ++next_tag_;
    pending_.emplace(tag, std::move(done));
    auto me = handle();
    start([me, tag](result<rest_response> r) {
      caf::anon_send(me, reply_atom::value, reply_msg{tag, std::make_shared<result<rest_response>>(std::move(r))});
    });
  }

  void on_reply(const reply_msg& m) {
    auto it = pending_.find(m.tag);
    if (it == pending_.end()) return;
    auto done = std::move(it->second);
    pending_.erase(it);
    done(std::move(*m.reply));
    maybe_quit();
  }

  void add_callback(event_type t, std::function<void(const event&)> fn) { callbacks_.emplace_back(t, std::move(fn)); }
  void add_any(std::function<void(const event&)> fn) { any_.push_back(std::move(fn)); }
  void add_end(std::function<void(const failure&)> fn) { end_.push_back(std::move(fn)); }

  void add_waiter(std::function<bool(const event&)> match, std::function<void(result<event_ptr>)> done,
                  std::chrono::milliseconds timeout) {
    if (ended_) {
      done(failure{ari_errc::channel_gone, id_});
      return;
    }
    auto tag = ++next_tag_;
    waiters_.push_back({tag, std::move(match), std::move(done)});
    self_->delayed_send(caf::actor_cast<caf::actor>(self_), timeout, wait_tmo_atom::value, tag);
  }

  void on_wait_timeout(std::uint64_t tag) {
    auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const waiter& w) { return w.tag == tag; });
    if (it == waiters_.end()) return;
    auto done = std::move(it->done);
    waiters_.erase(it);
    done(failure{ari_errc::timeout, "waiting for an event on " + id_});
  }

  bool playback_finished(const std::string& id) const {
    return std::find(finished_.begin(), finished_.end(), id) != finished_.end();
  }

  // `handler`: the channel's handler (its end is reported through hooks.handler_ended);
  // false for coroutines a handler spawned (session::spawn), which are only logged.
  // A channel handler that ends by a throw (outcome failed or exception) ends its own call:
  // the channel, still in the app, is hung up (a caller is never left in silence).
  // The completion runs inside this actor (the task resumes here), so `this` is live.
  void start_task(task<void> body, bool handler = true) {
    tasks_.emplace_back(std::move(body));
    auto id = id_;
    auto sh = sh_;
    std::string app = start_ ? start_->application : std::string();
    tasks_.back().start([this, id, sh, app, handler](std::exception_ptr error) {
      const char* outcome = "completed";
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const call_ended& ended) {  // straight-line: the channel left, a normal end
          spdlog::debug("ari: handler for {} ended by {}", id, ended.reason.message());
        } catch (const failure& f) {  // `throw r.error()`, result::value() on an error
          outcome = "failed";
          spdlog::warn("ari: handler for {} failed: {}", id, f.message());
        } catch (const std::exception& e) {
          outcome = "exception";
          spdlog::error("ari: handler for {} threw: {}", id, e.what());
        } catch (...) {
          outcome = "exception";
          spdlog::error("ari: handler for {} threw a non-standard exception", id);
        }
      }
      if (handler && kind_ == kind::channel && !ended_ && sh->cfg.hangup_on_handler_failure &&
          std::string_view(outcome) != "completed")
        channel(this, id_).hangup().detach();
      if (handler && sh->hooks.handler_ended) {
        try {
          sh->hooks.handler_ended(app, outcome);
        } catch (...) {
        }
      }
    });
  }

  void set_handler(stasis_handler h) { handler_ = std::move(h); }

  // Runs the adoption entry point (client_handlers::on_adopt, else hang up) for a channel
  // found inside the app without an actor at a (re)subscription; `state` is as listed.
  void adopt(Channel state) {
    // Called in place (not copied): a coroutine lambda's captures live in this closure.
    const adoption_handler& h = sh_->handlers.on_adopt ? sh_->handlers.on_adopt : default_adoption();
    start_task(h(channel(this, id_), api_, std::move(state)));
  }

  void on_event(const event_ptr& ev) {
    if (ended_) return;
    const event& e = *ev;
    auto t = e.type();
    if (t == event_type::StasisStart && kind_ == kind::channel && e.channel_id() == id_ && !start_) {
      start_ = *e.get<StasisStart>();
      // Called in place (not copied): a coroutine lambda's captures live in this closure.
      const stasis_handler& h = handler_ ? handler_ : sh_->handlers.on_stasis_start;
      if (h) start_task(h(channel(this, id_), api_));
    }
    if (t == event_type::PlaybackFinished) {
      finished_.emplace_back(e.playback_id());
      if (finished_.size() > max_finished_playbacks_remembered) finished_.pop_front();
    }
    if (kind_ == kind::bridge && sh_->handlers.on_bridge_event) sh_->handlers.on_bridge_event(bridge(this, id_), api_, e);
    for (auto& [type, fn] : callbacks_)
      if (type == t) fn(e);
    for (auto& fn : any_) fn(e);
    for (std::size_t i = 0; i < waiters_.size();) {
      if (waiters_[i].match(e)) {
        auto done = std::move(waiters_[i].done);
        waiters_.erase(waiters_.begin() + static_cast<std::ptrdiff_t>(i));
        done(ev);
      } else {
        ++i;
      }
    }
    if (kind_ == kind::channel && e.channel_id() == id_ &&
        (t == event_type::StasisEnd || t == event_type::ChannelDestroyed))
      end(failure{ari_errc::channel_gone, std::string(e.type_name())});
    else if (kind_ == kind::bridge && e.bridge_id() == id_ && t == event_type::BridgeDestroyed)
      end(failure{ari_errc::channel_gone, "BridgeDestroyed"});
  }

  // The channel/bridge is gone: callbacks, waiters fail, then quit once replies are in.
  void end(const failure& why) {
    if (ended_) return;
    ended_ = true;
    for (auto& fn : end_) fn(why);
    if (kind_ == kind::bridge && sh_->handlers.on_bridge_end) sh_->handlers.on_bridge_end(bridge(this, id_), api_, why);
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters) w.done(why);
    if (!maybe_quit())
      self_->delayed_send(caf::actor_cast<caf::actor>(self_), sh_->cfg.request_timeout + end_grace_extra,
                          quit_atom::value);
  }

  bool maybe_quit() {
    if (ended_ && pending_.empty()) {
      self_->quit();
      return true;
    }
    return false;
  }

 private:
  struct waiter {
    std::uint64_t tag;
    std::function<bool(const event&)> match;
    std::function<void(result<event_ptr>)> done;
  };

  caf::event_based_actor* self_;
  std::shared_ptr<shared_state> sh_;
  kind kind_;
  std::string id_;
  inflight_bound_ptr bound_;
  session api_;
  stasis_handler handler_;
  std::optional<StasisStart> start_;
  std::uint64_t next_tag_ = 0;
  std::unordered_map<std::uint64_t, std::function<void(result<rest_response>)>> pending_;
  std::vector<std::pair<event_type, std::function<void(const event&)>>> callbacks_;
  std::vector<std::function<void(const event&)>> any_;
  std::vector<std::function<void(const failure&)>> end_;
  std::vector<waiter> waiters_;
  std::deque<std::string> finished_;
  bool ended_ = false;
  std::vector<root_task> tasks_;  // last: destroyed first
};

void submit(actor_core* core, result<rest_request> request, std::function<void(result<rest_response>)> done) {
  core->submit(std::move(request), std::move(done));
}

}  // namespace detail

namespace detail {
namespace {

struct member_state {
  std::unique_ptr<actor_core> core;
};

// A channel or bridge actor. Stops itself when its channel/bridge ends (see actor_core::end).
caf::behavior member_actor(caf::stateful_actor<member_state>* self, std::shared_ptr<shared_state> sh,
                           member_kind kind, std::string id, member_start start, inflight_bound_ptr bound) {
  self->state.core = std::make_unique<actor_core>(self, sh, kind, id, bound);
  self->state.core->set_handler(std::move(start.handler));
  if (start.adopted) self->state.core->adopt(*start.adopted);
  return {
      [self](ev_atom, const event_msg& m) {
        if (m.credited) self->state.core->bound()->release();
        self->state.core->on_event(m.ev);
      },
      [self](reply_atom, const reply_msg& m) { self->state.core->on_reply(m); },
      [self](gone_atom, const std::string& why) {
        self->state.core->end(failure{ari_errc::channel_gone, why});
      },
      [self](wait_tmo_atom, std::uint64_t tag) { self->state.core->on_wait_timeout(tag); },
      [self](quit_atom) { self->quit(); },
      [self](stop_atom) { self->quit(); },
  };
}

}  // namespace

caf::actor spawn_member_actor(caf::event_based_actor* parent, std::shared_ptr<shared_state> sh, member_kind kind,
                              std::string id, member_start start, inflight_bound_ptr bound) {
  return parent->spawn(member_actor, std::move(sh), kind, std::move(id), std::move(start), std::move(bound));
}

}  // namespace detail

using namespace detail;


// ------------------------------------------------------------------------------------------
// Handles
// ------------------------------------------------------------------------------------------

namespace {

// pending<T> around a generated operation, mapping its typed result with `map`.
template <class Op, class T, class Map>
pending<T> call_mapped(actor_core* core, Op op, Map map) {
  return pending<T>(core, [core, op = std::move(op), map](std::function<void(result<T>)> complete) {
    core->submit(to_request(op), [complete = std::move(complete), map](result<rest_response> r) {
      if (!r) return complete(r.error());
      auto typed = decode_response<Op>(r->status, r->body, r->reason);
      if (!typed) return complete(typed.error());
      complete(map(std::move(*typed)));
    });
  });
}

// An operation whose only required member is an id.
template <class Op>
Op with_id(std::string Op::*member, const std::string& id) {
  Op op{};
  op.*member = id;
  return op;
}

template <class Op>
pending<typename Op::response_type> call(actor_core* core, Op op) {
  return core->api().request(std::move(op));
}

// Registers the calling actor for the playback's events, then plays.
template <class Op>
pending<Playback> play_watched(actor_core* core, Op op, std::string playback_id) {
  if (playback_id.empty()) playback_id = core->shared().new_id("astra-pb");
  op.playbackId = playback_id;
  return pending<Playback>(core, [core, op = std::move(op), playback_id](std::function<void(result<Playback>)> complete) {
    caf::anon_send(core->shared().dispatcher, watch_atom::value, playback_id, core->handle(), bound_msg{core->bound()});
    core->submit(to_request(op), [complete = std::move(complete)](result<rest_response> r) {
      if (!r) return complete(r.error());
      complete(decode_response<Op>(r->status, r->body, r->reason));
    });
  });
}

std::vector<std::string> split_media(const std::string& media) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= media.size()) {
    auto comma = media.find(',', start);
    auto item = media.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

template <class Op>
pending<Channel> originate_like(actor_core* core, Op op, std::string id, stasis_handler handler) {
  return pending<Channel>(core, [core, op = std::move(op), id, handler = std::move(handler)](
                              std::function<void(result<Channel>)> complete) mutable {
    auto& sh = core->shared();
    caf::anon_send(sh.dispatcher, spawn_chan_atom::value, id, handler_msg{std::move(handler)});
    auto dispatcher = sh.dispatcher;
    core->submit(to_request(op), [complete = std::move(complete), dispatcher, id](result<rest_response> r) {
      result<Channel> c = r ? decode_response<Op>(r->status, r->body, r->reason) : result<Channel>(r.error());
      if (!c) caf::anon_send(dispatcher, abort_atom::value, true, id, std::string("originate failed"));
      complete(std::move(c));
    });
  });
}

}  // namespace

pending<rest_response> session::raw(rest_request request) {
  auto* core = core_;
  return pending<rest_response>(core, [core, request = std::move(request)](std::function<void(result<rest_response>)> complete) {
    core->submit(request, std::move(complete));
  });
}

pending<rest_response> session::external(std::function<void(rest_callback)> start) {
  auto* core = core_;
  return pending<rest_response>(core, [core, start = std::move(start)](std::function<void(result<rest_response>)> complete) {
    core->external(start, std::move(complete));
  });
}

pending<bridge> session::create_bridge(std::string type, std::string name) {
  auto* core = core_;
  return pending<bridge>(core, [core, type = std::move(type), name = std::move(name)](std::function<void(result<bridge>)> complete) {
    auto& sh = core->shared();
    auto id = sh.new_id("astra-bridge");
    caf::anon_send(sh.dispatcher, spawn_bridge_atom::value, id);
    bridges::create op;
    op.type = type;
    op.bridgeId = id;
    if (!name.empty()) op.name = name;
    auto dispatcher = sh.dispatcher;
    core->submit(to_request(op), [core, complete = std::move(complete), dispatcher, id](result<rest_response> r) {
      result<Bridge> b = r ? decode_response<bridges::create>(r->status, r->body, r->reason) : result<Bridge>(r.error());
      if (!b) {
        caf::anon_send(dispatcher, abort_atom::value, false, id, std::string("bridge creation failed"));
        return complete(b.error());
      }
      complete(bridge(core, b->id.empty() ? id : b->id));
    });
  });
}

pending<Channel> session::originate(channels::originate params, stasis_handler handler) {
  if (!params.channelId) params.channelId = core_->shared().new_id("astra-chan");
  if (!params.app && !params.extension && !params.context) params.app = core_->shared().first_app();
  auto id = *params.channelId;
  return originate_like(core_, std::move(params), id, std::move(handler));
}

pending<Channel> session::external_media(channels::external_media params, stasis_handler handler) {
  if (!params.channelId) params.channelId = core_->shared().new_id("astra-em");
  if (params.app.empty()) params.app = core_->shared().first_app();
  auto id = *params.channelId;
  return originate_like(core_, std::move(params), id, std::move(handler));
}

channel session::channel_of(std::string id) { return channel(core_, std::move(id)); }
bridge session::bridge_of(std::string id) { return bridge(core_, std::move(id)); }
void session::spawn(task<void> body) { core_->start_task(std::move(body), /*handler=*/false); }
std::string session::new_id(std::string_view prefix) { return core_->shared().new_id(prefix); }
const std::string& session::app() const { return core_->shared().first_app(); }

pending<void> channel::answer() { return call(core_, with_id(&channels::answer::channelId, id_)); }
pending<void> channel::hangup(std::string reason) {
  channels::hangup op;
  op.channelId = id_;
  if (!reason.empty()) op.reason = std::move(reason);
  return call(core_, std::move(op));
}
pending<void> channel::ring() { return call(core_, with_id(&channels::ring::channelId, id_)); }
pending<void> channel::ring_stop() { return call(core_, with_id(&channels::ring_stop::channelId, id_)); }
pending<Playback> channel::play(std::string media, std::string playback_id) {
  channels::play op;
  op.channelId = id_;
  op.media = split_media(media);
  return play_watched(core_, std::move(op), std::move(playback_id));
}
pending<LiveRecording> channel::record(std::string name, std::string format, channels::record options) {
  options.channelId = id_;
  options.name = std::move(name);
  options.format = std::move(format);
  return call(core_, std::move(options));
}
pending<void> channel::send_dtmf(std::string digits) {
  channels::send_dtmf op;
  op.channelId = id_;
  op.dtmf = std::move(digits);
  return call(core_, std::move(op));
}
pending<void> channel::mute(std::string direction) {
  channels::mute op;
  op.channelId = id_;
  op.direction = std::move(direction);
  return call(core_, std::move(op));
}
pending<void> channel::unmute(std::string direction) {
  channels::unmute op;
  op.channelId = id_;
  op.direction = std::move(direction);
  return call(core_, std::move(op));
}
pending<void> channel::hold() { return call(core_, with_id(&channels::hold::channelId, id_)); }
pending<void> channel::unhold() { return call(core_, with_id(&channels::unhold::channelId, id_)); }
pending<void> channel::start_moh(std::string moh_class) {
  channels::start_moh op;
  op.channelId = id_;
  if (!moh_class.empty()) op.mohClass = std::move(moh_class);
  return call(core_, std::move(op));
}
pending<void> channel::stop_moh() { return call(core_, with_id(&channels::stop_moh::channelId, id_)); }
pending<std::string> channel::get_var(std::string name) {
  channels::get_channel_var op;
  op.channelId = id_;
  op.variable = std::move(name);
  return call_mapped<channels::get_channel_var, std::string>(core_, std::move(op),
                                                             [](Variable v) { return std::move(v.value); });
}
pending<void> channel::set_var(std::string name, std::string value) {
  channels::set_channel_var op;
  op.channelId = id_;
  op.variable = std::move(name);
  op.value = std::move(value);
  return call(core_, std::move(op));
}
pending<Channel> channel::snoop(std::string spy, std::string whisper, std::string app) {
  channels::snoop_channel op;
  op.channelId = id_;
  op.spy = std::move(spy);
  op.whisper = std::move(whisper);
  op.app = app.empty() ? core_->shared().first_app() : std::move(app);
  return call(core_, std::move(op));
}
pending<void> channel::redirect(std::string endpoint) {
  channels::redirect op;
  op.channelId = id_;
  op.endpoint = std::move(endpoint);
  return call(core_, std::move(op));
}
pending<void> channel::continue_in_dialplan(std::string context, std::string extension,
                                            std::optional<std::int64_t> priority) {
  channels::continue_in_dialplan op;
  op.channelId = id_;
  if (!context.empty()) op.context = std::move(context);
  if (!extension.empty()) op.extension = std::move(extension);
  op.priority = priority;
  return call(core_, std::move(op));
}
pending<Channel> channel::get() { return call(core_, with_id(&channels::get::channelId, id_)); }

void channel::on(event_type type, std::function<void(const event&)> callback) {
  core_->add_callback(type, std::move(callback));
}
void channel::on_any(std::function<void(const event&)> callback) { core_->add_any(std::move(callback)); }
void channel::on_end(std::function<void(const failure& why)> callback) { core_->add_end(std::move(callback)); }

pending<event_ptr> channel::wait(event_type type, std::chrono::milliseconds timeout) {
  auto* core = core_;
  return pending<event_ptr>(core, [core, type, timeout](std::function<void(result<event_ptr>)> complete) {
    core->add_waiter([type](const event& e) { return e.type() == type; }, std::move(complete), timeout);
  });
}

pending<event_ptr> channel::wait_for(std::function<bool(const event&)> match, std::chrono::milliseconds timeout) {
  auto* core = core_;
  return pending<event_ptr>(core, [core, match = std::move(match), timeout](std::function<void(result<event_ptr>)> complete) {
    core->add_waiter(match, std::move(complete), timeout);
  });
}

pending<void> channel::wait_playback(std::string playback_id, std::chrono::milliseconds timeout) {
  auto* core = core_;
  return pending<void>(core, [core, playback_id = std::move(playback_id), timeout](std::function<void(result<void>)> complete) {
    if (core->playback_finished(playback_id)) return complete(result<void>{});
    core->add_waiter(
        [playback_id](const event& e) {
          return e.type() == event_type::PlaybackFinished && e.playback_id() == playback_id;
        },
        [complete = std::move(complete)](result<event_ptr> r) {
          if (!r) complete(r.error());
          else complete(result<void>{});
        },
        timeout);
  });
}

bool channel::active() const { return core_ && !core_->ended(); }

bool detail::ends_handler(const actor_core* core, const failure& f) noexcept {
  if (!core || core->shared().cfg.on_hangup != hangup_policy::end_handler) return false;
  if (f.code == ari_errc::channel_gone || f.code == ari_errc::cancelled) return true;
  return core->is_channel() && core->ended();
}
const StasisStart* channel::start_event() const { return core_ ? core_->start_event() : nullptr; }

pending<void> bridge::add(std::string channel_id, std::optional<std::string> role) {
  bridges::add_channel op;
  op.bridgeId = id_;
  op.channel = {std::move(channel_id)};
  op.role = std::move(role);
  return call(core_, std::move(op));
}
pending<void> bridge::add(std::vector<std::string> channel_ids) {
  bridges::add_channel op;
  op.bridgeId = id_;
  op.channel = std::move(channel_ids);
  return call(core_, std::move(op));
}
pending<void> bridge::remove(std::string channel_id) {
  bridges::remove_channel op;
  op.bridgeId = id_;
  op.channel = {std::move(channel_id)};
  return call(core_, std::move(op));
}
pending<Playback> bridge::play(std::string media, std::string playback_id) {
  bridges::play op;
  op.bridgeId = id_;
  op.media = split_media(media);
  return play_watched(core_, std::move(op), std::move(playback_id));
}
pending<LiveRecording> bridge::record(std::string name, std::string format, bridges::record options) {
  options.bridgeId = id_;
  options.name = std::move(name);
  options.format = std::move(format);
  return call(core_, std::move(options));
}
pending<void> bridge::start_moh(std::string moh_class) {
  bridges::start_moh op;
  op.bridgeId = id_;
  if (!moh_class.empty()) op.mohClass = std::move(moh_class);
  return call(core_, std::move(op));
}
pending<void> bridge::stop_moh() { return call(core_, with_id(&bridges::stop_moh::bridgeId, id_)); }
pending<void> bridge::destroy() { return call(core_, with_id(&bridges::destroy::bridgeId, id_)); }
pending<Bridge> bridge::get() { return call(core_, with_id(&bridges::get::bridgeId, id_)); }

}  // namespace astra::ari
