// Embedded fixture access, endpoint parsing, timestamps and the socket watchdog.
#include "service/sim/sim.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <ctime>
#include <stdexcept>

namespace astra::sim {

const std::vector<std::pair<std::string_view, std::string_view>>& embedded_fixtures();

const std::vector<fixture_record>& fixture(std::string_view name) {
  static std::map<std::string, std::vector<fixture_record>, std::less<>> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  for (const auto& [file, text] : embedded_fixtures()) {
    if (file != name) continue;
    std::vector<fixture_record> records;
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      auto line = text.substr(pos, end - pos);
      pos = end + 1;
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);  // throws at startup only: embedded data
      fixture_record r;
      r.dir = j.value("dir", "");
      if (j.contains("data") && j["data"].is_string()) r.data = j["data"].get<std::string>();
      if (r.dir == "rest") {
        r.method = j.value("method", "");
        r.path = j.value("path", "");
        r.status = j.value("status", 0);
        if (j["response"].is_string()) r.response = j["response"].get<std::string>();
        if (j["content_type"].is_string()) r.content_type = j["content_type"].get<std::string>();
      }
      records.push_back(std::move(r));
    }
    return cache.emplace(std::string(name), std::move(records)).first->second;
  }
  throw std::runtime_error("astra-sim: fixture not embedded: " + std::string(name));
}

bool parse_host_port(std::string_view text, host_port& out) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || p != port_text.data() + port_text.size() || port == 0 || port > 65535) return false;
  out.host = host.empty() ? "127.0.0.1" : std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

double epoch_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string epoch_timestamp() {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return buf;
}

std::string iso_timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03d+0000", static_cast<int>(ms));
  return buf;
}

asio::awaitable<void> watchdog(std::shared_ptr<void> owner, asio::steady_timer& deadline, tcp::socket& socket) {
  while (socket.is_open()) {
    if (deadline.expiry() <= clock::now()) {
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      co_return;
    }
    boost::system::error_code ec;
    co_await deadline.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace astra::sim
