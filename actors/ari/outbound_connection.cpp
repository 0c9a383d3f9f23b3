// One outbound ARI WebSocket after its upgrade: registration (ApplicationRegistered), frames to
// the call's dispatcher, RESTRequest/RESTResponse correlation with deadlines, the bounded
// write queue and the close rules (contract: outbound_server.hpp; threads:
// outbound_connection.hpp).
#include "actors/ari/outbound_connection.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "generated/ari/events.hpp"

namespace astra::ari::outbound {
namespace net = boost::asio;

namespace {

constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_policy = 1008;

// REST of the call's actors: onto the socket's strand, or failed at once once it is gone.
class socket_transport final : public rest_transport {
 public:
  explicit socket_transport(std::weak_ptr<connection> c) : conn_(std::move(c)) {}
  void send(rest_request request, rest_callback done, std::chrono::milliseconds timeout) override {
    auto c = conn_.lock();
    if (!c) {
      done(failure{ari_errc::disconnected, "outbound socket closed"});
      return;
    }
    c->post([c, request = std::move(request), done = std::move(done), timeout]() mutable {
      c->start_rest(std::move(request), std::move(done), timeout);
    });
  }

 private:
  std::weak_ptr<connection> conn_;
};

// The per-call wrapper of the app's handler: runs it; if the channel is still in Stasis then,
// waits up to `grace` for it to leave (the handler may have hung up or continued it: its
// StasisEnd is on the way), then applies after_handler. A throw of the handler is rethrown
// after that (counted as its outcome).
task<void> run_per_call(stasis_handler inner, after_handler_policy policy, std::chrono::milliseconds grace,
                        channel chan, session& ari) {
  std::exception_ptr error;
  try {
    co_await inner(chan, ari);
  } catch (...) {
    error = std::current_exception();
  }
  if (chan.active() && policy != after_handler_policy::keep) {
    try {
      auto left = co_await chan.wait(event_type::StasisEnd, grace);
      if (!left && chan.active()) {
        if (policy == after_handler_policy::hangup) (void)co_await chan.hangup();
        else (void)co_await chan.continue_in_dialplan();
      }
    } catch (...) {  // call_ended: the channel left meanwhile; nothing else to do
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

connection::connection(std::shared_ptr<server_core> core, net::any_io_executor strand,
                       std::shared_ptr<socket_ops> ops, std::uint64_t number)
    : core_(std::move(core)), strand_(std::move(strand)), ops_(std::move(ops)), number_(number), registration_timer_(strand_),
      close_timer_(strand_) {}

connection::~connection() = default;

void connection::post(std::function<void()> fn) { net::post(strand_, std::move(fn)); }

void connection::opened() {
  registration_timer_.expires_after(core_->cfg.handshake_timeout);
  registration_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->registered_) return;
    self->close(close_reason::registration_timeout, close_policy, "no ApplicationRegistered");
  });
}

void connection::on_text(std::string text) {
  if (finished_) return;
  // RESTResponse frames never reach the dispatcher (cheap test before the parse).
  if (text.find("\"RESTResponse\"") != std::string::npos) {
    on_rest_response(text);
    return;
  }
  if (!registered_) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_object() && doc.value("type", "") == "ApplicationRegistered" && doc.contains("application") &&
        doc["application"].is_string() && !doc["application"].get_ref<const std::string&>().empty()) {
      on_registered(doc["application"].get<std::string>());
    } else {
      core_->invalid_frames.fetch_add(1, std::memory_order_relaxed);
      close(close_reason::bad_first_frame, close_policy, "expected ApplicationRegistered");
    }
    return;
  }
  if (closing_ || !sh_) return;
  auto decode_errors = sh_->decode_errors.load(std::memory_order_relaxed);
  if (!sh_->on_frame(text) && sh_->decode_errors.load(std::memory_order_relaxed) != decode_errors)
    core_->invalid_frames.fetch_add(1, std::memory_order_relaxed);
}

void connection::on_registered(const std::string& application) {
  registered_ = true;
  registration_timer_.cancel();
  auto colon = application.find(':');
  mode_ = colon == std::string::npos ? outbound_mode::persistent : outbound_mode::per_call;
  app_base_ = application.substr(0, colon);
  auto it = core_->apps.find(app_base_);
  if (it == core_->apps.end()) {
    spdlog::warn("ari outbound: no handler for application '{}'; closing the socket", app_base_);
    close(close_reason::no_handler, close_policy, "no handler for this application");
    return;
  }
  const auto& cfg = core_->cfg;
  client_config cc;
  cc.url.clear();
  cc.user.clear();
  cc.apps = {application};
  cc.request_timeout = cfg.request_timeout;
  cc.on_hangup = cfg.on_hangup;
  cc.on_reconnect = cfg.on_reconnect;
  cc.channel_queue = cfg.channel_queue;
  cc.dispatch_queue = cfg.dispatch_queue;
  sh_ = std::make_shared<detail::shared_state>(std::move(cc), core_->id_salt + std::to_string(number_));
  sh_->transport = std::make_shared<socket_transport>(weak_from_this());
  sh_->handlers = it->second->handlers;
  if (mode_ == outbound_mode::per_call) {
    sh_->cfg.hangup_on_handler_failure = false;  // after_handler decides, also after a throw
    sh_->handlers.on_stasis_start = [inner = it->second->handlers.on_stasis_start, policy = cfg.after_handler,
                                     grace = cfg.after_handler_grace](channel chan, session& ari) {
      return run_per_call(inner, policy, grace, chan, ari);
    };
  }
  auto core = core_;
  auto base = app_base_;
  sh_->hooks.event = [core](std::string_view type) {
    if (core->hooks.event) core->hooks.event(type);
  };
  sh_->hooks.request = [core](std::string_view method, int status) {
    if (core->hooks.request) core->hooks.request(method, status);
  };
  sh_->hooks.handler_ended = [core, base](std::string_view, std::string_view outcome) {
    if (core->hooks.handler_ended) core->hooks.handler_ended(base, outcome);
  };
  // Called under shared_state::counts_mu, one call at a time and in order (also after the
  // socket is gone, while the actors stop): the server totals follow every change; the
  // connection hears of its channel count for the per-call close rule.
  auto last = std::make_shared<std::pair<std::size_t, std::size_t>>(0, 0);
  sh_->hooks.actors = [core, last, weak = weak_from_this()](std::size_t channels, std::size_t bridges) {
    core->channel_actors.fetch_add(static_cast<std::ptrdiff_t>(channels) - static_cast<std::ptrdiff_t>(last->first));
    core->bridge_actors.fetch_add(static_cast<std::ptrdiff_t>(bridges) - static_cast<std::ptrdiff_t>(last->second));
    *last = {channels, bridges};
    if (auto self = weak.lock()) self->post([self, channels] { self->on_channel_count(channels); });
  };
  sh_->hooks.dropped = [](std::string_view queue, std::uint64_t total) {
    spdlog::warn("ari outbound: queue {} full; {} events dropped so far", queue, total);
  };
  sh_->dispatcher = core_->system->spawn(detail::dispatcher_actor, sh_);
  (mode_ == outbound_mode::per_call ? core_->per_call : core_->persistent).fetch_add(1, std::memory_order_relaxed);
  core_->live_registered.fetch_add(1, std::memory_order_relaxed);
  if (core_->hooks.connection) core_->hooks.connection(app_base_, mode_, +1);
  // Persistent: Asterisk (re)connected; channels already inside the app get on_reconnect.
  if (mode_ == outbound_mode::persistent) caf::anon_send(sh_->dispatcher, detail::conn_atom::value);
}

void connection::on_rest_response(std::string_view text) {
  auto decoded = decode_ws_response(text);
  if (!decoded) {
    core_->invalid_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = pending_.find(decoded->request_id);
  if (it == pending_.end()) {
    core_->unmatched.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("ari outbound: RESTResponse for unknown request_id '{}'", decoded->request_id);
    return;
  }
  auto done = std::move(it->second.done);
  it->second.timer->cancel();
  pending_.erase(it);
  rest_response r;
  r.status = static_cast<int>(decoded->status_code);
  r.reason = std::move(decoded->reason_phrase);
  r.content_type = decoded->content_type.value_or("");
  r.body = decoded->message_body.value_or("");
  done(std::move(r));
}

void connection::on_channel_count(std::size_t channels) {
  if (channels > 0) had_channel_ = true;
  // Per call: the call's channel actor is gone (StasisEnd, ChannelDestroyed): the call ended.
  if (mode_ == outbound_mode::per_call && had_channel_ && channels == 0)
    close(close_reason::call_ended, close_normal, "call ended");
}

void connection::start_rest(rest_request request, rest_callback done, std::chrono::milliseconds timeout) {
  if (closing_ || finished_ || !ops_) {
    done(failure{ari_errc::disconnected, "outbound socket closed: " + request.method + " " + request.path});
    return;
  }
  if (pending_.size() >= outbound_max_pending_requests) {
    done(failure{ari_errc::queue_full, "outbound socket: too many REST requests in flight"});
    return;
  }
  std::string id = "astra-" + std::to_string(++next_request_);
  std::string frame = encode_ws_request(request, id);
  if (writes_.size() >= outbound_max_queued_writes || write_bytes_ + frame.size() > outbound_max_queued_write_bytes) {
    done(failure{ari_errc::queue_full, "outbound socket: write queue full"});
    return;
  }
  if (timeout.count() <= 0) timeout = core_->cfg.request_timeout;
  auto timer = std::make_unique<net::steady_timer>(strand_);
  timer->expires_after(timeout);
  timer->async_wait([weak = weak_from_this(), id](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    auto it = self->pending_.find(id);
    if (it == self->pending_.end()) return;
    auto cb = std::move(it->second.done);
    self->pending_.erase(it);
    self->core_->request_timeouts.fetch_add(1, std::memory_order_relaxed);
    cb(failure{ari_errc::timeout, "RESTResponse " + id});
  });
  pending_.emplace(std::move(id), pending_request{std::move(done), std::move(timer)});
  enqueue_write(std::move(frame));
}

void connection::enqueue_write(std::string frame) {
  write_bytes_ += frame.size();
  writes_.push_back(std::move(frame));
  write_next();
}

void connection::write_next() {
  if (writing_ || writes_.empty() || !ops_ || closing_) return;
  writing_ = true;
  ops_->async_write_text(writes_.front(), [weak = weak_from_this()](bool ok) {
    auto self = weak.lock();
    if (!self) return;
    self->writing_ = false;
    if (!self->writes_.empty()) {
      self->write_bytes_ -= self->writes_.front().size();
      self->writes_.pop_front();
    }
    if (!ok) return;  // the read loop sees the failure and finishes the connection
    if (self->closing_ && self->ops_ && self->reason_) {
      self->ops_->async_close(self->close_code_, std::move(self->close_text_));
      return;
    }
    self->write_next();
  });
}

void connection::close(close_reason why, std::uint16_t code, std::string text) {
  if (closing_ || finished_) return;
  closing_ = true;
  reason_ = why;
  close_code_ = code;
  close_text_ = text;
  writes_.erase(writes_.begin() + (writing_ ? 1 : 0), writes_.end());  // nothing more goes out
  write_bytes_ = writes_.empty() ? 0 : writes_.front().size();
  // A write in progress must complete first (Beast: one write operation at a time).
  if (!writing_ && ops_) ops_->async_close(code, std::move(text));
  // The peer has handshake_timeout to answer the close; then the socket is cut.
  close_timer_.expires_after(core_->cfg.handshake_timeout);
  close_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->finished_ || !self->ops_) return;
    self->ops_->abort();
  });
}

void connection::fail_pending(const failure& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  core_->failed_on_close.fetch_add(pending.size(), std::memory_order_relaxed);
  for (auto& [id, p] : pending) {
    p.timer->cancel();
    p.done(why);
  }
}

void connection::finished(close_reason why) {
  if (finished_) return;
  finished_ = true;
  ops_ = nullptr;
  registration_timer_.cancel();
  close_timer_.cancel();
  close_reason reason = reason_.value_or(why);
  core_->closes[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (core_->hooks.closed) core_->hooks.closed(reason);
  const std::string why_text = "outbound socket closed (" + std::string(to_string(reason)) + ")";
  // A per-call socket is the call: its loss is the channel's end for the handler (a
  // straight-line handler ends normally); a persistent socket's loss is a disconnection.
  fail_pending(failure{mode_ == outbound_mode::per_call ? ari_errc::channel_gone : ari_errc::disconnected, why_text});
  // A write in flight keeps its frame (the front) until its handler runs.
  writes_.erase(writes_.begin() + (writing_ ? 1 : 0), writes_.end());
  if (sh_) {
    // The socket's end is the end of every actor it carried.
    caf::anon_send(sh_->dispatcher, detail::lost_atom::value, why_text);
    core_->live_registered.fetch_sub(1, std::memory_order_relaxed);
    if (core_->hooks.connection) core_->hooks.connection(app_base_, mode_, -1);
  }
}

}  // namespace astra::ari::outbound
