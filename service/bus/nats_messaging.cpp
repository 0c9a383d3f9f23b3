// Generic messaging of the bus (nats_bus::subscribe / unsubscribe / publish / new_inbox): what
// issue 14's ARI call spreading (service/core/ari_spread) is built on. Subscriptions are kept
// in a registry so that those asked for before the connection object exists are made when it
// is created (lease thread); libnats re-subscribes them after a reconnect by itself.
#include "service/bus/nats_bus_impl.hpp"

#include <spdlog/spdlog.h>

#include <atomic>

namespace astra::bus::detail {

namespace {

// Headroom above bus.nats.buffer.{messages,bytes} for publish() (the ARI call protocol).
constexpr std::size_t call_reserve_messages = 4096;
constexpr std::size_t call_reserve_bytes = 4 * 1024 * 1024;

// The closure libnats gets: owns a copy of the handler; freed by on_complete once libnats
// guarantees no message callback runs any more.
struct sub_closure {
  std::shared_ptr<message_handler> handler;
  std::string subject;  // for the log line of a throwing handler
};

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* c = static_cast<sub_closure*>(closure);
  bus_message m;
  const char* subject = natsMsg_GetSubject(msg);
  const char* reply = natsMsg_GetReply(msg);
  const char* data = natsMsg_GetData(msg);
  m.subject = subject ? subject : "";
  m.reply = reply ? reply : "";
  m.data = std::string_view(data ? data : "", static_cast<std::size_t>(std::max(0, natsMsg_GetDataLength(msg))));
  m.no_responders = natsMsg_IsNoResponders(msg);
  try {
    (*c->handler)(m);
  } catch (const std::exception& e) {
    spdlog::error("bus: handler of subscription {} threw: {}", c->subject, e.what());
  } catch (...) {
    spdlog::error("bus: handler of subscription {} threw a non-exception", c->subject);
  }
  natsMsg_Destroy(msg);
}

void on_complete(void* closure) { delete static_cast<sub_closure*>(closure); }

}  // namespace

bool impl::make_subscription(sub_entry& e) {
  natsConnection* nc = nc_.load(std::memory_order_acquire);
  if (!nc || e.sub || subs_closed_) return e.sub != nullptr;
  auto* closure = new sub_closure{e.handler, e.subject};
  natsSubscription* sub = nullptr;
  // Created paused is not available for async subscriptions: the on-complete callback is set
  // right after; a message delivered in between uses the closure, which lives until then.
  natsStatus s = e.queue.empty()
                     ? natsConnection_Subscribe(&sub, nc, e.subject.c_str(), &on_message, closure)
                     : natsConnection_QueueSubscribe(&sub, nc, e.subject.c_str(), e.queue.c_str(), &on_message, closure);
  if (s != NATS_OK) {
    delete closure;
    spdlog::warn("bus: cannot subscribe to {}: {}", e.subject, natsStatus_GetText(s));
    return false;
  }
  if (natsSubscription_SetOnCompleteCB(sub, &on_complete, closure) != NATS_OK) {
    // Cannot know when libnats is done with it: leak the closure rather than free it early.
    spdlog::warn("bus: subscription {}: no completion callback; its closure is kept", e.subject);
  }
  e.sub = sub;
  return true;
}

std::uint64_t impl::subscribe(std::string subject, std::string queue, message_handler handler) {
  std::lock_guard lock(subs_mutex_);
  const std::uint64_t id = next_sub_id_++;
  sub_entry e;
  e.subject = std::move(subject);
  e.queue = std::move(queue);
  e.handler = std::make_shared<message_handler>(std::move(handler));
  auto& slot = subs_[id] = std::move(e);
  if (!stopping_.load()) make_subscription(slot);
  return id;
}

void impl::unsubscribe(std::uint64_t id) {
  natsSubscription* sub = nullptr;
  {
    std::lock_guard lock(subs_mutex_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    sub = it->second.sub;
    subs_.erase(it);
  }
  if (sub) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
}

void impl::subscribe_pending() {
  std::lock_guard lock(subs_mutex_);
  for (auto& [id, e] : subs_) make_subscription(e);
}

void impl::unsubscribe_all() {
  std::unordered_map<std::uint64_t, sub_entry> all;
  {
    std::lock_guard lock(subs_mutex_);
    subs_closed_ = true;  // the connection is about to go: no subscription is made after this
    all.swap(subs_);
  }
  for (auto& [id, e] : all)
    if (e.sub) {
      natsSubscription_Unsubscribe(e.sub);
      natsSubscription_Destroy(e.sub);
    }
}

bool impl::publish(std::string subject, std::string payload, std::string reply, std::size_t holder_of) {
  outgoing m;
  m.subject = std::move(subject);
  m.payload = std::move(payload);
  m.reply = std::move(reply);
  if (holder_of != npos && holder_of >= slots_.size()) return false;
  m.what = holder_of == npos ? outgoing::kind::control : outgoing::kind::relay;
  m.server = holder_of == npos ? 0 : static_cast<std::uint32_t>(holder_of);
  const std::size_t bytes = m.bytes();
  bool full = false, stale = false;
  {
    std::lock_guard lock(buffer_mutex_);
    m.epoch = holder_of == npos ? 0 : slots_[holder_of]->epoch.load(std::memory_order_relaxed);
    // The calls' own messages (offers, answers, heartbeats, relayed call events) get a reserve
    // above the event bound: a burst of AMI/ARI events filling the buffer does not cost calls.
    if (holder_of != npos && m.epoch == 0) {
      stale = true;
    } else {
      full = !push_locked(std::move(m), bytes, call_reserve_messages, call_reserve_bytes);
    }
  }
  if (full) count_drop("buffer_full", 1);
  if (stale) count_drop("not_holder", 1);
  return !full && !stale;
}

std::string impl::new_inbox() {
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) {
    static std::atomic<std::uint64_t> fallback{0};
    return "_INBOX.astra." + instance_ + "." + std::to_string(fallback.fetch_add(1) + 1);
  }
  std::string out(inbox);
  natsInbox_Destroy(inbox);
  return out;
}

}  // namespace astra::bus::detail
