#include "actors/ami/client.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::ami {

struct client::impl {
  caf::actor_system& system;
  caf::actor session;
  caf::actor link_watcher;

  std::mutex mutex;
  std::condition_variable changed;
  bool up = false;
  bool final_down = false;
  std::optional<failure> last_failure;

  explicit impl(caf::actor_system& sys) : system(sys) {}
};

namespace {

using unsub_atom = caf::atom_constant<caf::atom("unsub")>;

// A subscriber actor that forwards to plain callbacks; unsubscribes on unsub_atom and quits.
// User callbacks are untrusted: one that throws is caught and logged (once per kind, then
// counted in the log line's total); the subscription goes on.
template <class F, class... Args>
void run_guarded(const std::string& name, const char* what, std::uint64_t& failures, F& f, Args&... args) {
  if (!f) return;
  try {
    f(args...);
  } catch (const std::exception& e) {
    if (failures++ == 0 || (failures & (failures - 1)) == 0)
      spdlog::error("ami subscriber '{}': {} callback threw ({} so far): {}", name, what, failures, e.what());
  } catch (...) {
    if (failures++ == 0 || (failures & (failures - 1)) == 0)
      spdlog::error("ami subscriber '{}': {} callback threw ({} so far): unknown exception", name, what, failures);
  }
}

// Closed when the subscription handle goes: from then on no callback of it runs, and closing
// waits for one that is running (the caller's captured state may be gone right after). A
// recursive mutex: a callback may drop its own subscription.
struct callback_gate {
  std::recursive_mutex mutex;
  bool open = true;
};

caf::behavior callback_subscriber(caf::event_based_actor* self, caf::actor session, subscribe_request req,
                                  client::batch_handler on_events, client::link_handler on_link,
                                  client::lost_handler on_lost, std::shared_ptr<callback_gate> gate) {
  auto name = std::make_shared<std::string>(req.name);
  auto failures = std::make_shared<std::uint64_t>(0);
  self->send(session, std::move(req));
  return {
    [=](event_batch& batch) mutable {
      std::lock_guard<std::recursive_mutex> lock(gate->mutex);
      if (gate->open) run_guarded(*name, "event", *failures, on_events, batch.events);
    },
    [=](link_event& ev) mutable {
      std::lock_guard<std::recursive_mutex> lock(gate->mutex);
      if (gate->open) run_guarded(*name, "link", *failures, on_link, ev);
    },
    [=](event_lost& ev) mutable {
      std::lock_guard<std::recursive_mutex> lock(gate->mutex);
      if (gate->open) run_guarded(*name, "lost-event", *failures, on_lost, ev);
    },
    [self, session](unsub_atom) {
      self->send(session, unsubscribe_request{});
      self->quit();
    },
  };
}

reply failed_reply(ami_errc code, std::string detail) {
  reply r;
  r.error = {make_error_code(code), std::move(detail)};
  return r;
}

// One request on behalf of plain code; quits after the reply.
void request_actor(caf::event_based_actor* self, caf::actor session, request req, client::reply_handler on_reply) {
  // The session always answers; infinite here only covers a dead session (error below).
  self->request(session, caf::infinite, std::move(req))
      .then([on_reply](reply& r) { on_reply(std::move(r)); },
            [on_reply](caf::error& e) {
              on_reply(failed_reply(ami_errc::disconnected, "session actor unreachable: " + caf::to_string(e)));
            });
}

void status_actor(caf::event_based_actor* self, caf::actor session,
                  std::shared_ptr<std::promise<session_status>> promise) {
  self->request(session, caf::infinite, status_query{})
      .then([promise](session_status& s) { promise->set_value(std::move(s)); },
            [promise](caf::error&) { promise->set_value(session_status{}); });
}

}  // namespace

client::client(caf::actor_system& system, io_runtime& io, session_config config, session_hooks hooks)
    : impl_(std::make_shared<impl>(system)) {
  impl_->session = spawn_session(system, io, std::move(config), std::move(hooks));
  std::weak_ptr<impl> weak = impl_;
  subscribe_request req;
  req.filter = event_filter::links_only();
  req.name = "client-link-watch";
  impl_->link_watcher = system.spawn(callback_subscriber, impl_->session, std::move(req), batch_handler{},
                                     link_handler{[weak](const link_event& ev) {
                                       auto self = weak.lock();
                                       if (!self) return;
                                       std::lock_guard<std::mutex> lock(self->mutex);
                                       self->up = ev.state == link_event::kind::up;
                                       if (!self->up) {
                                         self->last_failure = ev.reason;
                                         self->final_down = ev.final;
                                       }
                                       self->changed.notify_all();
                                     }},
                                     lost_handler{}, std::make_shared<callback_gate>());
}

client::~client() { stop(); }

const caf::actor& client::actor() const noexcept { return impl_->session; }

void client::stop() {
  if (impl_->link_watcher) {
    caf::anon_send(impl_->link_watcher, unsub_atom::value);
    impl_->link_watcher = nullptr;
  }
  if (impl_->session) {
    caf::anon_send(impl_->session, stop_request{});
    impl_->session = nullptr;
  }
}

astra::result<void> client::wait_until_up(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  bool done = impl_->changed.wait_for(lock, timeout, [&] { return impl_->up || impl_->final_down; });
  if (impl_->up) return {};
  if (done && impl_->last_failure) return *impl_->last_failure;
  std::string detail = "not logged in within " + std::to_string(timeout.count()) + " ms";
  if (impl_->last_failure) detail += " (" + impl_->last_failure->message() + ")";
  return failure{make_error_code(ami_errc::timeout), detail};
}

void client::send(action a, reply_handler on_reply, std::chrono::milliseconds timeout) {
  if (!impl_->session) {
    on_reply(failed_reply(ami_errc::disconnected, "client stopped"));
    return;
  }
  // Spawn arguments (not lambda captures): CAF 0.17 dereferences a null argument tuple
  // when a function actor is spawned without arguments (UBSan: null reference).
  impl_->system.spawn(request_actor, impl_->session, request{std::move(a), timeout}, std::move(on_reply));
}

std::future<reply> client::send(action a, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<reply>>();
  auto future = promise->get_future();
  send(std::move(a), [promise](reply r) { promise->set_value(std::move(r)); }, timeout);
  return future;
}

subscription client::subscribe_batches(event_filter filter, batch_handler on_events, link_handler on_link,
                                       std::size_t capacity, std::string name) {
  if (!impl_->session) return {};
  subscribe_request req;
  req.filter = std::move(filter);
  req.capacity = capacity;
  req.name = std::move(name);
  return subscribe(std::move(req), std::move(on_events), std::move(on_link));
}

subscription client::subscribe(subscribe_request req, batch_handler on_events, link_handler on_link,
                               lost_handler on_lost) {
  if (!impl_->session) return {};
  auto gate = std::make_shared<callback_gate>();
  auto sub = impl_->system.spawn(callback_subscriber, impl_->session, std::move(req), std::move(on_events),
                                 std::move(on_link), std::move(on_lost), gate);
  struct handle {
    caf::actor subscriber;
    std::shared_ptr<callback_gate> gate;
  };
  auto token = std::shared_ptr<void>(new handle{sub, std::move(gate)}, [](void* p) {
    auto* h = static_cast<handle*>(p);
    {
      std::lock_guard<std::recursive_mutex> lock(h->gate->mutex);
      h->gate->open = false;
    }
    caf::anon_send(h->subscriber, unsub_atom::value);
    delete h;
  });
  return subscription{std::move(token)};
}

subscription client::subscribe(event_filter filter, event_handler on_event, link_handler on_link, std::size_t capacity,
                               std::string name) {
  batch_handler batch = [on_event = std::move(on_event)](const std::vector<message_ptr>& events) {
    for (const auto& m : events) on_event(m);
  };
  return subscribe_batches(std::move(filter), std::move(batch), std::move(on_link), capacity, std::move(name));
}

std::future<session_status> client::status() {
  auto promise = std::make_shared<std::promise<session_status>>();
  auto future = promise->get_future();
  if (!impl_->session) {
    promise->set_value(session_status{});
    return future;
  }
  impl_->system.spawn(status_actor, impl_->session, std::move(promise));
  return future;
}

}  // namespace astra::ami
