// The ARI client facade: starts the dispatcher and the event socket (or none: injected
// frames only), stops them, reports stats, and sends REST from outside any actor. Thread
// affinity: any thread; the state it shares with the actors is detail::shared_state.
#include "actors/ari/client.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ari/client_internal.hpp"
#include "generated/ari/events.hpp"

namespace astra::ari {

using namespace detail;


struct client::impl {
  std::shared_ptr<shared_state> sh;
  caf::actor_system* system = nullptr;
  std::atomic<bool> stopped{false};
};

client::client(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
client::~client() { stop(); }

result<std::unique_ptr<client>> client::start(caf::actor_system& system, boost::asio::io_context& io,
                                              client_config config, client_handlers handlers, client_hooks hooks) {
  if (config.apps.empty()) return failure{ari_errc::invalid_argument, "at least one Stasis application is required"};
  auto sh = std::make_shared<shared_state>(std::move(config));
  sh->handlers = std::move(handlers);
  sh->hooks = std::move(hooks);
  auto request_hook = sh->hooks.request;
  auto pool = http_pool::create(io, sh->cfg, [request_hook](std::string_view method, int status) {
    if (request_hook) request_hook(method, status);
  });
  if (!pool) return pool.error();
  sh->pool = *pool;

  sh->dispatcher = system.spawn(dispatcher_actor, sh);

  std::weak_ptr<shared_state> weak = sh;
  event_stream_callbacks cb;
  cb.connected = [weak] {
    auto s = weak.lock();
    if (!s) return;
    s->is_connected = true;
    {
      std::lock_guard lock(s->link_mu);
      s->replaced_apps.clear();  // subscribed again: the apps are ours (Asterisk's latest subscriber)
      s->down_reason.clear();
      s->retry_at.reset();
    }
    spdlog::info("ari: event socket connected ({})", s->cfg.url);
    if (s->hooks.connected) s->hooks.connected(true);
    caf::anon_send(s->dispatcher, conn_atom::value);
  };
  cb.disconnected = [weak](const failure& why, std::chrono::milliseconds retry_in) {
    auto s = weak.lock();
    if (!s) return;
    bool was = s->is_connected.exchange(false);
    // ApplicationReplaced: the detail alone says it ("application 'x' replaced by another client").
    std::string reason = why.code == make_error_code(ari_errc::application_replaced) ? why.detail : why.message();
    {
      std::lock_guard lock(s->link_mu);
      s->down_reason = reason;
      if (retry_in.count() >= 0) s->retry_at = std::chrono::steady_clock::now() + retry_in;
      else s->retry_at.reset();
    }
    if (retry_in.count() >= 0)
      spdlog::warn("ari: event socket down: {}; retrying in {} ms", reason, retry_in.count());
    else
      spdlog::error("ari: event socket down: {}; not reconnecting", reason);
    if (was && s->hooks.connected) s->hooks.connected(false);
    if (s->hooks.disconnected) s->hooks.disconnected(why, retry_in);
  };
  cb.frame = [weak](std::string frame) {
    if (auto s = weak.lock()) s->on_frame(frame);
  };
  cb.unmatched_rest_response = [](int status, std::string message) {
    spdlog::warn("ari: RESTResponse without a pending request: {} {}", status, message);
  };
  cb.rest_probe = [](bool supported) {
    if (supported) spdlog::info("ari: REST over WebSocket in use");
    else spdlog::warn("ari: REST over WebSocket not answered (Asterisk < 22.4?); using HTTP");
  };
  auto p = std::make_shared<impl>();
  p->sh = sh;
  p->system = &system;
  if (!sh->cfg.event_socket) return std::unique_ptr<client>(new client(std::move(p)));  // injected frames only
  auto stream = event_stream::create(io, sh->cfg, std::move(cb));
  if (!stream) {
    caf::anon_send(sh->dispatcher, stop_atom::value);
    return stream.error();
  }
  sh->stream = *stream;
  sh->stream->start();
  return std::unique_ptr<client>(new client(std::move(p)));
}

void client::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  auto& sh = impl_->sh;
  sh->stopping = true;
  if (sh->stream) sh->stream->stop();
  caf::anon_send(sh->dispatcher, stop_atom::value);
  if (sh->pool) sh->pool->stop();
}

client_stats client::stats() const {
  auto& sh = *impl_->sh;
  client_stats s;
  s.channel_actors = sh.channel_actors.load();
  s.bridge_actors = sh.bridge_actors.load();
  s.events = sh.events.load();
  s.decode_errors = sh.decode_errors.load();
  s.unrouted = sh.unrouted.load();
  s.dropped_dispatch = sh.dispatch_bound.dropped();
  s.dropped_actor = sh.dropped_actor.load();
  s.connects = sh.stream ? sh.stream->connects() : 0;
  s.vanished = sh.vanished.load();
  s.connected = sh.is_connected.load();
  s.rest_over_websocket = sh.cfg.rest_over_websocket && sh.stream && sh.stream->rest_supported();
  s.replacements = sh.replacements.load();
  s.reconnect_channels.adopted = sh.rc_adopted.load();
  s.reconnect_channels.hung_up = sh.rc_hung_up.load();
  s.reconnect_channels.continued = sh.rc_continued.load();
  s.reconnect_channels.gone = sh.rc_gone.load();
  s.reconnect_channels.failed = sh.rc_failed.load();
  std::lock_guard lock(sh.link_mu);
  s.replaced_apps = sh.replaced_apps;
  s.down_reason = sh.down_reason;
  if (sh.retry_at && !s.connected) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*sh.retry_at - std::chrono::steady_clock::now());
    s.retry_in = left.count() > 0 ? left : std::chrono::milliseconds(0);
  }
  return s;
}

bool client::inject_frame(std::string frame) { return impl_->sh->on_frame(frame); }
std::size_t client::dispatch_backlog() const { return impl_->sh->dispatch_bound.in_flight(); }

std::size_t client::channel_actors() const { return impl_->sh->channel_actors.load(); }
std::size_t client::bridge_actors() const { return impl_->sh->bridge_actors.load(); }
bool client::connected() const { return impl_->sh->is_connected.load(); }
const client_config& client::config() const { return impl_->sh->cfg; }

void client::send(rest_request request, rest_callback done) { impl_->sh->send(std::move(request), std::move(done)); }

void client::originate(channels::originate params, std::function<void(result<Channel>)> done, stasis_handler handler) {
  auto& sh = impl_->sh;
  if (!params.channelId) params.channelId = sh->new_id("astra-chan");
  if (!params.app && !params.extension && !params.context) params.app = sh->first_app();
  auto id = *params.channelId;
  auto req = to_request(params);
  if (!req) {
    if (done) done(req.error());
    return;
  }
  caf::anon_send(sh->dispatcher, spawn_chan_atom::value, id, handler_msg{std::move(handler)});
  auto dispatcher = sh->dispatcher;
  sh->send(std::move(*req), [done = std::move(done), dispatcher, id](result<rest_response> r) {
    result<Channel> c = r ? decode_response<channels::originate>(r->status, r->body, r->reason) : result<Channel>(r.error());
    if (!c) caf::anon_send(dispatcher, abort_atom::value, true, id, std::string("originate failed"));
    if (done) done(std::move(c));
  });
}

}  // namespace astra::ari
