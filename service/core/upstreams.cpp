#include "service/core/upstreams.hpp"

#include <utility>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>

#include "actors/agi/async_agi.hpp"
#include "actors/ami/session.hpp"
#include "actors/ari/client.hpp"
#include "actors/common/inflight_bound.hpp"
#include "actors/common/io_runtime.hpp"
#include "generated/ari/events.hpp"
#include "generated/ari/models.hpp"
#include "protocols/common/json_string.hpp"
#include "service/bus/nats_bus.hpp"
#include "service/core/ari_spread.hpp"
#include "service/core/bus_requests.hpp"
#include "service/core/logging.hpp"
#include "service/core/notify.hpp"
#include "service/metrics/astra_metrics.hpp"
#include "service/metrics/bus_metrics.hpp"

namespace astra::runtime {

namespace {

using namespace std::chrono_literals;

// Metric label for an AMI action outcome: "success" or the error's short name.
std::string outcome_label(std::error_code ec) {
  if (!ec) return "success";
  std::string out;
  for (char c : ec.message()) {
    if (out.size() >= 32) break;
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
  }
  return out.empty() ? "error" : out;
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()); }

// Runs the handler of the app the channel entered (parameters by value: the frame owns them).
task<void> run_for_app(std::shared_ptr<std::map<std::string, ari::stasis_handler>> by_app,
                       ari::stasis_handler fallback, ari::channel chan, ari::session& ari) {
  const auto* start = chan.start_event();
  auto it = start ? by_app->find(start->application) : by_app->end();
  ari::stasis_handler h = it != by_app->end() ? it->second : fallback;
  if (h) co_await h(std::move(chan), ari);
}

// Runs the adoption entry point of the app a channel found inside the application (without an
// actor) at a (re)subscription is in (servers[].ari.on_reconnect: adopt); the app is the first
// token of its Stasis data. Without an entry point for it the channel is hung up: nothing
// knows how to resume the call. Parameters by value: the frame owns them.
task<void> adopt_for_app(std::shared_ptr<std::map<std::string, ari::adoption_handler>> by_app,
                         ari::adoption_handler fallback, ari::channel chan, ari::session& ari, ari::Channel state) {
  std::string_view data = state.dialplan.app_data;
  auto it = by_app->find(std::string(data.substr(0, data.find(','))));
  ari::adoption_handler h = it != by_app->end() ? it->second : fallback;
  if (h) {
    co_await h(std::move(chan), ari, std::move(state));
    co_return;
  }
  auto hung_up = co_await chan.hangup();
  if (!hung_up) spdlog::warn("ari: hanging up adopted channel {} failed: {}", chan.id(), hung_up.error().message());
}

ari::reconnect_policy to_client_policy(config::ari_reconnect_policy p) {
  switch (p) {
    case config::ari_reconnect_policy::continue_: return ari::reconnect_policy::continue_in_dialplan;
    case config::ari_reconnect_policy::adopt: return ari::reconnect_policy::adopt;
    case config::ari_reconnect_policy::hangup: break;
  }
  return ari::reconnect_policy::hangup;
}

// One AMI action from the bus (bus_ami_action): asks the session and replies once. Its inputs
// are spawn arguments, not lambda captures: CAF 0.17 dereferences a null argument tuple when a
// function actor is spawned without arguments (UBSan: reference binding to null pointer).
void bus_action_actor(caf::event_based_actor* self, caf::actor session, ami::action act,
                      std::chrono::milliseconds timeout, std::function<void(std::string)> reply) {
  self->request(session, timeout + 500ms, ami::request{std::move(act), timeout})
      .then([self, reply](ami::reply& r) {
              reply(ami_reply_json(r));
              self->quit();
            },
            [self, reply](caf::error& e) {
              reply(bus_error(e == caf::sec::request_timeout ? "timeout" : "disconnected", caf::to_string(e)));
              self->quit();
            });
}

class server_runtime_impl final : public server_runtime, public std::enable_shared_from_this<server_runtime_impl> {
 public:
  server_runtime_impl(caf::actor_system& system, io_runtime& io, const config::config& cfg,
                      const config::server_config& server, metrics::astra_metrics& m, status_board& board,
                      const registrations& regs, agi::async_agi* async, bus::nats_bus* bus, std::size_t bus_index,
                      metrics::bus_metrics* bus_metrics)
      : system_(system), io_(io), cfg_(cfg), server_(server), m_(m), board_(board), regs_(regs),
        async_(server.ami && server.ami->async_agi ? async : nullptr), bus_(bus), bus_metrics_(bus_metrics),
        bus_index_(bus_index),
        upstream_allowed_(bus == nullptr) {
    const std::string& n = server_.name;
    board_.add_server(n);
    m_.add_server(n, server_.ami.has_value(), server_.ari.has_value());
    if (server_.ami) {
      board_.configure_link(n, "ami", server_.ami->host + ":" + std::to_string(server_.ami->port),
                            server_.ami->secret.describe());
      ami_events_ = &m_.ami_events.with({n});
      ami_oversized_ = &m_.ami_oversized.with({n});
      ami_handler_errors_ = &m_.ami_handler_errors.with({n});
      ami_connected_ = &m_.ami_connected.with({n});
      ami_reconnects_ = &m_.ami_reconnects.with({n});
    }
    if (server_.ari) {
      board_.configure_link(n, "ari", server_.ari->url, server_.ari->password.describe());
      ari_connected_ = &m_.ari_connected.with({n});
      ari_channels_ = &m_.ari_channel_actors.with({n});
      ari_bridges_ = &m_.ari_bridge_actors.with({n});
      // The configured policy's success series exists (at 0) before the first subscription.
      m_.ari_reconnect_channels.with({n, std::string(config::to_string(server_.ari->on_reconnect)), "ok"});
    }
  }

  ~server_runtime_impl() override { shutdown(); }

  const std::string& name() const override { return server_.name; }
  std::vector<const ami_registration*> ami_subscriptions() const override {
    std::vector<const ami_registration*> out;
    for (const auto& r : regs_.ami)
      if (r.server.empty() || r.server == server_.name) out.push_back(&r);
    return out;
  }
  bool has_ami() const override { return server_.ami.has_value(); }
  void ami_handler_failed() override {
    if (ami_handler_errors_) ami_handler_errors_->inc();
  }

  bool upstream_allowed() const override { return upstream_allowed_.load(); }
  void set_upstream_allowed(bool allowed) override {
    const bool was = upstream_allowed_.exchange(allowed);
    if (auto sup = supervisor()) caf::anon_send(sup, lease_atom::value);
    if (was && !allowed) {
      // The supervisor stops both links now (no reconnect follows): they are down here.
      if (ami_connected_) ami_connected_->set(0);
      if (ari_connected_) ari_connected_->set(0);
      if (server_.ami) board_.link_down(server_.name, "ami", "standby: the bus lease is not held here");
      if (server_.ari) board_.link_down(server_.name, "ari", "standby: the bus lease is not held here");
    }
  }
  void forward_ami_events(const std::vector<ami::message_ptr>& events) override {
    if (bus_) bus_->publish_ami_events(bus_index_, events, unix_ms_now());
  }

  // Requests from the bus in flight for this server (AMI actions and ARI requests together):
  // beyond the bound a request is answered at once with code "busy" (counted in the bound's
  // drops) instead of queueing without limit. Each in-flight request holds one credit until
  // its reply is written.
  static constexpr std::size_t max_bus_requests_in_flight = 256;

  // Wraps `reply` so that answering returns the request's credit; empty when none is left
  // (the request was answered "busy").
  std::function<void(std::string)> take_bus_credit(std::function<void(std::string)> reply) {
    if (!bus_requests_.try_acquire()) {
      if (!bus_busy_logged_.exchange(true))
        spdlog::warn(log_fields("bus requests refused as busy (logged once; counted in /v1/status queues)",
                                "\"server\":" + json_quote(server_.name) +
                                    ",\"max_in_flight\":" + std::to_string(max_bus_requests_in_flight)));
      reply(bus_error("busy", std::to_string(max_bus_requests_in_flight) + " bus requests in flight for " + server_.name));
      return {};
    }
    auto self = shared_from_this();
    return [self, reply = std::move(reply)](std::string json) {
      reply(std::move(json));
      self->bus_requests_.release();
    };
  }

  void bus_ami_action(std::string request, std::function<void(std::string)> reply_to_requester) override {
    auto reply = take_bus_credit(std::move(reply_to_requester));
    if (!reply) return;
    if (!server_.ami) return reply(bus_error("invalid", "server " + server_.name + " has no AMI"));
    std::string why;
    auto parsed = parse_ami_request(request, why);
    if (!parsed) return reply(bus_error("invalid", why));
    ami::action act = std::move(*parsed);
    caf::actor session;
    {
      std::lock_guard lock(mutex_);
      session = ami_session_;
    }
    if (!session) return reply(bus_error("disconnected", "no AMI session to " + server_.name));
    const auto timeout = server_.ami->action_timeout;
    // One short-lived actor per request: it asks the session (deadline: the action timeout,
    // plus a margin for the session's own reply) and quits after replying.
    system_.spawn(bus_action_actor, session, std::move(act), timeout, std::move(reply));
  }

  void bus_ari_request(std::string request, std::function<void(std::string)> reply_to_requester) override {
    auto reply = take_bus_credit(std::move(reply_to_requester));
    if (!reply) return;
    if (!server_.ari) return reply(bus_error("invalid", "server " + server_.name + " has no ARI"));
    std::string why;
    auto req = parse_ari_request(request, why);
    if (!req) return reply(bus_error("invalid", why));
    std::lock_guard lock(mutex_);
    if (!ari_client_) return reply(bus_error("disconnected", "no ARI client for " + server_.name));
    // The client's pool enforces servers[].ari.request_timeout; `done` runs on an Asio thread.
    ari_client_->send(std::move(*req), [reply](result<ari::rest_response> r) { reply(ari_reply_json(r)); });
  }
  const config::queue_config& subscriber_queue() const override { return cfg_.queues.ami_subscriber; }

  backoff_policy restart_policy() const override {
    return {cfg_.backoff.initial, cfg_.backoff.max, cfg_.backoff.multiplier, cfg_.backoff.jitter};
  }

  caf::actor spawn_ami_session() override {
    const auto& a = *server_.ami;
    ami::session_config sc;
    sc.name = server_.name;
    sc.host = a.host;
    sc.port = a.port;
    sc.username = a.username;
    sc.secret = a.secret.value;
    sc.md5 = a.md5;
    sc.events = a.events;
    sc.push_event_filters = a.event_filter == config::ami_event_filter::automatic;
    sc.tls.enabled = a.tls.enabled;
    sc.tls.ca_file = a.tls.ca_file;
    sc.tls.verify = a.tls.verify;
    sc.tls.server_name = a.tls.server_name;
    sc.connect_timeout = a.connect_timeout;
    sc.login_timeout = a.login_timeout;
    sc.request_timeout = a.action_timeout;
    sc.write_timeout = a.write_timeout;
    sc.keepalive_interval = a.keepalive_interval;
    sc.keepalive_timeout = a.keepalive_timeout;
    sc.reconnect = true;
    sc.reconnect_backoff = restart_policy();
    sc.login_failure_backoff = {cfg_.backoff.login_failure_delay, cfg_.backoff.login_failure_delay * 10,
                                cfg_.backoff.multiplier, cfg_.backoff.jitter};
    sc.inbox_capacity = cfg_.queues.ami_inbox.capacity;
    sc.inbox_bytes = cfg_.queues.ami_inbox.bytes;
    sc.read_limits.line_bytes = a.read_line_bytes;
    sc.read_limits.headers = a.read_headers;
    sc.read_limits.message_bytes = a.read_message_bytes;
    sc.read_limits.buffered_bytes = a.read_message_bytes + 64 * 1024;
    sc.max_read_stall = a.max_read_stall;

    ami::session_hooks hooks;
    auto self = shared_from_this();
    hooks.connected = [self](std::string_view) {
      self->ami_connected_->set(1);
      // The first login of the process is a connect; every later one (after a lost link or a
      // restarted session) is a reconnect.
      if (self->ami_ever_up_.exchange(true)) self->ami_reconnects_->inc();
      self->board_.link_up(self->server_.name, "ami");
      notify_each(self->regs_.lifecycle.link_changed, "link_changed", std::string_view(self->server_.name),
                  std::string_view("ami"), true);
    };
    hooks.disconnected = [self](std::string_view, const failure& why) {
      self->ami_connected_->set(0);
      self->board_.link_down(self->server_.name, "ami", why.message());
      notify_each(self->regs_.lifecycle.link_changed, "link_changed", std::string_view(self->server_.name),
                  std::string_view("ami"), false);
    };
    hooks.event_received = [self](std::string_view) { self->ami_events_->inc(); };
    // Per action: series found through the families' read-mostly index (no lock held
    // exclusively, no allocation once the series exist; "success" fits a short string).
    hooks.action_done = [self](std::string_view action, std::error_code outcome, double seconds) {
      self->m_.ami_action_duration.labels(self->server_.name, action).observe(seconds);
      self->m_.ami_actions.labels(self->server_.name, action, outcome_label(outcome)).inc();
    };
    hooks.reconnect = [self](unsigned attempt, std::chrono::milliseconds delay) {
      self->board_.link_state(self->server_.name, "ami", "backoff");
      spdlog::debug(log_fields("ami reconnect scheduled", "\"server\":" + json_quote(self->server_.name) +
                                                             ",\"attempt\":" + std::to_string(attempt) +
                                                             ",\"delay_ms\":" + ms_text(delay)));
    };
    hooks.drop = [self](std::string_view queue, std::string_view event, std::uint64_t dropped) {
      bool inbox = queue.size() >= 6 && queue.substr(queue.size() - 6) == "/inbox";
      const char* label = inbox ? "ami_inbox" : "ami_subscriber";
      self->m_.queue_dropped.with({label}).inc(static_cast<double>(dropped));
      self->m_.ami_events_dropped.with({self->server_.name, label, event}).inc(static_cast<double>(dropped));
    };
    hooks.oversized = [self](const ami::oversized_message&) { self->ami_oversized_->inc(); };
    return ami::spawn_session(system_, io_, std::move(sc), std::move(hooks));
  }

  caf::actor attach_async_agi(const caf::actor& session) override {
    if (!async_ || !session) return {};
    return async_->attach(system_, session);
  }

  void publish_ami(caf::actor session) override {
    std::lock_guard lock(mutex_);
    ami_session_ = std::move(session);
  }

  void ami_link_event(const ami::link_event& ev) override {
    if (ev.snapshot) return;
    if (ev.state == ami::link_event::kind::up) {
      spdlog::debug(log_fields("ami link up", "\"server\":" + json_quote(server_.name) + ",\"gap_ms\":" + ms_text(ev.gap)));
    } else {
      spdlog::debug(log_fields("ami link down", "\"server\":" + json_quote(server_.name) + ",\"reason\":" +
                                                   json_quote(ev.reason.message()) + ",\"retry_in_ms\":" +
                                                   ms_text(ev.retry_in) + ",\"final\":" + (ev.final ? "true" : "false")));
    }
  }

  void events_consumed(std::size_t n) override { consumed_.fetch_add(n, std::memory_order_relaxed); }

  void logged_off(const std::string& error) override {
    if (error.empty()) spdlog::info(log_fields("ami logged off", "\"server\":" + json_quote(server_.name)));
    else
      spdlog::warn(log_fields("ami logoff failed", "\"server\":" + json_quote(server_.name) + ",\"error\":" + json_quote(error)));
  }

  // The client configuration, handlers and hooks of this server's ARI section (shared by the
  // socket client and, with the bus, the worker client that runs the calls relayed to it).
  struct ari_setup {
    ari::client_config cc;
    ari::client_handlers handlers;
    ari::client_hooks hooks;
  };

  ari_setup make_ari_setup() {
    ari_setup out;
    auto& cc = out.cc;
    auto& handlers = out.handlers;
    auto& hooks = out.hooks;
    const auto& a = *server_.ari;
    cc.url = a.url;
    cc.user = a.username;
    cc.password = a.password.value;
    cc.verify_tls = a.verify_tls;
    cc.ca_file = a.ca_file;
    cc.apps = a.apps;  // split and checked (>= 1 name) by the configuration loader
    cc.subscribe_all = a.subscribe_all;
    cc.rest_over_websocket = a.rest_over_websocket;
    cc.max_connections = a.max_connections;
    cc.request_timeout = a.request_timeout;
    cc.connect_timeout = a.connect_timeout;
    cc.dead_peer_timeout = a.dead_peer_timeout;
    cc.reconnect = restart_policy();
    cc.on_reconnect = to_client_policy(a.on_reconnect);
    cc.on_hangup = hangup_policy::end_handler;  // handlers of astra::service are straight-line
    cc.channel_queue = cfg_.queues.ari_actor.capacity;
    cc.dispatch_queue = cfg_.queues.ari_dispatch.capacity;

    // One handler per app: the configured apps run `ari.handler` (a stock or registered
    // name), apps registered in code their own; StasisStart names the app.
    auto by_app = std::make_shared<std::map<std::string, ari::stasis_handler>>();
    auto configured = regs_.ari_handlers.find(a.handler);
    ari::stasis_handler fallback = configured != regs_.ari_handlers.end() ? configured->second : ari::stasis_handler{};
    for (const auto& name : cc.apps) (*by_app)[name] = fallback;
    // The stock handlers whose events are known: track and demo consume nothing beyond the
    // client's own types (any other handler, stock or registered in code, may wait for more).
    bool only_stock = a.handler == "track" || a.handler == "demo";
    for (const auto& reg : regs_.ari_apps) {
      if (!reg.server.empty() && reg.server != server_.name) continue;
      if (!by_app->count(reg.app)) cc.apps.push_back(reg.app);
      (*by_app)[reg.app] = reg.handler;
      only_stock = false;
    }
    // ari.event_filter: auto: the stock handlers consume nothing beyond what the client needs
    // itself (ari::client_event_types); a handler registered in code may wait for any type.
    if (a.event_filter == config::ari_event_filter::automatic) {
      if (only_stock) {
        cc.event_filter = ari::client_event_types();
      } else {
        spdlog::info(log_fields("ari event filter not set: a handler registered in code may consume any event",
                                "\"server\":" + json_quote(server_.name)));
      }
    }
    handlers.on_stasis_start = [by_app, fallback](ari::channel chan, ari::session& ari) {
      return run_for_app(by_app, fallback, std::move(chan), ari);
    };
    // Adoption entry points (on_reconnect: adopt), chosen per app like the handlers.
    auto adopt_by_app = std::make_shared<std::map<std::string, ari::adoption_handler>>();
    auto configured_adopt = regs_.ari_adopters.find(a.handler);
    ari::adoption_handler adopt_fallback =
        configured_adopt != regs_.ari_adopters.end() ? configured_adopt->second : ari::adoption_handler{};
    for (const auto& name : a.apps) (*adopt_by_app)[name] = adopt_fallback;
    for (const auto& reg : regs_.ari_apps) {
      if (!reg.server.empty() && reg.server != server_.name) continue;
      (*adopt_by_app)[reg.app] = reg.adopt;
    }
    handlers.on_adopt = [adopt_by_app, adopt_fallback](ari::channel chan, ari::session& ari, ari::Channel state) {
      return adopt_for_app(adopt_by_app, adopt_fallback, std::move(chan), ari, std::move(state));
    };
    auto self = shared_from_this();
    hooks.handler_ended = [self](std::string_view app, std::string_view outcome) {
      self->m_.ari_calls.labels(self->server_.name, app, outcome).inc();
    };
    hooks.connected = [self](bool up) {
      self->ari_connected_->set(up ? 1 : 0);
      if (up) self->board_.link_up(self->server_.name, "ari");
      else self->board_.link_down(self->server_.name, "ari", "event socket closed");
      notify_each(self->regs_.lifecycle.link_changed, "link_changed", std::string_view(self->server_.name),
                  std::string_view("ari"), up);
    };
    hooks.disconnected = [self](const failure& why, std::chrono::milliseconds retry_in) {
      self->ari_connected_->set(0);
      // ApplicationReplaced: the detail says it all ("application 'x' replaced by another client").
      std::string reason = why.code == make_error_code(ari::ari_errc::application_replaced) ? why.detail : why.message();
      self->board_.link_down(self->server_.name, "ari", reason);
      self->board_.link_retry(self->server_.name, "ari", retry_in);
      spdlog::debug(log_fields("ari event socket down", "\"server\":" + json_quote(self->server_.name) + ",\"reason\":" +
                                                           json_quote(reason) + ",\"retry_in_ms\":" + ms_text(retry_in)));
    };
    // Per event / request: see action_done above.
    hooks.event = [self](std::string_view type) { self->m_.ari_events.labels(self->server_.name, type).inc(); };
    hooks.request = [self](std::string_view method, int status) {
      char text[16];
      const auto end = std::to_chars(text, text + sizeof text, status).ptr;
      self->m_.ari_requests.labels(self->server_.name, method, std::string_view(text, end - text)).inc();
    };
    hooks.actors = [self](std::size_t channels, std::size_t bridges) {
      self->ari_channels_->set(static_cast<double>(channels));
      self->ari_bridges_->set(static_cast<double>(bridges));
    };
    hooks.dropped = [self](std::string_view queue, std::uint64_t total) {
      // The client reports running totals per queue; the metric wants increments.
      std::string label = queue == "ari.dispatch" ? "ari_dispatch" : queue == "ari.http" ? "ari_http" : "ari_actor";
      std::uint64_t delta = 0;
      {
        std::lock_guard lock(self->drops_mutex_);
        auto& last = self->ari_drop_totals_[std::string(queue)];
        if (total > last) delta = total - last;
        last = std::max(last, total);
      }
      if (delta) self->m_.queue_dropped.with({label}).inc(static_cast<double>(delta));
    };
    hooks.application_replaced = [self](std::string_view app) {
      // The client drops the socket next: hooks.disconnected records the reason and the retry.
      spdlog::error(log_fields("ari application replaced", "\"server\":" + json_quote(self->server_.name) +
                                                               ",\"app\":" + json_quote(app)));
    };
    hooks.reconnect_channel = [self](std::string_view policy, std::string_view outcome) {
      self->m_.ari_reconnect_channels.with({self->server_.name, std::string(policy), std::string(outcome)}).inc();
    };
    return out;
  }

  ari_spread_options spread_options() const {
    ari_spread_options o;
    o.server = server_.name;
    o.bus_index = bus_index_;
    o.on_worker_loss = server_.ari->on_worker_loss;
    o.on_reconnect = server_.ari->on_reconnect;
    o.apps = server_.ari->apps;
    for (const auto& reg : regs_.ari_apps)
      if ((reg.server.empty() || reg.server == server_.name) &&
          std::find(o.apps.begin(), o.apps.end(), reg.app) == o.apps.end())
        o.apps.push_back(reg.app);
    return o;
  }

  ari_spread_hooks spread_hooks() {
    ari_spread_hooks h;
    auto* bm = bus_metrics_;
    const std::string n = server_.name;
    if (!bm) return h;
    h.offered = [c = &bm->ari_offered.with({n})] { c->inc(); };
    h.claimed = [c = &bm->ari_claimed.with({n})] { c->inc(); };
    h.unclaimed = [c = &bm->ari_unclaimed.with({n})] { c->inc(); };
    h.worker_lost = [c = &bm->ari_worker_lost.with({n})] { c->inc(); };
    h.loss_call = [bm, n](std::string_view policy) { bm->ari_worker_loss_calls.with({n, std::string(policy)}).inc(); };
    h.dropped = [this](std::string_view) { m_.queue_dropped.with({"ari_held"}).inc(); };
    h.reconnect_channel = [this, n](std::string_view policy, std::string_view outcome) {
      m_.ari_reconnect_channels.with({n, std::string(policy), std::string(outcome)}).inc();
    };
    return h;
  }

  // With the bus: the client that runs this replica's share of the calls (no event socket: the
  // holder relays each claimed call's events over NATS). Started once, at construction.
  void start_ari_worker() {
    if (!server_.ari || !bus_) return;
    auto setup = make_ari_setup();
    setup.cc.event_socket = false;
    auto worker = ari_worker::start(*bus_, io_.context(), spread_options(), spread_hooks());
    std::weak_ptr<ari_worker> weak_worker = worker;
    setup.hooks.member = [weak_worker](bool channel, const std::string& id, bool added) {
      if (auto w = weak_worker.lock()) w->on_member(channel, id, added);
    };
    setup.hooks.connected = nullptr;
    setup.hooks.disconnected = nullptr;
    setup.hooks.event = nullptr;  // counted once, by the socket client of the holder
    auto started = ari::client::start(system_, io_.context(), std::move(setup.cc), std::move(setup.handlers),
                                      std::move(setup.hooks));
    if (!started) {
      worker->stop();
      spdlog::error(log_fields("ari worker failed to start", "\"server\":" + json_quote(server_.name) + ",\"error\":" +
                                                                  json_quote(started.error().message())));
      return;
    }
    worker->attach(started->get());
    std::lock_guard lock(mutex_);
    ari_worker_client_ = std::move(*started);
    ari_worker_ = std::move(worker);
  }

  void start_ari() override {
    if (!server_.ari) return;
    std::lock_guard lock(mutex_);
    if (ari_client_) return;
    auto setup = make_ari_setup();
    auto self = shared_from_this();
    if (bus_) {
      // Relay mode: this replica holds the socket; the calls run on the replicas (this one
      // included) that claim them. The worker client reports the actors and handler outcomes.
      setup.handlers = {};
      setup.hooks.handler_ended = nullptr;
      setup.hooks.actors = nullptr;
      setup.hooks.reconnect_channel = nullptr;
      setup.hooks.event_frame = [self](std::string_view type, std::string_view frame) {
        self->bus_->publish_ari_event(self->bus_index_, type, frame, unix_ms_now());
      };
      std::weak_ptr<server_runtime_impl> weak = self;
      ari_relay_ = ari_relay::start(
          *bus_, io_.context(), spread_options(), spread_hooks(),
          [weak](std::string method, std::string path, std::function<void(int, std::string)> done) {
            auto me = weak.lock();
            if (!me) return done(0, {});
            std::lock_guard lock(me->mutex_);
            if (!me->ari_client_) return done(0, {});
            me->ari_client_->send(ari::make_raw_request(std::move(method), path),
                                  [done = std::move(done)](result<ari::rest_response> r) {
                                    if (r) done(r->status, std::move(r->body));
                                    else done(0, {});
                                  });
          });
      std::weak_ptr<ari_relay> relay = ari_relay_;
      setup.hooks.relay = [relay](const ari::event& e, std::string_view frame) {
        if (auto r = relay.lock()) r->on_event(e, frame);
      };
      auto board_hook = std::move(setup.hooks.connected);
      setup.hooks.connected = [relay, board_hook](bool up) {
        if (board_hook) board_hook(up);
        if (auto r = relay.lock(); r && up) r->on_connected();
      };
    }
    auto started = ari::client::start(system_, io_.context(), std::move(setup.cc), std::move(setup.handlers),
                                      std::move(setup.hooks));
    if (!started) {
      if (ari_relay_) ari_relay_->stop();
      ari_relay_ = nullptr;
      board_.link_down(server_.name, "ari", started.error().message());
      board_.link_state(server_.name, "ari", "failed");
      spdlog::error(log_fields("ari client failed to start", "\"server\":" + json_quote(server_.name) + ",\"error\":" +
                                                                 json_quote(started.error().message())));
      return;
    }
    ari_client_ = std::move(*started);
  }

  void stop_ari() override {
    std::unique_ptr<ari::client> c;
    std::shared_ptr<ari_relay> relay;
    {
      std::lock_guard lock(mutex_);
      c = std::move(ari_client_);
      relay = std::move(ari_relay_);
    }
    if (relay) relay->stop();
    if (c) {
      c->stop();
      ari_connected_->set(0);
      board_.link_state(server_.name, "ari", "stopped");
    }
  }

  void actor_restarted(const std::string& kind, const std::string& reason, std::chrono::milliseconds delay) override {
    m_.actor_restarts.with({kind}).inc();
    spdlog::error(log_fields("actor died; restarting", "\"server\":" + json_quote(server_.name) + ",\"actor\":" +
                                                           json_quote(kind) + ",\"reason\":" + json_quote(reason) +
                                                           ",\"restart_in_ms\":" + ms_text(delay)));
  }

  void set_supervisor(caf::actor sup) override {
    std::lock_guard lock(mutex_);
    supervisor_ = std::move(sup);
  }
  caf::actor supervisor() const override {
    std::lock_guard lock(mutex_);
    return supervisor_;
  }

  void ami_status(const ami::session_status& st) override {
    if (st.state != "up") board_.link_state(server_.name, "ami", st.state);
    nlohmann::json gaps = nlohmann::json::array();
    for (auto g : st.gaps) gaps.push_back(g.count());
    nlohmann::json subs = nlohmann::json::array();
    std::vector<queue_view> queues;
    for (const auto& s : st.subscribers) {
      subs.push_back({{"name", s.name}, {"capacity", s.capacity}, {"in_flight", s.in_flight},
                      {"delivered", s.delivered}, {"dropped", s.dropped}});
      queues.push_back({server_.name + "/ami_subscriber/" + s.name, s.capacity, s.in_flight, s.dropped});
    }
    queues.push_back({server_.name + "/ami_inbox", cfg_.queues.ami_inbox.capacity, st.inbox_in_flight, st.inbox_dropped});
    nlohmann::json d{{"session_state", st.state},
                     {"connect_attempts", st.connect_attempts},
                     {"logins", st.logins},
                     {"events_received", st.events_received},
                     {"parse_errors", st.parse_errors},
                     {"pending_requests", st.pending_requests},
                     {"current_gap_ms", st.current_gap.count()},
                     {"session_gaps_ms", gaps},
                     {"subscribers", subs}};
    board_.set_link_detail(server_.name, "ami", d.dump());
    std::lock_guard lock(mutex_);
    ami_queues_ = std::move(queues);
  }

  void poll_status(std::map<std::string, std::int64_t>& actors, std::vector<queue_view>& queues) override {
    if (bus_) queues.push_back({server_.name + ".bus.requests", max_bus_requests_in_flight, bus_requests_.in_flight(),
                                bus_requests_.dropped()});
    std::lock_guard lock(mutex_);
    if (ami_session_) {
      actors["ami_sessions"] += 1;
      queues.insert(queues.end(), ami_queues_.begin(), ami_queues_.end());
    }
    if (ari_worker_client_) {
      // With the bus the calls run here (the socket client relays): the actors are these.
      auto w = ari_worker_client_->stats();
      actors["ari_channels"] += static_cast<std::int64_t>(w.channel_actors);
      actors["ari_bridges"] += static_cast<std::int64_t>(w.bridge_actors);
    }
    if (ari_client_) {
      auto s = ari_client_->stats();
      actors["ari_channels"] += static_cast<std::int64_t>(s.channel_actors);
      actors["ari_bridges"] += static_cast<std::int64_t>(s.bridge_actors);
      nlohmann::json d{{"connected", s.connected},
                       {"connects", s.connects},
                       {"events", s.events},
                       {"decode_errors", s.decode_errors},
                       {"unrouted", s.unrouted},
                       {"dropped_dispatch", s.dropped_dispatch},
                       {"dropped_actor", s.dropped_actor},
                       {"vanished", s.vanished},
                       {"rest_over_websocket", s.rest_over_websocket},
                       {"channel_actors", s.channel_actors},
                       {"bridge_actors", s.bridge_actors},
                       {"replaced_apps", s.replaced_apps},
                       {"replacements", s.replacements},
                       {"down_reason", s.down_reason},
                       {"retry_in_ms", s.retry_in.count()},
                       {"on_reconnect", config::to_string(server_.ari->on_reconnect)},
                       {"reconnect_channels",
                        {{"adopted", s.reconnect_channels.adopted},
                         {"hung_up", s.reconnect_channels.hung_up},
                         {"continued", s.reconnect_channels.continued},
                         {"gone", s.reconnect_channels.gone},
                         {"failed", s.reconnect_channels.failed}}}};
      board_.set_link_detail(server_.name, "ari", d.dump());
      queues.push_back({server_.name + "/ari_dispatch", cfg_.queues.ari_dispatch.capacity, 0, s.dropped_dispatch});
      queues.push_back({server_.name + "/ari_actor", cfg_.queues.ari_actor.capacity, 0, s.dropped_actor});
    }
  }

  void stop_accepting_ari_calls() override {
    std::lock_guard lock(mutex_);
    if (ari_worker_) ari_worker_->stop_accepting();
  }

  std::size_t ari_calls_running() const override {
    std::lock_guard lock(mutex_);
    return ari_worker_client_ ? ari_worker_client_->channel_actors() : 0;
  }

  void shutdown() override {
    stop_ari();
    std::shared_ptr<ari_worker> worker;
    std::unique_ptr<ari::client> worker_client;
    {
      std::lock_guard lock(mutex_);
      worker = std::move(ari_worker_);
      worker_client = std::move(ari_worker_client_);
    }
    if (worker) worker->stop();  // no more injected frames
    if (worker_client) worker_client->stop();
    std::lock_guard lock(mutex_);
    ami_session_ = nullptr;
    supervisor_ = nullptr;
  }

 private:
  caf::actor_system& system_;
  io_runtime& io_;
  const config::config& cfg_;
  config::server_config server_;
  metrics::astra_metrics& m_;
  status_board& board_;
  const registrations& regs_;
  agi::async_agi* async_;  // null: AsyncAGI off for this server
  bus::nats_bus* bus_;     // null: no bus (issue 14); outlives the runtime's components
  metrics::bus_metrics* bus_metrics_;  // with bus_: the bus series (ARI call spreading)
  std::size_t bus_index_;
  std::atomic<bool> upstream_allowed_;  // true without a bus; with one: this replica holds the lease

  metrics::counter* ami_events_ = nullptr;
  metrics::counter* ami_oversized_ = nullptr;
  metrics::counter* ami_handler_errors_ = nullptr;
  metrics::gauge* ami_connected_ = nullptr;
  metrics::counter* ami_reconnects_ = nullptr;
  metrics::gauge* ari_connected_ = nullptr;
  metrics::gauge* ari_channels_ = nullptr;
  metrics::gauge* ari_bridges_ = nullptr;
  std::atomic<bool> ami_ever_up_{false};
  inflight_bound bus_requests_{"bus.requests", max_bus_requests_in_flight};
  std::atomic<bool> bus_busy_logged_{false};
  std::atomic<std::uint64_t> consumed_{0};

  mutable std::mutex mutex_;  // guards ami_session_, supervisor_, ari_client_
  caf::actor ami_session_;
  caf::actor supervisor_;
  std::unique_ptr<ari::client> ari_client_;
  std::shared_ptr<ari_relay> ari_relay_;              // with the bus, while holding: hands calls out
  std::shared_ptr<ari_worker> ari_worker_;            // with the bus: takes calls
  std::unique_ptr<ari::client> ari_worker_client_;    // with the bus: runs the taken calls
  std::vector<queue_view> ami_queues_;

  std::mutex drops_mutex_;
  std::map<std::string, std::uint64_t> ari_drop_totals_;
};

}  // namespace

std::shared_ptr<server_runtime> make_server_runtime(caf::actor_system& system, io_runtime& io, const config::config& cfg,
                                                    const config::server_config& server, metrics::astra_metrics& m,
                                                    status_board& board, const registrations& regs,
                                                    agi::async_agi* async, bus::nats_bus* bus, std::size_t bus_index,
                                                    metrics::bus_metrics* bus_metrics) {
  auto rt = std::make_shared<server_runtime_impl>(system, io, cfg, server, m, board, regs, async, bus, bus_index,
                                                  bus_metrics);
  rt->start_ari_worker();
  return rt;
}

}  // namespace astra::runtime
