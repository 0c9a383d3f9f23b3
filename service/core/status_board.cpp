#include "service/core/status_board.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "protocols/common/json_string.hpp"

namespace astra::runtime {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

link_view* status_board::find(const std::string& server, const std::string& kind) {
  auto it = servers_.find(server);
  if (it == servers_.end()) return nullptr;
  return kind == "ami" ? &it->second.ami : &it->second.ari;
}

void status_board::add_server(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (!started_unix_ms_) started_unix_ms_ = unix_ms_now();
  if (servers_.emplace(name, server_entry{}).second) order_.push_back(name);
}

void status_board::configure_link(const std::string& server, const std::string& kind, std::string endpoint,
                                  std::string credential_source) {
  std::lock_guard lock(mutex_);
  if (auto* l = find(server, kind)) {
    l->configured = true;
    l->endpoint = std::move(endpoint);
    l->credential_source = std::move(credential_source);
    l->down_since_unix_ms = unix_ms_now();
  }
}

void status_board::link_up(const std::string& server, const std::string& kind) {
  std::lock_guard lock(mutex_);
  auto* l = find(server, kind);
  if (!l || l->up) return;
  const auto now = unix_ms_now();
  // The first connect is not an outage; later ones close the gap opened by link_down.
  if (l->connects > 0 && l->down_since_unix_ms) {
    l->gaps.push_back({l->down_since_unix_ms, now - l->down_since_unix_ms, l->last_error});
    while (l->gaps.size() > max_gap_history) l->gaps.pop_front();
  }
  l->up = true;
  l->state = "up";
  l->down_since_unix_ms = 0;
  l->retry_at_unix_ms = 0;
  ++l->connects;
}

void status_board::link_down(const std::string& server, const std::string& kind, const std::string& reason) {
  std::lock_guard lock(mutex_);
  auto* l = find(server, kind);
  if (!l) return;
  // The reason may carry raw AMI bytes (a login refusal quotes Asterisk's Message:); stored as
  // valid UTF-8 (invalid bytes read as Latin-1) so to_json()'s strict dump() cannot throw.
  l->last_error = json_text::to_valid_utf8(reason);
  if (!l->up) return;  // a failed attempt while already down: keep the original start
  l->up = false;
  l->state = "down";
  l->down_since_unix_ms = unix_ms_now();
  ++l->disconnects;
}

void status_board::link_state(const std::string& server, const std::string& kind, const std::string& state) {
  std::lock_guard lock(mutex_);
  if (auto* l = find(server, kind)) l->state = state;
}

void status_board::link_retry(const std::string& server, const std::string& kind, std::chrono::milliseconds retry_in) {
  std::lock_guard lock(mutex_);
  if (auto* l = find(server, kind)) l->retry_at_unix_ms = retry_in.count() < 0 ? 0 : unix_ms_now() + retry_in.count();
}

namespace {

// ", retrying in N s" (N rounded up) / ", retrying now" for a down link with a known next attempt.
std::string retry_text(const link_view& l, std::int64_t now) {
  if (l.up || !l.retry_at_unix_ms) return {};
  auto left = l.retry_at_unix_ms - now;
  if (left <= 0) return ", retrying now";
  return ", retrying in " + std::to_string((left + 999) / 1000) + " s";
}

}  // namespace

void status_board::set_agi(bool enabled, std::string listen) {
  std::lock_guard lock(mutex_);
  agi_enabled_ = enabled;
  agi_listen_ = std::move(listen);
}

void status_board::set_agi_listening(bool listening) {
  std::lock_guard lock(mutex_);
  agi_listening_ = listening;
}

void status_board::set_draining() {
  std::lock_guard lock(mutex_);
  draining_ = true;
}

bool status_board::draining() const {
  std::lock_guard lock(mutex_);
  return draining_;
}

void status_board::set_actor_counts(std::map<std::string, std::int64_t> counts) {
  std::lock_guard lock(mutex_);
  actors_ = std::move(counts);
}

void status_board::set_queues(std::vector<queue_view> queues) {
  std::lock_guard lock(mutex_);
  queues_ = std::move(queues);
}

void status_board::set_link_detail(const std::string& server, const std::string& kind, std::string json_object) {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server);
  if (it == servers_.end()) return;
  (kind == "ami" ? it->second.ami_detail : it->second.ari_detail) = std::move(json_object);
}

void status_board::set_agi_detail(std::string json_object) {
  std::lock_guard lock(mutex_);
  agi_detail_ = std::move(json_object);
}

admin::readiness status_board::readiness() const {
  std::lock_guard lock(mutex_);
  if (draining_) return {false, "draining (shutdown in progress)"};
  std::string reasons;
  const auto now = unix_ms_now();
  auto add = [&](const std::string& r) { reasons += (reasons.empty() ? "" : "; ") + r; };
  if (agi_enabled_ && !agi_listening_) add("agi: listener " + agi_listen_ + " not accepting");
  if (bus_configured_ && !bus_up_) add("bus: nats " + bus_state_);
  for (const auto& name : order_) {
    const auto& e = servers_.at(name);
    if (!links_expected(e)) continue;  // standby: another replica holds this server
    if (e.ami.configured && !e.ami.up)
      add("ami " + name + ": " + e.ami.state + (e.ami.last_error.empty() ? "" : " (" + e.ami.last_error + ")") +
          retry_text(e.ami, now));
    if (e.ari.configured && !e.ari.up)
      add("ari " + name + ": " + e.ari.state + (e.ari.last_error.empty() ? "" : " (" + e.ari.last_error + ")") +
          retry_text(e.ari, now));
  }
  if (reasons.empty()) return {true, {}};
  return {false, reasons};
}

std::optional<link_view> status_board::link(const std::string& server, const std::string& kind) const {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server);
  if (it == servers_.end()) return std::nullopt;
  return kind == "ami" ? it->second.ami : it->second.ari;
}

namespace {

nlohmann::json link_json(const link_view& l, const std::string& detail, std::int64_t now) {
  nlohmann::json j;
  j["state"] = l.state;
  j["up"] = l.up;
  j["endpoint"] = l.endpoint;
  j["credential_source"] = l.credential_source;
  j["connects"] = l.connects;
  j["disconnects"] = l.disconnects;
  j["last_error"] = l.last_error;
  j["current_gap_ms"] = l.up || !l.down_since_unix_ms ? 0 : now - l.down_since_unix_ms;
  if (!l.up && l.retry_at_unix_ms) j["retry_in_ms"] = std::max<std::int64_t>(0, l.retry_at_unix_ms - now);
  auto gaps = nlohmann::json::array();
  for (const auto& g : l.gaps)
    gaps.push_back({{"started_unix_ms", g.started_unix_ms}, {"duration_ms", g.duration_ms}, {"reason", g.reason}});
  j["gaps"] = std::move(gaps);
  if (!detail.empty()) {
    auto d = nlohmann::json::parse(detail, nullptr, false);
    if (!d.is_discarded()) j["detail"] = std::move(d);
  }
  return j;
}

}  // namespace

std::string status_board::to_json() const {
  std::lock_guard lock(mutex_);
  const auto now = unix_ms_now();
  nlohmann::json doc;
  auto ready = [&] {
    if (draining_) return false;
    if (agi_enabled_ && !agi_listening_) return false;
    if (bus_configured_ && !bus_up_) return false;
    for (const auto& [_, e] : servers_)
      if (links_expected(e) && ((e.ami.configured && !e.ami.up) || (e.ari.configured && !e.ari.up))) return false;
    return true;
  }();
  doc["ready"] = ready;
  doc["draining"] = draining_;
  doc["uptime_s"] = started_unix_ms_ ? (now - started_unix_ms_) / 1000.0 : 0.0;
  auto servers = nlohmann::json::array();
  for (const auto& name : order_) {
    const auto& e = servers_.at(name);
    nlohmann::json s;
    s["name"] = name;
    if (e.ami.configured) s["ami"] = link_json(e.ami, e.ami_detail, now);
    if (e.ari.configured) s["ari"] = link_json(e.ari, e.ari_detail, now);
    if (bus_configured_) {
      s["holder"] = e.holder.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.holder);
      s["role"] = e.held_here ? "holder" : "standby";
      if (e.held_here) s["epoch"] = e.epoch;
    }
    servers.push_back(std::move(s));
  }
  doc["servers"] = std::move(servers);
  nlohmann::json agi;
  agi["enabled"] = agi_enabled_;
  agi["listen"] = agi_listen_;
  agi["accepting"] = agi_listening_ && !draining_;
  if (!agi_detail_.empty()) {
    auto d = nlohmann::json::parse(agi_detail_, nullptr, false);
    if (!d.is_discarded()) agi["detail"] = std::move(d);
  }
  doc["agi"] = std::move(agi);
  doc["actors"] = actors_;
  auto queues = nlohmann::json::array();
  std::uint64_t total_dropped = 0;
  for (const auto& q : queues_) {
    queues.push_back({{"name", q.name}, {"capacity", q.capacity}, {"depth", q.depth}, {"dropped", q.dropped}});
    total_dropped += q.dropped;
  }
  doc["queues"] = std::move(queues);
  doc["drops_total"] = total_dropped;
  if (bus_configured_) {
    nlohmann::json b;
    if (!bus_detail_.empty()) {
      auto d = nlohmann::json::parse(bus_detail_, nullptr, false);
      if (!d.is_discarded() && d.is_object()) b = std::move(d);
    }
    b["up"] = bus_up_;
    b["state"] = bus_state_;
    b["replica"] = bus_replica_;
    doc["bus"] = std::move(b);
  }
  return doc.dump();
}

void status_board::set_bus(std::string replica) {
  std::lock_guard lock(mutex_);
  bus_configured_ = true;
  bus_replica_ = std::move(replica);
}

void status_board::set_bus_connection(bool up, std::string detail) {
  std::lock_guard lock(mutex_);
  bus_up_ = up;
  bus_state_ = std::move(detail);
}

void status_board::set_bus_detail(std::string json_object) {
  std::lock_guard lock(mutex_);
  bus_detail_ = std::move(json_object);
}

void status_board::set_holder(const std::string& server, std::string holder, bool held_here, std::uint64_t epoch) {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server);
  if (it == servers_.end()) return;
  it->second.holder = std::move(holder);
  it->second.held_here = held_here;
  it->second.epoch = held_here ? epoch : 0;
}

}  // namespace astra::runtime
