// AMI events published to NATS per second through a holder (issue 14).
//
// Starts nats-server (JetStream, loopback, a free port, a temporary store), a nats_bus holding
// one server "bench", and a second NATS connection subscribed to astra.bench.ami.event.>.
//  1. max rate: 1,000,000 recorded-shape AMI events (Newchannel, 16 headers) pushed as fast as
//     the bounded buffer takes them (the producer waits while more than half of it is used);
//     rate = events received by the subscriber / time from the first push to the last receipt.
//  2. paced: 100,000 events/s for 3 s: how many were dropped (astra_bus_dropped_total) and
//     whether the subscriber received every one.
// Ends with one JSON line. Usage: bench_bus_publish [EVENTS]
#include <nats/nats.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include "protocols/ami/message.hpp"
#include "service/bus/nats_bus.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::atomic<std::uint64_t> received{0};
std::atomic<std::int64_t> last_receipt_ns{0};

void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void*) {
  natsMsg_Destroy(m);
  received.fetch_add(1, std::memory_order_relaxed);
  last_receipt_ns.store(clock_type::now().time_since_epoch().count(), std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const int port = free_port();
  char dir[] = "/tmp/bench-bus-XXXXXX";
  if (!::mkdtemp(dir)) return 2;
  const std::string port_s = std::to_string(port);
  pid_t server = ::fork();
  if (server == 0) {
    const char* exe = ::access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server" : "nats-server";
    ::execlp(exe, exe, "-a", "127.0.0.1", "-p", port_s.c_str(), "-js", "-sd", dir, static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  const std::string url = "nats://127.0.0.1:" + port_s;
  natsConnection* sub_nc = nullptr;
  for (int i = 0; i < 100 && natsConnection_ConnectTo(&sub_nc, url.c_str()) != NATS_OK; ++i) std::this_thread::sleep_for(50ms);
  if (!sub_nc) {
    std::fprintf(stderr, "bench_bus_publish: nats-server did not start\n");
    ::kill(server, SIGKILL);
    return 2;
  }
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, sub_nc, "astra.bench.ami.event.>", on_msg, nullptr);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(sub_nc);

  astra::config::bus_nats_config cfg;
  cfg.url = url;
  cfg.urls = {url};
  cfg.replica = "bench";
  cfg.lease_ttl = 5s;
  std::atomic<std::uint64_t> dropped{0};
  astra::bus::bus_hooks hooks;
  hooks.dropped = [&dropped](std::string_view, std::uint64_t n) { dropped += n; };
  auto bus = astra::bus::nats_bus::start(cfg, {"bench"}, std::move(hooks));
  for (int i = 0; i < 200 && !bus->holds(0); ++i) std::this_thread::sleep_for(25ms);
  if (!bus->holds(0)) {
    std::fprintf(stderr, "bench_bus_publish: the bus did not acquire the lease\n");
    ::kill(server, SIGKILL);
    return 2;
  }
  // A Newchannel as Asterisk 22 writes it.
  auto ev = std::make_shared<const astra::ami::message>(astra::ami::message::make(
      astra::ami::message_kind::event,
      {{"Event", "Newchannel"}, {"Privilege", "call,all"}, {"Channel", "PJSIP/1000-00000001"},
       {"ChannelState", "0"}, {"ChannelStateDesc", "Down"}, {"CallerIDNum", "1000"}, {"CallerIDName", "Alice"},
       {"ConnectedLineNum", "<unknown>"}, {"ConnectedLineName", "<unknown>"}, {"Language", "en"},
       {"AccountCode", ""}, {"Context", "default"}, {"Exten", "2000"}, {"Priority", "1"},
       {"Uniqueid", "1700000000.1"}, {"Linkedid", "1700000000.1"}}));
  const std::size_t batch_size = 256;
  std::vector<astra::ami::message_ptr> batch(batch_size, ev);
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };

  // 1. Max rate.
  received = 0;
  const auto t0 = clock_type::now();
  std::uint64_t pushed = 0;
  while (pushed < events) {
    while (bus->buffered() > cfg.buffer_messages / 2) std::this_thread::yield();
    const std::size_t n = std::min<std::uint64_t>(batch_size, events - pushed);
    if (n < batch_size) batch.resize(n);
    bus->publish_ami_events(0, batch, now_ms());
    pushed += n;
  }
  const auto wait_until = clock_type::now() + 30s;
  while (received.load() + dropped.load() < events && clock_type::now() < wait_until) std::this_thread::sleep_for(5ms);
  const double max_s = std::chrono::duration<double>(clock_type::time_point(clock_type::duration(last_receipt_ns.load())) - t0).count();
  const std::uint64_t max_received = received.load(), max_dropped = dropped.load();
  const double rate = max_received / max_s;
  std::printf("max rate: %llu events pushed, %llu received in %.3f s: %.0f events/s (%llu dropped)\n",
              static_cast<unsigned long long>(events), static_cast<unsigned long long>(max_received), max_s, rate,
              static_cast<unsigned long long>(max_dropped));

  // 2. Paced at 100,000 events/s for 3 s (batches of 100 every millisecond).
  received = 0;
  dropped = 0;
  batch.assign(100, ev);
  const std::uint64_t paced_rate = 100'000, paced_total = paced_rate * 3;
  const auto p0 = clock_type::now();
  for (std::uint64_t sent = 0; sent < paced_total; sent += 100) {
    std::this_thread::sleep_until(p0 + std::chrono::microseconds(sent * 1'000'000 / paced_rate));
    bus->publish_ami_events(0, batch, now_ms());
  }
  const auto paced_wait = clock_type::now() + 10s;
  while (received.load() + dropped.load() < paced_total && clock_type::now() < paced_wait) std::this_thread::sleep_for(5ms);
  std::printf("paced: %llu events at %llu/s: %llu received, %llu dropped\n", static_cast<unsigned long long>(paced_total),
              static_cast<unsigned long long>(paced_rate), static_cast<unsigned long long>(received.load()),
              static_cast<unsigned long long>(dropped.load()));
  bus->stop();
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(sub_nc);
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  std::string rm = std::string("rm -rf ") + dir;
  (void)!std::system(rm.c_str());
  std::printf("{\"bench\":\"bus_publish\",\"events\":%llu,\"events_per_s\":%.0f,\"max_rate_dropped\":%llu,"
              "\"paced_rate\":%llu,\"paced_sent\":%llu,\"paced_received\":%llu,\"paced_dropped\":%llu}\n",
              static_cast<unsigned long long>(events), rate, static_cast<unsigned long long>(max_dropped),
              static_cast<unsigned long long>(paced_rate), static_cast<unsigned long long>(paced_total),
              static_cast<unsigned long long>(received.load()), static_cast<unsigned long long>(dropped.load()));
  return 0;
}
