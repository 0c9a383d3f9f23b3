// The lease thread of the NATS bus: connection, lease bucket, acquire / renew / give up /
// release (see nats_bus.hpp for the contract).
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocols/common/json_string.hpp"
#include "service/bus/nats_bus_impl.hpp"

namespace astra::bus::detail {

namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr auto connect_retry_period = 1s;  // natsConnection_Connect refused outright (bad options)
constexpr std::int64_t reconnect_initial_ms = 250, reconnect_max_ms = 5'000;  // reconnect backoff

std::string status_text(natsStatus s) {
  std::string out = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail && *detail && last == s) out += std::string(": ") + detail;
  return out;
}

std::string bucket_name(const std::string& prefix) {
  std::string b = prefix;
  std::replace(b.begin(), b.end(), '.', '_');
  return b + "_leases";
}

}  // namespace

// --- libnats callbacks (libnats threads): atomics, notify, non-blocking hooks only.

void impl::on_disconnected(natsConnection*, void* closure) {
  auto* ctx = static_cast<callback_context*>(closure);
  std::lock_guard alive(ctx->mutex);
  if (!ctx->owner) return;
  ctx->owner->connected_ = false;
  if (ctx->owner->hooks_.connection) ctx->owner->hooks_.connection(false, "disconnected");
}

void impl::on_reconnected(natsConnection*, void* closure) {
  auto* ctx = static_cast<callback_context*>(closure);
  std::lock_guard alive(ctx->mutex);
  if (!ctx->owner) return;
  ctx->owner->connected_ = true;
  ctx->owner->reconnects_.fetch_add(1);
  if (ctx->owner->hooks_.connection) ctx->owner->hooks_.connection(true, "reconnected");
  ctx->owner->buffer_cv_.notify_all();
}

void impl::on_connected(natsConnection*, void* closure) {
  auto* ctx = static_cast<callback_context*>(closure);
  std::lock_guard alive(ctx->mutex);
  if (!ctx->owner) return;
  ctx->owner->connected_ = true;
  if (ctx->owner->hooks_.connection) ctx->owner->hooks_.connection(true, "connected");
  {
    std::lock_guard lock(ctx->owner->lease_mutex_);
    ctx->owner->lease_wake_ = true;
  }
  ctx->owner->lease_cv_.notify_all();
  ctx->owner->buffer_cv_.notify_all();
}

void impl::on_closed(natsConnection*, void* closure) {
  auto* ctx = static_cast<callback_context*>(closure);
  std::lock_guard alive(ctx->mutex);
  if (!ctx->owner) return;
  ctx->owner->connected_ = false;
}

std::int64_t impl::reconnect_delay(natsConnection*, int attempts, void*) {
  // Capped exponential backoff with +/- 20 % jitter (attempts counts from 1 per server list pass).
  std::int64_t d = reconnect_initial_ms;
  for (int i = 1; i < attempts && d < reconnect_max_ms; ++i) d *= 2;
  d = std::min(d, reconnect_max_ms);
  const std::int64_t jitter = d / 5;
  return d - jitter + static_cast<std::int64_t>(std::rand() % (2 * jitter + 1));
}

void impl::on_released(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  natsMsg_Destroy(msg);
  auto* ctx = static_cast<callback_context*>(closure);
  std::lock_guard alive(ctx->mutex);
  if (!ctx->owner) return;
  {
    std::lock_guard lock(ctx->owner->lease_mutex_);
    ctx->owner->lease_wake_ = true;
  }
  ctx->owner->lease_cv_.notify_all();
}

// --- lease thread

bool impl::ensure_connection() {
  if (nc_.load()) return true;
  if (!opts_) {
    if (natsOptions_Create(&opts_) != NATS_OK) return false;
    std::vector<const char*> urls;
    bool secure = false;
    for (const auto& u : cfg_.urls) {
      urls.push_back(u.c_str());
      secure = secure || u.rfind("tls://", 0) == 0;
    }
    natsStatus s = natsOptions_SetServers(opts_, urls.data(), static_cast<int>(urls.size()));
    const std::string name = "astra " + cfg_.replica;
    if (s == NATS_OK) s = natsOptions_SetName(opts_, name.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts_, cfg_.connect_timeout.count());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts_, -1);
    if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts_, &impl::reconnect_delay, nullptr);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts_, 8 * 1024 * 1024);
    // Subscriptions share libnats's delivery pool (one per call would otherwise be one thread
    // per call: issue 14's per-channel subscriptions); order per subscription is kept.
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(opts_, true);
    // A dead server is noticed within about a lease TTL (2 pings out).
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts_, std::max<std::int64_t>(500, cfg_.lease_ttl.count() / 2));
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts_, 2);
    // Writes never block the lease or publisher thread for long: without a write deadline
    // libnats writes a full socket synchronously under the connection lock, which the KV calls
    // and the ping timer need too (a dead link would then freeze the split-brain guard).
    if (s == NATS_OK) s = natsOptions_SetWriteDeadline(opts_, kv_timeout_.count());
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts_, true, &impl::on_connected, ctx_);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts_, &impl::on_disconnected, ctx_);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts_, &impl::on_reconnected, ctx_);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts_, &impl::on_closed, ctx_);
    if (s == NATS_OK && !cfg_.token.empty()) s = natsOptions_SetToken(opts_, cfg_.token.c_str());
    if (s == NATS_OK && !cfg_.user.empty()) s = natsOptions_SetUserInfo(opts_, cfg_.user.c_str(), cfg_.password.c_str());
    if (s == NATS_OK && !cfg_.credentials_file.empty())
      s = natsOptions_SetUserCredentialsFromFiles(opts_, cfg_.credentials_file.c_str(), nullptr);
    if (s == NATS_OK && secure) s = natsOptions_SetSecure(opts_, true);
    if (s == NATS_OK && !cfg_.tls_ca_file.empty()) s = natsOptions_LoadCATrustedCertificates(opts_, cfg_.tls_ca_file.c_str());
    if (s != NATS_OK) {
      spdlog::error("bus: NATS options refused: {}", status_text(s));
      natsOptions_Destroy(opts_);
      opts_ = nullptr;
      return false;
    }
  }
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts_);
  if (s == NATS_OK) {
    connected_ = true;
    if (hooks_.connection) hooks_.connection(true, "connected");
  } else if (s == NATS_NOT_YET_CONNECTED) {
    if (hooks_.connection) hooks_.connection(false, "connecting");  // libnats retries in the background
  } else {
    spdlog::warn("bus: cannot connect to NATS ({}): {}", cfg_.url, status_text(s));
    if (hooks_.connection) hooks_.connection(false, status_text(s));
    return false;
  }
  nc_.store(nc, std::memory_order_release);
  const std::string released = prefix_ + "*.lease.released";
  if (natsConnection_Subscribe(&release_sub_, nc, released.c_str(), &impl::on_released, ctx_) != NATS_OK)
    release_sub_ = nullptr;  // standbys then only poll (every lease_ttl / 3)
  subscribe_pending();
  return true;
}

bool impl::ensure_bucket() {
  if (kv_) return true;
  natsConnection* nc = nc_.load();
  if (!nc || !connected_.load()) return false;
  if (!js_) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = kv_timeout_.count();
    if (natsConnection_JetStream(&js_, nc, &o) != NATS_OK) {
      js_ = nullptr;
      return false;
    }
  }
  const std::string bucket = bucket_name(cfg_.subject_prefix);
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = bucket.c_str();
  kc.Description = "astra upstream leases (issue 14)";
  kc.History = 1;
  kc.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.lease_ttl).count();
  natsStatus s = js_CreateKeyValue(&kv_, js_, &kc);
  if (s != NATS_OK) {
    // Already there with another configuration (e.g. another lease_ttl): use it as it is.
    kv_ = nullptr;
    const std::string why = status_text(s);
    if (js_KeyValue(&kv_, js_, bucket.c_str()) != NATS_OK) {
      kv_ = nullptr;
      spdlog::warn("bus: cannot create or bind the lease bucket {}: {}", bucket, why);
      return false;
    }
    // Its TTL decides when a lease lapses: shorter than lease_ttl, a standby could take a
    // lease while its holder still counts on it (split brain). Refused then; longer only
    // slows take-overs down.
    kvStatus* status = nullptr;
    std::int64_t bucket_ttl_ns = 0;
    if (kvStore_Status(&status, kv_) == NATS_OK && status) {
      bucket_ttl_ns = kvStatus_TTL(status);
      kvStatus_Destroy(status);
    }
    const auto wanted_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.lease_ttl).count();
    if (bucket_ttl_ns == 0 || bucket_ttl_ns < wanted_ns) {
      if (!bucket_mismatch_logged_) {
        bucket_mismatch_logged_ = true;
        spdlog::error("bus: lease bucket {} has a TTL of {} ms, below bus.nats.lease_ttl ({} ms) or unknown: no lease "
                      "is taken; delete the bucket (nats kv del {}) or align lease_ttl",
                      bucket, bucket_ttl_ns / 1000000, cfg_.lease_ttl.count(), bucket);
      }
      kvStore_Destroy(kv_);
      kv_ = nullptr;
      return false;
    }
    spdlog::warn("bus: lease bucket {} exists with another configuration (TTL {} ms); using it ({})", bucket,
                 bucket_ttl_ns / 1000000, why);
  }
  return true;
}

std::string impl::lease_value(bool released) const {
  std::string v = "{\"replica\":";
  json_text::append_json_string(v, cfg_.replica);
  v += ",\"instance\":";
  json_text::append_json_string(v, instance_);
  v += ",\"renewed_unix_ms\":" + std::to_string(unix_ms_now());
  v += ",\"released\":";
  v += released ? "true" : "false";
  v += ",\"ttl_ms\":" + std::to_string(cfg_.lease_ttl.count()) + "}";
  return v;
}

void impl::show_holder(std::size_t i, const std::string& holder) {
  auto& slot = *slots_[i];
  if (slot.holder_shown == holder) return;
  slot.holder_shown = holder;
  if (hooks_.holder) hooks_.holder(slot.name, holder);
}

void impl::subscribe_requests(std::size_t i) {
  natsConnection* nc = nc_.load();
  auto& slot = *slots_[i];
  if (!nc) return;
  const std::string ami = slot.prefix + "ami.action", ari = slot.prefix + "ari.request";
  if (!slot.ami_sub && natsConnection_Subscribe(&slot.ami_sub, nc, ami.c_str(), &impl::on_request, closures_[2 * i]) != NATS_OK)
    slot.ami_sub = nullptr;
  if (!slot.ari_sub &&
      natsConnection_Subscribe(&slot.ari_sub, nc, ari.c_str(), &impl::on_request, closures_[2 * i + 1]) != NATS_OK)
    slot.ari_sub = nullptr;
  // Make the interest known to the server before anyone is told this replica holds it.
  natsConnection_FlushTimeout(nc, kv_timeout_.count());
}

void impl::unsubscribe_requests(std::size_t i) {
  auto& slot = *slots_[i];
  for (natsSubscription** sub : {&slot.ami_sub, &slot.ari_sub}) {
    if (!*sub) continue;
    natsSubscription_Unsubscribe(*sub);
    natsSubscription_Destroy(*sub);
    *sub = nullptr;
  }
}

void impl::took(std::size_t i, std::uint64_t revision, const std::string& reason, std::int64_t gap_ms) {
  auto& slot = *slots_[i];
  slot.revision = revision;
  slot.renewed_at = clock::now();
  slot.next_attempt = slot.renewed_at + cfg_.lease_ttl / 3;
  {
    std::lock_guard lock(buffer_mutex_);
    slot.next_seq = 1;
    slot.epoch.store(revision);
  }
  subscribe_requests(i);
  lease_change c;
  c.server = slot.name;
  c.held = true;
  c.epoch = revision;
  c.reason = reason;
  c.previous_holder = slot.seen_holder;
  c.gap_ms = gap_ms;
  spdlog::info("bus: holding server {} (epoch {}, {}, previous holder \"{}\", gap {} ms)", slot.name, revision, reason,
               slot.seen_holder, gap_ms);
  // The announcement goes first in the buffer: it precedes every event of the new epoch.
  std::string body = "{\"server\":";
  json_text::append_json_string(body, slot.name);
  body += ",\"event\":\"acquired\",\"replica\":";
  json_text::append_json_string(body, cfg_.replica);
  body += ",\"epoch\":" + std::to_string(revision) + ",\"reason\":";
  json_text::append_json_string(body, reason);
  body += ",\"previous_replica\":";
  json_text::append_json_string(body, slot.seen_holder);
  body += ",\"gap_ms\":" + std::to_string(gap_ms) + ",\"unix_ms\":" + std::to_string(unix_ms_now()) + "}";
  enqueue_control(slot.prefix + "upstream", std::move(body));
  show_holder(i, cfg_.replica);
  if (hooks_.lease) hooks_.lease(c);
}

void impl::give_up(std::size_t i, const std::string& reason) {
  auto& slot = *slots_[i];
  if (slot.epoch.load() == 0) return;
  const auto epoch = slot.epoch.load();
  {
    std::lock_guard lock(buffer_mutex_);
    slot.epoch.store(0);  // from here on nothing of this epoch is queued or published
  }
  // The upstreams stop first: nothing below (a publish in progress, an unsubscribe) may hold
  // them up, since both can wait on the NATS connection.
  spdlog::warn("bus: gave up server {} (epoch {}): {}", slot.name, epoch, reason);
  lease_change c;
  c.server = slot.name;
  c.held = false;
  c.epoch = epoch;
  c.reason = reason;
  if (hooks_.lease) hooks_.lease(c);
  show_holder(i, "");
  { std::lock_guard wait_for_batch(publish_guard_); }  // a batch in progress has been handed over
  unsubscribe_requests(i);
}

void impl::try_acquire(std::size_t i) {
  auto& slot = *slots_[i];
  const auto now = clock::now();
  slot.next_attempt = now + cfg_.lease_ttl / 3;
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, slot.key.c_str());
  const std::string value = lease_value(false);
  if (s == NATS_NOT_FOUND) {
    // Absent (never held, expired or deleted): create-if-absent decides between racers.
    std::uint64_t rev = 0;
    const std::int64_t gap = slot.seen_renewed_unix_ms ? unix_ms_now() - slot.seen_renewed_unix_ms : -1;
    if (kvStore_Create(&rev, kv_, slot.key.c_str(), value.data(), static_cast<int>(value.size())) == NATS_OK)
      took(i, rev, slot.seen_holder.empty() ? "free" : "expired", gap);
    else
      slot.next_attempt = now + std::min<std::chrono::milliseconds>(cfg_.lease_ttl / 10, 100ms);  // look again soon
    return;
  }
  if (s != NATS_OK) return;  // timeout / disconnected: next round
  const std::uint64_t rev = kvEntry_Revision(e);
  std::string holder, instance;
  std::int64_t renewed = 0;
  bool released = false;
  try {
    auto j = nlohmann::json::parse(std::string(kvEntry_ValueString(e) ? kvEntry_ValueString(e) : ""));
    holder = j.value("replica", std::string());
    instance = j.value("instance", std::string());
    renewed = j.value("renewed_unix_ms", std::int64_t{0});
    released = j.value("released", false);
  } catch (...) {
    holder = "?";
  }
  kvEntry_Destroy(e);
  // Same replica name, another process: this replica's previous life (a restart) or a second
  // process configured with the same name. A live holder renews every TTL/3, so only a value
  // not renewed for 2/3 TTL is taken over; a fresh one waits for its expiry like any other.
  const bool same_name_stale = holder == cfg_.replica && instance != instance_ && renewed > 0 &&
                               unix_ms_now() - renewed >= (cfg_.lease_ttl * 2 / 3).count();
  if (holder == cfg_.replica && instance != instance_ && !same_name_stale && !released && !duplicate_name_logged_) {
    duplicate_name_logged_ = true;
    spdlog::warn("bus: server {} is held by another process with this replica's name ({}): give each replica "
                 "its own bus.nats.replica; waiting for that lease to lapse",
                 slot.name, cfg_.replica);
  }
  if (released || same_name_stale || (holder == cfg_.replica && instance == instance_)) {
    // Released by its holder (drain), or held by this replica's previous life (a restart with
    // the same name, no longer renewed): take it over with the revision we read.
    std::uint64_t nrev = 0;
    const std::string prev = holder;
    slot.seen_holder = holder;
    if (kvStore_Update(&nrev, kv_, slot.key.c_str(), value.data(), static_cast<int>(value.size()), rev) == NATS_OK)
      took(i, nrev, released ? "released" : "restart", renewed ? unix_ms_now() - renewed : -1);
    return;
  }
  slot.seen_holder = holder;
  slot.seen_renewed_unix_ms = renewed;
  show_holder(i, holder);
}

void impl::renew(std::size_t i) {
  auto& slot = *slots_[i];
  const std::string value = lease_value(false);
  std::uint64_t rev = 0;
  const auto started = clock::now();
  natsStatus s = kvStore_Update(&rev, kv_, slot.key.c_str(), value.data(), static_cast<int>(value.size()), slot.revision);
  if (s == NATS_OK) {
    slot.revision = rev;
    slot.renewed_at = started;  // the write happened after this instant: a conservative bound
    slot.next_attempt = started + cfg_.lease_ttl / 3;
    return;
  }
  // Failed: find out whether somebody else holds it now (then give up at once) or we just
  // could not reach JetStream (then retry soon; the 2/3 TTL guard gives up in time).
  kvEntry* e = nullptr;
  natsStatus g = kvStore_Get(&e, kv_, slot.key.c_str());
  if (g == NATS_NOT_FOUND) {
    give_up(i, "lease expired before renewal");
  } else if (g == NATS_OK) {
    std::string holder, instance;
    try {
      auto j = nlohmann::json::parse(std::string(kvEntry_ValueString(e) ? kvEntry_ValueString(e) : ""));
      holder = j.value("replica", std::string());
      instance = j.value("instance", std::string());
    } catch (...) {
    }
    const std::uint64_t current = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (holder == cfg_.replica && instance == instance_ && current > slot.revision) {
      slot.revision = current;  // our write went through, its reply was lost
      slot.renewed_at = started;
    } else if (current != slot.revision) {
      slot.seen_holder = holder;
      give_up(i, "taken by " + holder);
      return;
    }
  }
  slot.next_attempt = clock::now() + std::min<std::chrono::milliseconds>(cfg_.lease_ttl / 10, 200ms);
}

void impl::release_all_now(std::chrono::milliseconds) {
  natsConnection* nc = nc_.load();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = *slots_[i];
    if (slot.epoch.load() == 0) continue;
    const auto epoch = slot.epoch.load();
    give_up(i, "released");  // stops the upstreams and the publishing of this epoch first
    const std::string value = lease_value(true);
    std::uint64_t rev = 0;
    const bool written = kv_ && kvStore_Update(&rev, kv_, slot.key.c_str(), value.data(),
                                               static_cast<int>(value.size()), slot.revision) == NATS_OK;
    if (!nc) continue;
    std::string body = "{\"server\":";
    json_text::append_json_string(body, slot.name);
    body += ",\"event\":\"released\",\"replica\":";
    json_text::append_json_string(body, cfg_.replica);
    body += ",\"epoch\":" + std::to_string(epoch) + ",\"unix_ms\":" + std::to_string(unix_ms_now()) + "}";
    const std::string upstream = slot.prefix + "upstream", released = slot.prefix + "lease.released";
    natsConnection_Publish(nc, upstream.c_str(), body.data(), static_cast<int>(body.size()));
    if (written) natsConnection_Publish(nc, released.c_str(), body.data(), static_cast<int>(body.size()));
    spdlog::info("bus: released server {} (epoch {}, marked in the bucket: {})", slot.name, epoch, written);
  }
  if (nc) natsConnection_FlushTimeout(nc, kv_timeout_.count());
}

void impl::lease_round(clock::time_point now) {
  bool releasing = false;
  {
    std::lock_guard lock(lease_mutex_);
    releasing = releasing_;
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = *slots_[i];
    const bool held = slot.epoch.load() != 0;
    // Split-brain guard: a holder that has not renewed for 2/3 of the TTL stops its upstreams
    // before the key can expire and another replica create it.
    if (held && now - slot.renewed_at >= cfg_.lease_ttl * 2 / 3) {
      give_up(i, "lease not renewed for " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.renewed_at).count()) +
                     " ms");
      continue;
    }
    if (!kv_ || !connected_.load() || now < slot.next_attempt) continue;
    if (held) renew(i);
    else if (!releasing) try_acquire(i);
    now = clock::now();
  }
  // The KV calls above take up to kv_timeout each: a slot checked early in this round is
  // checked again now, so a round of slow calls never carries a holder past its guard.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = *slots_[i];
    if (slot.epoch.load() != 0 && now - slot.renewed_at >= cfg_.lease_ttl * 2 / 3)
      give_up(i, "lease not renewed for " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.renewed_at).count()) +
                     " ms");
  }
}

void impl::lease_loop() {
  auto next_connect = clock::now();
  for (;;) {
    bool releasing = false;
    {
      std::lock_guard lock(lease_mutex_);
      releasing = releasing_;
      if (lease_wake_) {
        lease_wake_ = false;
        for (auto& s : slots_)
          if (s->epoch.load() == 0) s->next_attempt = clock::now();
      }
    }
    if (stopping_.load()) break;
    auto now = clock::now();
    if (!nc_.load() && now >= next_connect && !ensure_connection()) next_connect = now + connect_retry_period;
    ensure_bucket();
    if (releasing) {
      bool done = false;
      {
        std::lock_guard lock(lease_mutex_);
        done = released_;
      }
      if (!done) {
        release_all_now(kv_timeout_);
        std::lock_guard lock(lease_mutex_);
        released_ = true;
        released_cv_.notify_all();
      }
    }
    lease_round(clock::now());
    // Sleep until the next renewal / attempt / guard deadline, or a wake-up.
    // Attempts are due only while they can run (connected, bucket bound, not released):
    // otherwise a past next_attempt would wake this thread every few ms for nothing.
    const bool attempts_possible = kv_ && connected_.load() && !releasing;
    auto until = clock::now() + cfg_.lease_ttl / 3;
    for (auto& s : slots_) {
      if (attempts_possible) until = std::min(until, s->next_attempt);
      if (s->epoch.load() != 0) until = std::min(until, s->renewed_at + cfg_.lease_ttl * 2 / 3);
    }
    if (!attempts_possible) until = std::min(until, clock::now() + std::chrono::milliseconds(200));
    std::unique_lock lock(lease_mutex_);
    lease_cv_.wait_until(lock, std::max(until, clock::now() + std::chrono::milliseconds(5)),
                         [this] { return lease_wake_ || stopping_.load() || (releasing_ && !released_); });
  }
  // Stopping: whatever is still held is given up (the drain released it already, if any).
  for (std::size_t i = 0; i < slots_.size(); ++i) give_up(i, "stopped");
  {
    std::lock_guard lock(lease_mutex_);
    released_ = true;
    released_cv_.notify_all();
  }
  if (release_sub_) {
    natsSubscription_Unsubscribe(release_sub_);
    natsSubscription_Destroy(release_sub_);
    release_sub_ = nullptr;
  }
  unsubscribe_all();
  if (kv_) kvStore_Destroy(kv_);
  kv_ = nullptr;
  if (js_) jsCtx_Destroy(js_);
  js_ = nullptr;
  natsConnection* closing = nullptr;
  {
    std::lock_guard no_reply_in_flight(ctx_->mutex);  // reply_fn publishes under it
    closing = nc_.exchange(nullptr);
  }
  if (natsConnection* nc = closing) {
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
  }
  if (opts_) natsOptions_Destroy(opts_);
  opts_ = nullptr;
}

}  // namespace astra::bus::detail
