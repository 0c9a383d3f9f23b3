#include "service/bus/nats_bus_impl.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>

#include "protocols/common/json_string.hpp"

namespace astra::bus {

namespace detail {

namespace {

using namespace std::chrono_literals;

// The callback context and request closures live for the process (libnats gives no "no more
// callbacks" guarantee after close): never freed on purpose, so LeakSanitizer is told.
void keep_for_libnats(const void* p) {
#if defined(__SANITIZE_ADDRESS__)
  __lsan_ignore_object(p);
#else
  (void)p;
#endif
}

constexpr auto publisher_idle_wait = 100ms;   // publisher re-checks stop / connection this often
constexpr auto stop_flush_deadline = 1000ms;  // stop(): time left to publish what is buffered

void append_quoted(std::string& out, std::string_view s) { json_text::append_json_string(out, s); }

// 64 random bits as 16 hex digits (std::random_device: the kernel's entropy).
std::string random_instance_id() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

// Appends `label` then `v` in decimal (no temporary string).
void append_number(std::string& out, std::string_view label, std::uint64_t v) {
  char digits[24];
  auto r = std::to_chars(std::begin(digits), std::end(digits), v);
  out.append(label);
  out.append(digits, static_cast<std::size_t>(r.ptr - digits));
}

}  // namespace

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

impl::impl(const config::bus_nats_config& cfg, std::vector<std::string> servers, bus_hooks hooks)
    : cfg_(cfg),
      prefix_(cfg.subject_prefix + "."),
      kv_timeout_(std::min(cfg.request_timeout, cfg.lease_ttl / 6)),
      instance_(random_instance_id()),
      hooks_(std::move(hooks)),
      ctx_(new callback_context) {
  ctx_->owner = this;
  for (auto& s : servers) {
    auto slot = std::make_unique<server_slot>();
    slot->name = s;
    slot->key = s;
    slot->prefix = prefix_ + s + ".";
    slot->envelope_head = "{\"server\":";
    append_quoted(slot->envelope_head, s);
    slot->envelope_head += ",\"replica\":";
    append_quoted(slot->envelope_head, cfg_.replica);
    slots_.push_back(std::move(slot));
    closures_.push_back(new request_closure{ctx_, slots_.size() - 1, true});
    closures_.push_back(new request_closure{ctx_, slots_.size() - 1, false});
    keep_for_libnats(closures_[closures_.size() - 2]);
    keep_for_libnats(closures_.back());
  }
  keep_for_libnats(ctx_);
}

impl::~impl() { stop(); }

void impl::start_threads() {
  publisher_thread_ = std::thread([this] { publisher_loop(); });
  lease_thread_ = std::thread([this] { lease_loop(); });
}

void impl::count_drop(std::string_view reason, std::uint64_t n) {
  dropped_.fetch_add(n, std::memory_order_relaxed);
  if (hooks_.dropped) hooks_.dropped(reason, n);
}

bool impl::push_locked(outgoing&& m, std::size_t bytes, std::size_t reserve_messages, std::size_t reserve_bytes) {
  if (buffer_.size() >= cfg_.buffer_messages + reserve_messages || buffer_bytes_ + bytes > cfg_.buffer_bytes + reserve_bytes)
    return false;
  buffer_bytes_ += bytes;
  buffer_.push_back(std::move(m));
  if (buffer_.size() == 1) buffer_cv_.notify_one();
  return true;
}

bool impl::enqueue(outgoing&& m) {
  const std::size_t bytes = m.bytes();
  {
    std::lock_guard lock(buffer_mutex_);
    if (push_locked(std::move(m), bytes)) return true;
  }
  count_drop("buffer_full", 1);
  return false;
}

void impl::publish_ami_events(std::size_t server, const std::vector<ami::message_ptr>& events,
                              std::int64_t received_unix_ms) {
  if (server >= slots_.size() || events.empty()) return;
  auto& slot = *slots_[server];
  std::uint64_t dropped_full = 0, dropped_stale = 0;
  {
    std::lock_guard lock(buffer_mutex_);
    const std::uint64_t epoch = slot.epoch.load(std::memory_order_relaxed);
    for (const auto& ev : events) {
      if (epoch == 0) {
        ++dropped_stale;  // not (or no longer) the holder: nothing of this server goes out
        continue;
      }
      const std::uint64_t seq = slot.next_seq++;  // consumed even if dropped: the consumer sees the gap
      outgoing m;
      m.what = outgoing::kind::ami;
      m.server = static_cast<std::uint32_t>(server);
      m.epoch = epoch;
      m.seq = seq;
      m.received_unix_ms = received_unix_ms;
      m.ami = ev;
      const std::size_t bytes = m.bytes();
      if (!push_locked(std::move(m), bytes)) ++dropped_full;
    }
  }
  if (dropped_full) count_drop("buffer_full", dropped_full);
  if (dropped_stale) count_drop("not_holder", dropped_stale);
}

void impl::publish_ari_event(std::size_t server, std::string_view type, std::string_view json,
                             std::int64_t received_unix_ms) {
  if (server >= slots_.size()) return;
  auto& slot = *slots_[server];
  outgoing m;
  m.what = outgoing::kind::ari;
  m.server = static_cast<std::uint32_t>(server);
  m.received_unix_ms = received_unix_ms;
  m.subject = slot.prefix + "ari.event." + subject_token(type);
  m.payload.assign(json);  // enveloped on the publisher thread
  const std::size_t bytes = m.bytes();
  bool full = false, stale = false;
  {
    std::lock_guard lock(buffer_mutex_);
    m.epoch = slot.epoch.load(std::memory_order_relaxed);
    if (m.epoch == 0) {
      stale = true;
    } else {
      m.seq = slot.next_seq++;
      full = !push_locked(std::move(m), bytes);
    }
  }
  if (full) count_drop("buffer_full", 1);
  if (stale) count_drop("not_holder", 1);
}

void impl::publish_agi_call_end(std::string_view route, std::uint64_t call_id, std::string_view outcome,
                                std::chrono::nanoseconds duration, std::string_view transport) {
  outgoing m;
  m.what = outgoing::kind::agi;
  m.subject = prefix_ + "agi.call.end";
  m.received_unix_ms = unix_ms_now();
  // The body except the sequence number, assigned under the buffer lock.
  std::string body = ",\"route\":";
  append_quoted(body, route);
  body += ",\"outcome\":";
  append_quoted(body, outcome);
  body += ",\"transport\":";
  append_quoted(body, transport);
  body += ",\"call_id\":" + std::to_string(call_id) + ",\"duration_ms\":" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count()) + "}";
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(buffer_mutex_);
    seq = ++agi_seq_;
  }
  m.payload = "{\"replica\":";
  append_quoted(m.payload, cfg_.replica);
  m.payload += ",\"seq\":" + std::to_string(seq) + ",\"ended_unix_ms\":" + std::to_string(m.received_unix_ms) + body;
  enqueue(std::move(m));
}

void impl::enqueue_control(std::string subject, std::string payload) {
  outgoing m;
  m.what = outgoing::kind::control;
  m.subject = std::move(subject);
  m.payload = std::move(payload);
  enqueue(std::move(m));
}

void impl::publisher_loop() {
  std::deque<outgoing> batch;
  std::string subject, body;
  subject.reserve(256);
  body.reserve(4096);
  std::chrono::steady_clock::time_point flush_deadline{};
  for (;;) {
    {
      std::unique_lock lock(buffer_mutex_);
      buffer_cv_.wait_for(lock, publisher_idle_wait, [this] { return !buffer_.empty() || stopping_.load(); });
      if (stopping_.load()) {
        if (flush_deadline == std::chrono::steady_clock::time_point{})
          flush_deadline = std::chrono::steady_clock::now() + stop_flush_deadline;
        if (buffer_.empty() || std::chrono::steady_clock::now() >= flush_deadline || !connected_.load()) break;
      }
      if (buffer_.empty()) continue;
      if (!connected_.load()) {
        // Keep buffering (bounded) until the connection is back (on_reconnected notifies).
        buffer_cv_.wait_for(lock, publisher_idle_wait, [this] { return connected_.load() || stopping_.load(); });
        continue;
      }
      batch.swap(buffer_);
      buffer_bytes_ = 0;
    }
    natsConnection* nc = nc_.load(std::memory_order_acquire);
    std::uint64_t sent[5] = {0, 0, 0, 0, 0}, stale = 0, failed = 0;
    std::unique_lock guard(publish_guard_);
    for (auto& m : batch) {
      if ((m.what == outgoing::kind::ami || m.what == outgoing::kind::ari || m.what == outgoing::kind::relay) &&
          slots_[m.server]->epoch.load(std::memory_order_relaxed) != m.epoch) {
        ++stale;  // the lease was lost after it was queued: the old holder never publishes
        continue;
      }
      const char* subj = nullptr;
      const std::string* payload = &m.payload;
      if (m.what == outgoing::kind::ami || m.what == outgoing::kind::ari) {
        const auto& slot = *slots_[m.server];
        if (m.what == outgoing::kind::ami) {
          subject.assign(slot.prefix);
          subject += "ami.event.";
          subject += subject_token(m.ami->name());
          subj = subject.c_str();
        } else {
          subj = m.subject.c_str();
        }
        body.assign(slot.envelope_head);
        append_number(body, ",\"seq\":", m.seq);
        append_number(body, ",\"epoch\":", m.epoch);
        append_number(body, ",\"received_unix_ms\":", static_cast<std::uint64_t>(m.received_unix_ms));
        body += ",\"event\":";
        if (m.what == outgoing::kind::ami) append_ami_json(body, *m.ami);
        else body += m.payload;
        body += '}';
        payload = &body;
      } else {
        subj = m.subject.c_str();
      }
      natsStatus s = !nc ? NATS_CONNECTION_CLOSED
                     : m.reply.empty()
                         ? natsConnection_Publish(nc, subj, payload->data(), static_cast<int>(payload->size()))
                         : natsConnection_PublishRequest(nc, subj, m.reply.c_str(), payload->data(),
                                                         static_cast<int>(payload->size()));
      if (s == NATS_OK) ++sent[static_cast<int>(m.what)];
      else ++failed;
    }
    guard.unlock();
    batch.clear();
    if (stale) count_drop("not_holder", stale);
    if (failed) count_drop("publish_error", failed);
    static constexpr std::string_view kinds[] = {"ami", "ari", "agi", "control", "ari_call"};
    for (int k = 0; k < 5; ++k)
      if (sent[k]) {
        published_.fetch_add(sent[k], std::memory_order_relaxed);
        if (hooks_.published) hooks_.published(kinds[k], sent[k]);
      }
  }
  if (natsConnection* nc = nc_.load(std::memory_order_acquire); nc && connected_.load())
    natsConnection_FlushTimeout(nc, 500);
  std::lock_guard lock(buffer_mutex_);
  if (!buffer_.empty()) {
    const auto left = buffer_.size();
    buffer_.clear();
    buffer_bytes_ = 0;
    dropped_.fetch_add(left, std::memory_order_relaxed);
    if (hooks_.dropped) hooks_.dropped("stopped", left);
  }
}

void impl::set_request_handlers(request_handler ami_action, request_handler ari_request) {
  std::lock_guard lock(handlers_mutex_);
  ami_handler_ = std::move(ami_action);
  ari_handler_ = std::move(ari_request);
}

void impl::on_request(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
  auto* c = static_cast<request_closure*>(closure);
  const char* reply_subject = natsMsg_GetReply(msg);
  std::string data(natsMsg_GetData(msg) ? natsMsg_GetData(msg) : "", static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  std::string reply_to = reply_subject ? reply_subject : "";
  natsMsg_Destroy(msg);
  if (reply_to.empty()) return;  // a publish, not a request: nobody to answer
  // The reply publishes on the connection directly (thread-safe in libnats), under the
  // callback context's lock and only while the bus owns a connection: a reply that comes after
  // stop() (or after the connection was closed) is dropped, never written to a freed
  // connection. A reply the server refuses (over its max_payload) is replaced by a short error
  // reply, so the requester never waits for its own timeout.
  (void)nc;
  reply_fn reply = [ctx = c->ctx, reply_to](std::string json) {
    std::lock_guard alive(ctx->mutex);
    impl* owner = ctx->owner;
    natsConnection* conn = owner ? owner->nc_.load() : nullptr;
    if (!conn) return;
    const natsStatus s = natsConnection_Publish(conn, reply_to.c_str(), json.data(), static_cast<int>(json.size()));
    if (s == NATS_OK) return;
    std::string error = R"({"error":{"code":")";
    error += s == NATS_MAX_PAYLOAD ? "too_large" : "publish_failed";
    error += R"(","message":)";
    append_quoted(error, std::string("the reply (") + std::to_string(json.size()) +
                             " bytes) could not be published: " + natsStatus_GetText(s));
    error += "}}";
    natsConnection_Publish(conn, reply_to.c_str(), error.data(), static_cast<int>(error.size()));
  };
  std::lock_guard alive(c->ctx->mutex);
  impl* self = c->ctx->owner;
  if (!self) return;
  request_handler handler;
  {
    std::lock_guard lock(self->handlers_mutex_);
    handler = c->ami ? self->ami_handler_ : self->ari_handler_;
  }
  if (!handler || !self->holds(c->server)) {
    reply(R"({"error":{"code":"not_holder","message":"this replica does not hold the server"}})");
    return;
  }
  handler(c->server, std::move(data), std::move(reply));  // non-blocking: posts to an actor
}

void impl::release_leases(std::chrono::milliseconds timeout) {
  std::unique_lock lock(lease_mutex_);
  if (!lease_thread_.joinable()) return;
  releasing_ = true;
  lease_wake_ = true;
  lease_cv_.notify_all();
  released_cv_.wait_for(lock, timeout, [this] { return released_; });
}

void impl::stop() {
  if (stopping_.exchange(true)) {
    if (lease_thread_.joinable()) lease_thread_.join();
    return;
  }
  {
    std::lock_guard lock(lease_mutex_);
    lease_wake_ = true;
  }
  lease_cv_.notify_all();
  buffer_cv_.notify_all();
  if (publisher_thread_.joinable()) publisher_thread_.join();
  if (lease_thread_.joinable()) lease_thread_.join();  // closes the connection
  std::lock_guard lock(ctx_->mutex);  // waits for a callback in progress
  ctx_->owner = nullptr;
}

std::string impl::status_json() const {
  std::string out = "{\"connected\":";
  out += connected_.load() ? "true" : "false";
  out += ",\"replica\":";
  append_quoted(out, cfg_.replica);
  out += ",\"url\":";
  append_quoted(out, cfg_.url);
  out += ",\"subject_prefix\":";
  append_quoted(out, cfg_.subject_prefix);
  out += ",\"lease_ttl_ms\":" + std::to_string(cfg_.lease_ttl.count());
  {
    std::lock_guard lock(buffer_mutex_);
    out += ",\"buffered\":" + std::to_string(buffer_.size()) + ",\"buffered_bytes\":" + std::to_string(buffer_bytes_);
  }
  out += ",\"published\":" + std::to_string(published_.load()) + ",\"dropped\":" + std::to_string(dropped_.load()) +
         ",\"reconnects\":" + std::to_string(reconnects_.load()) + "}";
  return out;
}

}  // namespace detail

std::string subject_token(std::string_view name) {
  std::string out(name.empty() ? std::string_view("_") : name);
  for (auto& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') ch = '_';
  return out;
}

void append_ami_json(std::string& out, const ami::message& m) {
  const std::size_t n = m.size();
  // One resize to the upper bound, pointer writes, one shrink (no per-string resize).
  std::size_t text = 0;
  for (std::size_t i = 0; i < n; ++i) text += m.key(i).size() + m.value(i).size();
  const std::size_t old = out.size();
  out.resize(old + json_text::max_json_string_size(text) + 8 * n + 8);
  char* p = out.data() + old;
  *p++ = '{';
  for (std::size_t i = 0; i < n; ++i) {
    const auto key = m.key(i);
    bool earlier = false, later = false;
    for (std::size_t j = 0; j < i && !earlier; ++j) earlier = m.key(j).size() == key.size() && m.key(j) == key;
    if (earlier) continue;  // written with its first occurrence
    for (std::size_t j = i + 1; j < n && !later; ++j) later = m.key(j).size() == key.size() && m.key(j) == key;
    if (i != 0) *p++ = ',';
    p = json_text::write_json_string(p, key);
    *p++ = ':';
    if (!later) {
      p = json_text::write_json_string(p, m.value(i));
      continue;
    }
    *p++ = '[';
    p = json_text::write_json_string(p, m.value(i));
    for (std::size_t j = i + 1; j < n; ++j)
      if (m.key(j) == key) {
        *p++ = ',';
        p = json_text::write_json_string(p, m.value(j));
      }
    *p++ = ']';
  }
  *p++ = '}';
  out.resize(static_cast<std::size_t>(p - out.data()));
}

std::unique_ptr<nats_bus> nats_bus::start(const config::bus_nats_config& cfg, std::vector<std::string> servers,
                                          bus_hooks hooks) {
  auto bus = std::make_unique<detail::impl>(cfg, std::move(servers), std::move(hooks));
  bus->start_threads();
  return bus;
}

}  // namespace astra::bus
