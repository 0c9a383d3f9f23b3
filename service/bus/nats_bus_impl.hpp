#pragma once
// PRIVATE to service/bus: the nats_bus implementation shared by nats_bus.cpp (connection,
// publisher, requests) and nats_lease.cpp (the lease thread). Includes nats.h.
#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "service/bus/nats_bus.hpp"

namespace astra::bus::detail {

class impl;

// libnats callbacks (connection events, request subscriptions) may run on libnats threads
// after the bus object is gone (libnats gives no "no more callbacks" guarantee for a closed
// connection), so they reach the bus through this context, which is never freed (one per bus,
// a few bytes): a callback holds `mutex` while it uses `owner`; stop() clears owner under the
// same mutex. Callbacks only set atomics, notify, or call non-blocking hooks.
struct callback_context {
  // Recursive: a request handler called under it may answer at once (reply_fn locks it too).
  std::recursive_mutex mutex;
  impl* owner = nullptr;
};

// Closure of one request subscription (also never freed, for the same reason).
struct request_closure {
  callback_context* ctx;
  std::size_t server;
  bool ami;  // <server>.ami.action (true) or <server>.ari.request
};

// One message waiting to be published. AMI events are kept as the parsed message and
// encoded on the publisher thread; everything else is already JSON.
struct outgoing {
  // relay: published as is, only while holding `server` at `epoch` (like ami/ari, no envelope).
  enum class kind : std::uint8_t { ami, ari, agi, control, relay };
  kind what = kind::control;
  std::uint32_t server = 0;       // index; unused for agi
  std::uint64_t epoch = 0;        // ami/ari: the holder epoch it was received under
  std::uint64_t seq = 0;
  std::int64_t received_unix_ms = 0;
  ami::message_ptr ami;           // kind::ami
  std::string subject;            // all but ami
  std::string payload;            // all but ami: the whole JSON body
  std::string reply;              // control / relay: reply subject of a request ("" none)
  std::size_t bytes() const { return (ami ? ami->raw().size() : payload.size()) + subject.size() + reply.size() + 64; }
};

// Per-server state. `epoch` (0: not held) is written by the lease thread under
// impl::buffer_mutex_ and read without lock by the publisher (stale messages are dropped).
struct server_slot {
  std::string name;
  std::string key;                          // KV key (the server name)
  std::string prefix;                       // "<prefix>.<server>."
  std::string envelope_head;                // {"server":"<name>","replica":"<replica>"  (no closing brace)
  std::atomic<std::uint64_t> epoch{0};
  std::uint64_t next_seq = 1;               // under buffer_mutex_
  // Lease thread only:
  std::uint64_t revision = 0;               // of our last write while held
  std::chrono::steady_clock::time_point renewed_at{};  // last successful write while held
  std::chrono::steady_clock::time_point next_attempt{};
  std::string seen_holder;                  // last holder seen (standby view)
  std::int64_t seen_renewed_unix_ms = 0;    // its last renewal as written in the value
  natsSubscription* ami_sub = nullptr;      // request subscriptions while held
  natsSubscription* ari_sub = nullptr;
  std::string holder_shown;                 // last value passed to hooks.holder
};

// One subscription made through nats_bus::subscribe. The closure handed to libnats owns a
// copy of the handler and is freed by libnats's on-complete callback (after the last message
// callback returned), never before.
struct sub_entry {
  std::string subject;
  std::string queue;
  std::shared_ptr<message_handler> handler;
  natsSubscription* sub = nullptr;  // null until the connection exists
};

class impl final : public nats_bus {
 public:
  impl(const config::bus_nats_config& cfg, std::vector<std::string> servers, bus_hooks hooks);
  ~impl() override;

  void publish_ami_events(std::size_t server, const std::vector<ami::message_ptr>& events,
                          std::int64_t received_unix_ms) override;
  void publish_ari_event(std::size_t server, std::string_view type, std::string_view json,
                         std::int64_t received_unix_ms) override;
  void publish_agi_call_end(std::string_view route, std::uint64_t call_id, std::string_view outcome,
                            std::chrono::nanoseconds duration, std::string_view transport) override;
  void set_request_handlers(request_handler ami_action, request_handler ari_request) override;
  void release_leases(std::chrono::milliseconds timeout) override;
  void stop() override;
  std::uint64_t subscribe(std::string subject, std::string queue, message_handler handler) override;
  void unsubscribe(std::uint64_t id) override;
  bool publish(std::string subject, std::string payload, std::string reply, std::size_t holder_of) override;
  std::string new_inbox() override;
  const std::string& instance() const override { return instance_; }
  const std::string& replica() const override { return cfg_.replica; }
  const std::string& prefix() const override { return prefix_; }
  bool connected() const override { return connected_.load(); }
  bool holds(std::size_t server) const override { return server < slots_.size() && slots_[server]->epoch.load() != 0; }
  std::string status_json() const override;
  std::size_t buffered() const override {
    std::lock_guard lock(buffer_mutex_);
    return buffer_.size();
  }

  void start_threads();

  // nats_lease.cpp (lease thread).
  void lease_loop();
  bool ensure_connection();
  bool ensure_bucket();
  void lease_round(std::chrono::steady_clock::time_point now);
  void try_acquire(std::size_t i);
  void renew(std::size_t i);
  void give_up(std::size_t i, const std::string& reason);
  void took(std::size_t i, std::uint64_t revision, const std::string& reason, std::int64_t gap_ms);
  std::string lease_value(bool released) const;
  void release_all_now(std::chrono::milliseconds timeout);
  void show_holder(std::size_t i, const std::string& holder);
  void subscribe_requests(std::size_t i);
  void unsubscribe_requests(std::size_t i);

  // nats_messaging.cpp: subscribes what waited for the connection (lease thread, once the
  // connection object exists); drops every subscription (stop()).
  void subscribe_pending();
  void unsubscribe_all();
  bool make_subscription(sub_entry& e);  // under subs_mutex_

  // nats_bus.cpp
  void publisher_loop();
  bool enqueue(outgoing&& m);  // false: dropped (counted)
  // Under buffer_mutex_: appends `m` (of `bytes`) when the buffer has room within its bounds
  // plus the given reserve, and wakes the publisher; false (nothing counted): full.
  bool push_locked(outgoing&& m, std::size_t bytes, std::size_t reserve_messages = 0, std::size_t reserve_bytes = 0);
  void enqueue_control(std::string subject, std::string payload);
  void count_drop(std::string_view reason, std::uint64_t n);
  static void on_request(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_released(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_disconnected(natsConnection* nc, void* closure);
  static void on_reconnected(natsConnection* nc, void* closure);
  static void on_connected(natsConnection* nc, void* closure);
  static void on_closed(natsConnection* nc, void* closure);
  static std::int64_t reconnect_delay(natsConnection* nc, int attempts, void* closure);

  const config::bus_nats_config cfg_;
  const std::string prefix_;  // "<subject_prefix>."
  const std::chrono::milliseconds kv_timeout_;
  // This process's random id in its lease values: two processes configured with the same
  // replica name are told apart (a renewal is "ours" only with our instance id).
  const std::string instance_;
  bus_hooks hooks_;
  std::vector<std::unique_ptr<server_slot>> slots_;

  // Connection (created and destroyed by the lease thread; published with release ordering).
  natsOptions* opts_ = nullptr;
  std::atomic<natsConnection*> nc_{nullptr};
  jsCtx* js_ = nullptr;      // lease thread only
  kvStore* kv_ = nullptr;    // lease thread only
  bool bucket_mismatch_logged_ = false;  // lease thread only
  bool duplicate_name_logged_ = false;   // lease thread only
  natsSubscription* release_sub_ = nullptr;  // <prefix>.*.lease.released: wakes the lease thread
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> reconnects_{0};

  // Lease thread control.
  std::thread lease_thread_;
  std::mutex lease_mutex_;
  std::condition_variable lease_cv_;
  bool lease_wake_ = false;      // under lease_mutex_
  bool releasing_ = false;       // under lease_mutex_: drain requested, no more acquisitions
  bool released_ = false;        // under lease_mutex_: the drain's release has run
  std::condition_variable released_cv_;
  std::atomic<bool> stopping_{false};

  // Outgoing buffer (bounded: cfg_.buffer_messages, cfg_.buffer_bytes; policy drop_newest).
  std::thread publisher_thread_;
  mutable std::mutex buffer_mutex_;
  std::condition_variable buffer_cv_;
  std::deque<outgoing> buffer_;
  std::size_t buffer_bytes_ = 0;
  std::uint64_t agi_seq_ = 0;  // under buffer_mutex_
  // Held by the publisher while it publishes a batch; give_up() takes it once after clearing
  // an epoch, so no message of that epoch is handed to NATS after give_up() returned (and,
  // the connection being one ordered stream, none reaches a subscriber after the release).
  std::mutex publish_guard_;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> published_{0};

  std::mutex subs_mutex_;
  std::unordered_map<std::uint64_t, sub_entry> subs_;  // under subs_mutex_
  std::uint64_t next_sub_id_ = 1;                      // under subs_mutex_
  bool subs_closed_ = false;                           // under subs_mutex_: unsubscribe_all() ran

  std::mutex handlers_mutex_;
  request_handler ami_handler_, ari_handler_;
  callback_context* ctx_;  // never freed (see callback_context)
  std::vector<request_closure*> closures_;  // per server: [2i] AMI, [2i+1] ARI; never freed
};

std::int64_t unix_ms_now();

}  // namespace astra::bus::detail
