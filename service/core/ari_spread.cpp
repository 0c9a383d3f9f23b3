// ARI call spreading over NATS (issue 14): the relay on the holder of the event socket and the
// worker on every replica. Protocol and threads: ari_spread.hpp.
#include "service/core/ari_spread.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "actors/ari/client.hpp"
#include "generated/ari/events.hpp"
#include "protocols/ari/rest.hpp"
#include "protocols/common/json_string.hpp"
#include "service/bus/nats_bus.hpp"

namespace astra::runtime {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto sweep_period = std::chrono::milliseconds(250);  // relay: claim deadlines, lost workers
constexpr std::size_t dedupe_window = 8192;                    // worker: (relay, seq) pairs remembered
constexpr unsigned max_offer_attempts = 3;                     // relay: offers of one call (declined / unanswered)

std::string json_quoted(std::string_view s) {
  std::string out;
  json_text::append_json_string(out, s);
  return out;
}

std::string base_of(const bus::nats_bus& bus, const std::string& server) { return bus.prefix() + server + "."; }

// {"seq":N,"relay":R,"event":<frame>}
std::string envelope(std::uint64_t seq, std::uint32_t relay, std::string_view frame) {
  std::string out;
  out.reserve(frame.size() + 48);
  out += "{\"seq\":";
  out += std::to_string(seq);
  out += ",\"relay\":";
  out += std::to_string(relay);
  out += ",\"event\":";
  out += frame;
  out += '}';
  return out;
}

// Parses envelope(); false when `data` is not one.
bool open_envelope(std::string_view data, std::uint64_t& seq, std::uint32_t& relay, std::string_view& frame) {
  constexpr std::string_view head = "{\"seq\":", mid = ",\"relay\":", tail = ",\"event\":";
  if (data.size() < head.size() + mid.size() + tail.size() + 3 || data.substr(0, head.size()) != head ||
      data.back() != '}')
    return false;
  const char* p = data.data() + head.size();
  const char* end = data.data() + data.size();
  auto r = std::from_chars(p, end, seq);
  if (r.ec != std::errc{}) return false;
  std::string_view rest(r.ptr, static_cast<std::size_t>(end - r.ptr));
  if (rest.substr(0, mid.size()) != mid) return false;
  p = r.ptr + mid.size();
  r = std::from_chars(p, end, relay);
  if (r.ec != std::errc{}) return false;
  rest = std::string_view(r.ptr, static_cast<std::size_t>(end - r.ptr));
  if (rest.substr(0, tail.size()) != tail) return false;
  frame = rest.substr(tail.size(), rest.size() - tail.size() - 1);
  return true;
}

std::string identity_json(const bus::nats_bus& bus) {
  return "{\"instance\":" + json_quoted(bus.instance()) + ",\"replica\":" + json_quoted(bus.replica());
}

// ------------------------------------------------------------------------------------------
// relay (holder)
// ------------------------------------------------------------------------------------------

struct call_claim {
  std::string worker;                 // instance that claimed it; "" while offered
  std::string start_frame;            // the StasisStart (offered again by reoffer)
  // Messages waiting for the claim, in order: (subject, envelope); an event about this channel
  // and a bridge waits with both copies, so the bridge's copy cannot overtake the channel's.
  std::vector<std::pair<std::string, std::string>> held;
  bool ended = false;                 // StasisEnd / ChannelDestroyed seen while offered
  std::uint64_t offer = 0;            // reply subject suffix of the pending offer (0: none)
  unsigned attempts = 0;              // offers of this call so far (declines re-offer, bounded)
  clock_type::time_point since{};     // offered at / claimed at
};

class relay_impl final : public ari_relay, public std::enable_shared_from_this<relay_impl> {
 public:
  relay_impl(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts, ari_spread_hooks hooks,
             relay_rest_fn rest)
      : bus_(bus), io_(io), timer_(io), opts_(std::move(opts)), hooks_(std::move(hooks)), rest_(std::move(rest)),
        base_(base_of(bus, opts_.server)), inbox_(bus.new_inbox()) {
    std::random_device rd;
    relay_id_ = rd();
  }

  void begin() {
    std::weak_ptr<relay_impl> weak = shared_from_this();
    subs_.push_back(bus_.subscribe(inbox_ + ".*", {}, [weak](const bus::bus_message& m) {
      if (auto self = weak.lock()) self->on_answer(m);
    }));
    subs_.push_back(bus_.subscribe(base_ + "ari.claim", {}, [weak](const bus::bus_message& m) {
      if (auto self = weak.lock()) self->on_claim_notice(m);
    }));
    subs_.push_back(bus_.subscribe(base_ + "ari.claims", {}, [weak](const bus::bus_message& m) {
      if (auto self = weak.lock()) self->on_heartbeat(m);
    }));
    arm();
  }

  void on_event(const ari::event& e, std::string_view frame) override {
    const auto t = e.type();
    const std::string cid(e.channel_id());
    const std::string bid(e.bridge_id());
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      const std::string env = envelope(++seq_, relay_id_, frame);
      if (!cid.empty()) {
        auto it = calls_.find(cid);
        const bool ends = t == ari::event_type::StasisEnd || t == ari::event_type::ChannelDestroyed;
        if (t == ari::event_type::StasisStart && (it == calls_.end() || (it->second.worker.empty() && !it->second.offer))) {
          if (it == calls_.end()) it = calls_.emplace(cid, call_claim{}).first;
          it->second.start_frame.assign(frame);
          offer(cid, it->second);
        } else if (it != calls_.end() && it->second.worker.empty()) {
          auto& held = it->second.held;
          if (held.size() < max_held_events) {
            held.emplace_back(base_ + "ari.channel." + bus::subject_token(cid), env);
            if (!bid.empty()) held.emplace_back(base_ + "ari.bridge." + bus::subject_token(bid), env);
          } else if (hooks_.dropped) {
            hooks_.dropped("ari.held");
          }
          if (ends) it->second.ended = true;
          return;  // the bridge's copy (if any) waits with it
        } else {
          if (t == ari::event_type::StasisStart && it != calls_.end()) it->second.start_frame.assign(frame);
          // Claimed, pre-claimed (originated by a replica) or unknown (a channel some replica
          // may be following, e.g. one it originated; after a takeover, before the claims
          // heartbeat): published; nobody listening costs NATS nothing but the message.
          bus_.publish(base_ + "ari.channel." + bus::subject_token(cid), env, {}, opts_.bus_index);
          if (ends && it != calls_.end()) calls_.erase(it);
        }
      }
      if (!bid.empty()) bus_.publish(base_ + "ari.bridge." + bus::subject_token(bid), env, {}, opts_.bus_index);
    }
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    for (auto id : subs_) bus_.unsubscribe(id);
    // The timer is not cancelled here (not thread-safe against its Asio thread): its handler
    // sees stopped_ and does not re-arm.
  }

  std::size_t calls() const override {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }

  void on_connected() override {
    std::weak_ptr<relay_impl> weak = shared_from_this();
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, opts_.heartbeat * 5 / 2);
    timer->async_wait([weak, timer](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->list_unclaimed();
    });
  }

 private:
  void hang_up(const std::string& id, std::function<void(int)> then = {}) {
    rest_("DELETE", "/ari/channels/" + ari::percent_encode_segment(id), [id, then](int status, std::string) {
      if (status < 200 || status >= 300)
        spdlog::warn("ari: hanging up channel {} failed: {}", id, status ? std::to_string(status) : "transport failure");
      if (then) then(status);
    });
  }

  void list_unclaimed() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
    }
    std::weak_ptr<relay_impl> weak = shared_from_this();
    rest_("GET", "/ari/channels", [weak](int status, std::string body) {
      auto self = weak.lock();
      if (!self) return;
      if (status != 200) {
        spdlog::warn("ari: listing the channels of {} for unclaimed calls failed ({})", self->opts_.server, status);
        return;
      }
      self->on_listing(body);
    });
  }

  // The channels inside one of the apps that no replica claims get on_reconnect.
  void on_listing(const std::string& body) {
    auto list = nlohmann::json::parse(body, nullptr, false);
    if (!list.is_array()) return;
    struct orphan {
      std::string id, app;
      nlohmann::json channel;
      std::vector<std::string> args;
    };
    std::vector<orphan> found;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      for (auto& ch : list) {
        if (!ch.is_object() || !ch.contains("id") || !ch["id"].is_string() || !ch.contains("dialplan")) continue;
        const auto& dp = ch["dialplan"];
        std::string app_name = dp.is_object() ? dp.value("app_name", "") : "";
        std::transform(app_name.begin(), app_name.end(), app_name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (app_name != "stasis") continue;
        const std::string data = dp.value("app_data", "");
        std::vector<std::string> tokens;
        std::string token;
        for (char c : data + ",") {
          if (c == ',') {
            tokens.push_back(token);
            token.clear();
          } else {
            token += c;
          }
        }
        if (tokens.empty() || std::find(opts_.apps.begin(), opts_.apps.end(), tokens.front()) == opts_.apps.end()) continue;
        const std::string id = ch["id"].get<std::string>();
        if (calls_.count(id)) continue;  // offered or claimed
        found.push_back({id, tokens.front(), ch, std::vector<std::string>(tokens.begin() + 1, tokens.end())});
      }
    }
    if (found.empty()) return;
    const auto policy = config::to_string(opts_.on_reconnect);
    spdlog::warn("ari: {} channel(s) inside the apps of {} claimed by no replica; on_reconnect: {}", found.size(),
                 opts_.server, policy);
    auto report = [hook = hooks_.reconnect_channel, policy](int status) {
      if (hook) hook(policy, status >= 200 && status < 300 ? "ok" : status == 404 ? "gone" : "failed");
    };
    for (auto& o : found) {
      switch (opts_.on_reconnect) {
        case config::ari_reconnect_policy::hangup:
          hang_up(o.id, report);
          break;
        case config::ari_reconnect_policy::continue_:
          rest_("POST", "/ari/channels/" + ari::percent_encode_segment(o.id) + "/continue", [report](int status, std::string) { report(status); });
          break;
        case config::ari_reconnect_policy::adopt: {
          nlohmann::json start = {{"type", "StasisStart"},          {"timestamp", "1970-01-01T00:00:00.000+0000"},
                                  {"args", o.args},                 {"channel", o.channel},
                                  {"application", o.app}};
          std::lock_guard lock(mutex_);
          if (stopped_ || calls_.count(o.id)) break;
          auto& c = calls_[o.id];
          c.start_frame = start.dump();
          offer(o.id, c);
          report(200);
          break;
        }
      }
    }
  }

  // Under mutex_.
  void offer(const std::string& cid, call_claim& c) {
    ++c.attempts;
    c.worker.clear();
    c.held.clear();
    c.offer = ++offer_seq_;
    c.since = clock_type::now();
    offers_[c.offer] = cid;
    bus_.publish(base_ + "ari.calls", c.start_frame, inbox_ + "." + std::to_string(c.offer), opts_.bus_index);
    if (hooks_.offered) hooks_.offered();
  }

  // Under mutex_: the call leaves the table; the caller hangs it up outside the lock.
  void unclaimed(const std::string& cid, const char* why, std::vector<std::string>& out) {
    spdlog::warn("ari: call {} on {} not claimed by any replica ({}); hanging it up", cid, opts_.server, why);
    if (hooks_.unclaimed) hooks_.unclaimed();
    calls_.erase(cid);
    out.push_back(cid);
  }

  void on_answer(const bus::bus_message& m) {
    std::uint64_t n = 0;
    const auto dot = m.subject.rfind('.');
    if (dot == std::string_view::npos) return;
    std::from_chars(m.subject.data() + dot + 1, m.subject.data() + m.subject.size(), n);
    std::string instance;
    bool declined = false;
    if (!m.no_responders) {
      auto j = nlohmann::json::parse(m.data, nullptr, false);
      if (j.is_object() && j.contains("instance") && j["instance"].is_string()) instance = j["instance"].get<std::string>();
      declined = j.is_object() && j.value("declined", false);
    }
    std::vector<std::string> to_hang_up;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      auto o = offers_.find(n);
      if (o == offers_.end()) return;  // answered after its deadline: the call was handled already
      const std::string cid = o->second;
      offers_.erase(o);
      auto it = calls_.find(cid);
      if (it == calls_.end() || it->second.offer != n) return;
      if (declined && it->second.attempts < max_offer_attempts) {
        offer(cid, it->second);  // a draining / stopping replica: another one may take it
      } else if (declined || instance.empty()) {
        unclaimed(cid, declined ? "declined by every replica asked" : m.no_responders ? "no replica listens" : "invalid claim answer",
                  to_hang_up);
      } else {
        auto& c = it->second;
        c.worker = instance;
        c.offer = 0;
        c.since = clock_type::now();
        workers_.try_emplace(instance, c.since);
        for (auto& [subject, env] : c.held) bus_.publish(std::move(subject), std::move(env), {}, opts_.bus_index);
        c.held.clear();
        if (c.ended) calls_.erase(it);
      }
    }
    for (const auto& id : to_hang_up) hang_up(id);
  }

  void on_claim_notice(const bus::bus_message& m) {
    auto j = nlohmann::json::parse(m.data, nullptr, false);
    if (!j.is_object() || !j.contains("instance") || !j.contains("channel") || !j["instance"].is_string() ||
        !j["channel"].is_string())
      return;
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    auto& c = calls_[j["channel"].get<std::string>()];
    if (!c.worker.empty() || c.offer) return;  // already offered / claimed: the first one stands
    c.worker = j["instance"].get<std::string>();
    c.since = clock_type::now();
    workers_[c.worker] = c.since;
  }

  void on_heartbeat(const bus::bus_message& m) {
    auto j = nlohmann::json::parse(m.data, nullptr, false);
    if (!j.is_object() || !j.contains("instance") || !j["instance"].is_string() || !j.contains("channels") ||
        !j["channels"].is_array())
      return;
    const std::string instance = j["instance"].get<std::string>();
    std::unordered_set<std::string> listed;
    for (const auto& ch : j["channels"])
      if (ch.is_string()) listed.insert(ch.get<std::string>());
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    const auto now = clock_type::now();
    workers_[instance] = now;
    last_heartbeat_ = now;
    // Learn the claims this relay does not know (a takeover), forget those the worker no
    // longer runs (its actor ended; claims younger than two heartbeats may not be listed yet).
    for (const auto& ch : listed) {
      auto& c = calls_[ch];
      if (c.worker.empty() && !c.offer) {
        c.worker = instance;
        c.since = now;
      }
    }
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second.worker == instance && !listed.count(it->first) && now - it->second.since > 2 * opts_.heartbeat)
        it = calls_.erase(it);
      else
        ++it;
    }
  }

  void arm() {
    std::weak_ptr<relay_impl> weak = shared_from_this();
    timer_.expires_after(sweep_period);
    timer_.async_wait([weak](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->sweep();
    });
  }

  void sweep() {
    std::vector<std::string> to_hang_up;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      const auto now = clock_type::now();
      std::vector<std::string> again;  // offers whose deadline passed, offered once more
      for (auto o = offers_.begin(); o != offers_.end();) {
        auto it = calls_.find(o->second);
        if (it != calls_.end() && it->second.offer == o->first && now - it->second.since >= opts_.claim_timeout) {
          const std::string cid = o->second;
          o = offers_.erase(o);
          // The replica it went to died or stalls with it: another one may take it (after the
          // loop: offer() inserts into offers_).
          if (it->second.attempts < max_offer_attempts) again.push_back(cid);
          else unclaimed(cid, "claim deadline passed", to_hang_up);
        } else if (it == calls_.end() || it->second.offer != o->first) {
          o = offers_.erase(o);
        } else {
          ++o;
        }
      }
      // Loss detection only while this relay hears the bus: connected, and heartbeats arriving
      // (its own replica's worker beats every heartbeat period). Otherwise the silence is ours:
      // nobody is declared lost, and every worker's clock restarts once we hear again.
      const bool hearing = bus_.connected() && now - last_heartbeat_ < opts_.worker_timeout;
      if (!hearing) {
        for (auto& [instance, seen] : workers_) seen = now;
        for (auto& [cid, c] : calls_)
          if (c.offer) c.since = now;
        deaf_ = true;
      } else if (deaf_) {
        deaf_ = false;
        spdlog::info("ari: relay of {} hears the bus again; worker-loss detection resumes", opts_.server);
      }
      for (const auto& cid : again)
        if (auto it = calls_.find(cid); it != calls_.end()) offer(cid, it->second);
      for (auto w = workers_.begin(); hearing && w != workers_.end();) {
        if (now - w->second < opts_.worker_timeout) {
          ++w;
          continue;
        }
        const std::string lost = w->first;
        w = workers_.erase(w);
        std::vector<std::string> theirs;
        for (auto& [cid, c] : calls_)
          if (c.worker == lost) theirs.push_back(cid);
        if (theirs.empty()) continue;
        const auto policy = config::to_string(opts_.on_worker_loss);
        spdlog::error("ari: replica {} stopped answering with {} call(s) of {}; on_worker_loss: {}", lost, theirs.size(),
                      opts_.server, policy);
        if (hooks_.worker_lost) hooks_.worker_lost();
        for (const auto& cid : theirs) {
          if (hooks_.loss_call) hooks_.loss_call(policy);
          auto& c = calls_[cid];
          if (opts_.on_worker_loss == config::ari_worker_loss_policy::reoffer && !c.start_frame.empty()) {
            c.attempts = 0;
            offer(cid, c);
          } else {
            if (opts_.on_worker_loss == config::ari_worker_loss_policy::reoffer)
              spdlog::warn("ari: call {} has no StasisStart to offer again (learned from a heartbeat); hanging it up", cid);
            calls_.erase(cid);
            to_hang_up.push_back(cid);
          }
        }
      }
    }
    for (const auto& id : to_hang_up) hang_up(id);
    arm();
  }

  bus::nats_bus& bus_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  const ari_spread_options opts_;
  const ari_spread_hooks hooks_;
  const relay_rest_fn rest_;
  const std::string base_;   // "<prefix>.<server>."
  const std::string inbox_;  // offers' answers: <inbox>.<offer>
  std::uint32_t relay_id_ = 0;
  std::vector<std::uint64_t> subs_;

  mutable std::mutex mutex_;
  bool stopped_ = false;
  std::uint64_t seq_ = 0;
  std::uint64_t offer_seq_ = 0;
  std::unordered_map<std::string, call_claim> calls_;               // channel id ->
  std::unordered_map<std::uint64_t, std::string> offers_;          // offer -> channel id
  std::unordered_map<std::string, clock_type::time_point> workers_;  // instance -> last heard
  clock_type::time_point last_heartbeat_ = clock_type::now();       // any worker's, ours included
  bool deaf_ = false;                                               // logged once per deaf spell
};

// ------------------------------------------------------------------------------------------
// worker (every replica)
// ------------------------------------------------------------------------------------------

class worker_impl final : public ari_worker, public std::enable_shared_from_this<worker_impl> {
 public:
  worker_impl(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts, ari_spread_hooks hooks)
      : bus_(bus), timer_(io), opts_(std::move(opts)), hooks_(std::move(hooks)), base_(base_of(bus, opts_.server)) {}

  void begin() { arm(); }

  // Joins the queue group only now: an offer is never taken before there is a client to run it.
  void attach(ari::client* client) override {
    std::weak_ptr<worker_impl> weak = shared_from_this();
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    client_ = client;
    calls_sub_ = bus_.subscribe(base_ + "ari.calls", base_ + "workers", [weak](const bus::bus_message& m) {
      if (auto self = weak.lock()) self->on_offer(m);
    });
  }

  void on_member(bool channel, const std::string& id, bool added) override {
    auto& subs = channel ? channel_subs_ : bridge_subs_;
    std::uint64_t drop = 0;
    bool notice = false;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      if (added) {
        if (channel) live_.insert(id);
        if (!subs.count(id)) {
          subs[id] = subscribe_relayed(channel, id);
          notice = channel;  // not through an offer: a channel this replica originates
        }
      } else {
        if (channel) live_.erase(id);
        auto it = subs.find(id);
        if (it != subs.end()) {
          drop = it->second;
          subs.erase(it);
        }
      }
    }
    if (drop) bus_.unsubscribe(drop);
    if (notice)
      bus_.publish(base_ + "ari.claim", identity_json(bus_) + ",\"channel\":" + json_quoted(id) + "}");
  }

  void stop_accepting() override {
    std::uint64_t sub = 0;
    {
      std::lock_guard lock(mutex_);
      std::swap(sub, calls_sub_);
    }
    if (sub) bus_.unsubscribe(sub);
  }

  void stop() override {
    std::vector<std::uint64_t> all;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      client_ = nullptr;
      if (calls_sub_) all.push_back(calls_sub_);
      calls_sub_ = 0;
      for (auto& [id, s] : channel_subs_) all.push_back(s);
      for (auto& [id, s] : bridge_subs_) all.push_back(s);
      channel_subs_.clear();
      bridge_subs_.clear();
    }
    for (auto s : all) bus_.unsubscribe(s);
    // The heartbeat timer's handler sees stopped_ and does not re-arm (no cancel from here).
  }

  std::size_t live_channels() const override {
    std::lock_guard lock(mutex_);
    return live_.size();
  }

 private:
  // Under mutex_.
  std::uint64_t subscribe_relayed(bool channel, const std::string& id) {
    std::weak_ptr<worker_impl> weak = shared_from_this();
    return bus_.subscribe(base_ + (channel ? "ari.channel." : "ari.bridge.") + bus::subject_token(id), {},
                          [weak](const bus::bus_message& m) {
                            if (auto self = weak.lock()) self->on_relayed(m);
                          });
  }

  void on_offer(const bus::bus_message& m) {
    if (m.reply.empty()) return;
    auto decoded = ari::decode_event(m.data);
    if (!decoded || decoded->type() != ari::event_type::StasisStart || decoded->channel_id().empty()) {
      spdlog::warn("ari: offered call on {} is not a StasisStart ({} bytes); ignored", opts_.server, m.data.size());
      return;
    }
    const std::string cid(decoded->channel_id());
    bool take = false;
    {
      std::lock_guard lock(mutex_);
      if (!stopped_ && client_ && calls_sub_) {
        if (live_.count(cid)) {
          // Offered again while this replica still runs it (it was silent long enough to be
          // declared lost): the running actor keeps it; no second StasisStart.
          take = true;
        } else {
          // Subscribed before the answer: the relay publishes the channel's events only after it.
          const bool fresh = !channel_subs_.count(cid);
          if (fresh) channel_subs_[cid] = subscribe_relayed(true, cid);
          take = client_->inject_frame(std::string(m.data));
          if (!take && fresh) {
            bus_.unsubscribe(channel_subs_[cid]);
            channel_subs_.erase(cid);
          }
        }
      }
    }
    if (!take) {
      // Draining, stopping, or the frame was refused: the relay offers it to another replica.
      bus_.publish(std::string(m.reply), identity_json(bus_) + ",\"declined\":true}");
      return;
    }
    bus_.publish(std::string(m.reply), identity_json(bus_) + "}");
    if (hooks_.claimed) hooks_.claimed();
  }

  void on_relayed(const bus::bus_message& m) {
    std::uint64_t seq = 0;
    std::uint32_t relay = 0;
    std::string_view frame;
    if (!open_envelope(m.data, seq, relay, frame)) {
      spdlog::warn("ari: relayed message on {} is not an envelope ({} bytes); ignored", m.subject, m.data.size());
      return;
    }
    const std::uint64_t key = (static_cast<std::uint64_t>(relay) << 32) ^ seq;
    std::lock_guard lock(mutex_);
    if (stopped_ || !client_) return;
    if (!seen_.insert(key).second) return;  // the same event through its bridge's subject
    seen_order_.push_back(key);
    if (seen_order_.size() > dedupe_window) {
      seen_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
    client_->inject_frame(std::string(frame));
  }

  void arm() {
    std::weak_ptr<worker_impl> weak = shared_from_this();
    timer_.expires_after(opts_.heartbeat);
    timer_.async_wait([weak](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->beat();
    });
  }

  void beat() {
    std::string body = identity_json(bus_) + ",\"channels\":[";
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      bool first = true;
      for (const auto& id : live_) {
        if (!first) body += ',';
        first = false;
        json_text::append_json_string(body, id);
      }
    }
    body += "]}";
    bus_.publish(base_ + "ari.claims", std::move(body));
    arm();
  }

  bus::nats_bus& bus_;
  boost::asio::steady_timer timer_;
  const ari_spread_options opts_;
  const ari_spread_hooks hooks_;
  const std::string base_;

  mutable std::mutex mutex_;
  bool stopped_ = false;
  ari::client* client_ = nullptr;
  std::uint64_t calls_sub_ = 0;
  std::unordered_map<std::string, std::uint64_t> channel_subs_, bridge_subs_;  // id -> subscription
  std::set<std::string> live_;  // channel actors alive (heartbeat)
  std::unordered_set<std::uint64_t> seen_;
  std::deque<std::uint64_t> seen_order_;
};

}  // namespace

std::shared_ptr<ari_relay> ari_relay::start(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts,
                                            ari_spread_hooks hooks, relay_rest_fn rest) {
  auto r = std::make_shared<relay_impl>(bus, io, std::move(opts), std::move(hooks), std::move(rest));
  r->begin();
  return r;
}

std::shared_ptr<ari_worker> ari_worker::start(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts,
                                              ari_spread_hooks hooks) {
  auto w = std::make_shared<worker_impl>(bus, io, std::move(opts), std::move(hooks));
  w->begin();
  return w;
}

}  // namespace astra::runtime
