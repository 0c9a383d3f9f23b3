// Outbound ARI WebSockets through one in-process astra outbound server (actors/ari/outbound_server):
//  1. memory: --held per-call sockets held mid-call (registered, StasisStart, answered, the handler
//     awaiting an event); the server's RSS above idle divided by the sockets;
//  2. rate: --calls per-call calls from --clients client threads, each call: connect, upgrade,
//     ApplicationRegistered, StasisStart, 4 REST round trips over the socket (answer, set a
//     variable, play + PlaybackFinished, hang up), StasisEnd, close handshake.
// The Asterisk side runs in a forked child process (its memory is not the server's); on a small
// machine it competes with the server for the same cores, which the figures include.
// Prints its figures, then one JSON line.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/outbound_server.hpp"
#include "actors/common/io_runtime.hpp"
#include "generated/ari/events.hpp"
#include "tests/ari/outbound_peer.hpp"

using namespace astra;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

constexpr const char* auth = "YXN0ZXJpc2stb3V0Om91dHBhc3M=";  // asterisk-out:outpass

std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

task<void> four_round_trips(ari::channel chan, ari::session&) {
  co_await chan.answer();
  co_await chan.set_var("ASTRA_OUT", "yes");
  auto pb = co_await chan.play("sound:beep", "pb-" + chan.id());
  if (pb) co_await chan.wait_playback(pb->id, 30s);
  co_await chan.hangup();
}

task<void> answer_and_hold(ari::channel chan, ari::session&) {
  co_await chan.answer();
  co_await chan.wait(ari::event_type::ChannelDtmfReceived, 10min);
}

std::string channel_json(const std::string& id) {
  return R"({"id":")" + id + R"(","name":"PJSIP/)" + id +
         R"(","state":"Up","caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"",)"
         R"("dialplan":{"context":"default","exten":"s","priority":1,"app_name":"Stasis","app_data":"percall"},)"
         R"("creationtime":"2026-12-04T13:13:15.159+0000","language":"en"})";
}

std::string event(const char* type, const std::string& id, const std::string& extra = {}) {
  return std::string(R"({"type":")") + type + R"(","channel":)" + channel_json(id) + extra +
         R"(,"application":"percall:PJSIP/)" + id + R"("})";
}

std::string reply(const json& req, int status, const std::string& body = {}) {
  json r = {{"type", "RESTResponse"}, {"request_id", req["request_id"]}, {"status_code", status},
            {"reason_phrase", status == 201 ? "Created" : "No Content"}};
  if (!body.empty()) {
    r["content_type"] = "application/json";
    r["message_body"] = body;
  }
  return r.dump();
}

bool open_call(test::ws_peer& peer, std::uint16_t port, const std::string& id) {
  if (!peer.connect(port, 30s)) return false;
  peer.send_raw(test::ws_peer::upgrade_request("/ari/events", auth));
  if (peer.read_http_head().rfind("HTTP/1.1 101", 0) != 0) return false;
  peer.send_text(R"({"type":"ApplicationRegistered","application":"percall:PJSIP/)" + id + R"("})");
  peer.send_text(event("StasisStart", id, R"(,"args":[])"));
  return true;
}

// One whole call as Asterisk plays it. False on any deviation.
bool run_call(std::uint16_t port, const std::string& id) {
  test::ws_peer peer;
  if (!open_call(peer, port, id)) return false;
  for (;;) {
    auto f = peer.read_frame();
    if (f.opcode == 8) return peer.wait_eof();
    if (f.opcode != 1) return false;
    auto req = json::parse(f.payload, nullptr, false);
    if (!req.is_object()) return false;
    const std::string uri = req.value("uri", "");
    const std::string method = req.value("method", "");
    if (uri.size() > 5 && uri.compare(uri.size() - 5, 5, "/play") == 0) {
      std::string pb = "pb-" + id;
      peer.send_text(reply(req, 201, R"({"id":")" + pb + R"(","media_uri":"sound:beep","state":"queued"})"));
      peer.send_text(R"({"type":"PlaybackFinished","playback":{"id":")" + pb +
                     R"(","media_uri":"sound:beep","target_uri":"channel:)" + id + R"(","state":"done"}})");
    } else if (method == "DELETE") {
      peer.send_text(reply(req, 204));
      peer.send_text(event("StasisEnd", id));
    } else {
      peer.send_text(reply(req, 204));
    }
  }
}

struct server_box {
  io_runtime io;
  caf::actor_system_config caf_cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<ari::outbound_server> server;
  server_box(unsigned io_threads, std::size_t caf_threads, ari::stasis_handler h) : io(io_threads) {
    caf_cfg.set("scheduler.policy", caf::atom("sharing"));
    caf_cfg.set("scheduler.max-threads", caf_threads);
    system = std::make_unique<caf::actor_system>(caf_cfg);
    ari::outbound_server_config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.username = "asterisk-out";
    cfg.password = "outpass";
    cfg.max_connections = 1'000'000;
    cfg.apps.push_back({"percall", ari::client_handlers{std::move(h), {}, {}, {}}});
    auto created = ari::outbound_server::create(*system, io.context(), cfg);
    if (!created) std::abort();
    server = std::move(*created);
    if (server->start()) std::abort();
  }
  ~server_box() {
    server->stop();
    for (int i = 0; i < 500 && server->stats().live_connections > 0; ++i) std::this_thread::sleep_for(10ms);
    server.reset();
    io.stop();
    system.reset();
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t calls = 20'000, clients = 4, held = 2'000;
  unsigned io_threads = 1;
  std::size_t caf_threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    auto v = std::stoul(argv[i + 1]);
    if (a == "--calls") calls = v;
    else if (a == "--clients") clients = v;
    else if (a == "--held") held = v;
    else if (a == "--io-threads") io_threads = static_cast<unsigned>(v);
    else if (a == "--caf-threads") caf_threads = v;
  }

  // --- 1. memory per held call --------------------------------------------------------------
  double bytes_per_held = 0, heap_per_held = 0;
  std::size_t held_ok = 0;
  {
    server_box box(io_threads, caf_threads, answer_and_hold);
    auto port = box.server->local_port();
    std::this_thread::sleep_for(200ms);
    const auto idle = rss_bytes();
    const auto idle_heap = mallinfo2().uordblks;
    int to_parent[2], to_child[2];
    if (pipe(to_parent) != 0 || pipe(to_child) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      std::vector<std::unique_ptr<test::ws_peer>> peers;
      for (std::size_t i = 0; i < held; ++i) {
        auto p = std::make_unique<test::ws_peer>();
        auto id = "h" + std::to_string(i);
        if (!open_call(*p, port, id)) _exit(2);
        auto f = p->read_frame();  // the answer request
        if (f.opcode != 1) _exit(3);
        p->send_text(reply(json::parse(f.payload), 204));
        peers.push_back(std::move(p));
      }
      char c = 1;
      (void)!write(to_parent[1], &c, 1);
      (void)!read(to_child[0], &c, 1);
      _exit(0);
    }
    char c = 0;
    (void)!read(to_parent[0], &c, 1);
    // Every call answered and held: the answer replies are in once the actors are idle.
    for (int i = 0; i < 1000 && box.server->stats().channel_actors < held; ++i) std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(300ms);
    held_ok = box.server->stats().channel_actors;
    const auto busy = rss_bytes();
    const auto busy_heap = mallinfo2().uordblks;
    heap_per_held = held_ok ? static_cast<double>(busy_heap > idle_heap ? busy_heap - idle_heap : 0) / static_cast<double>(held_ok) : 0;
    bytes_per_held = held_ok ? static_cast<double>(busy > idle ? busy - idle : 0) / static_cast<double>(held_ok) : 0;
    (void)!write(to_child[1], &c, 1);
    int status = 0;
    waitpid(pid, &status, 0);
  }

  // --- 2. calls per second ----------------------------------------------------------------------
  double calls_per_s = 0;
  std::uint64_t completed = 0;
  double seconds = 0;
  {
    server_box box(io_threads, caf_threads, four_round_trips);
    auto port = box.server->local_port();
    auto start = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
      std::atomic<std::size_t> failed{0};
      std::vector<std::thread> threads;
      for (std::size_t t = 0; t < clients; ++t)
        threads.emplace_back([&, t] {
          for (std::size_t n = t; n < calls; n += clients)
            if (!run_call(port, "c" + std::to_string(n))) ++failed;
        });
      for (auto& th : threads) th.join();
      _exit(failed.load() ? 4 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    // The client saw every close; the server's count catches up with its last closes.
    for (int i = 0; i < 500 && box.server->stats().call_ended_closes < calls; ++i) std::this_thread::sleep_for(2ms);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    completed = box.server->stats().call_ended_closes;
    calls_per_s = static_cast<double>(completed) / seconds;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      std::printf("client side reported failures (status %d)\n", status);
  }

  std::printf("held per-call sockets: %zu, server RSS above idle per held call: %.0f bytes (goal <= 8192), "
              "heap in use per held call: %.0f bytes\n",
              held_ok, bytes_per_held, heap_per_held);
  std::printf("per-call calls: %llu in %.2f s = %.0f calls/s with %zu client threads (goal >= 5000)\n",
              static_cast<unsigned long long>(completed), seconds, calls_per_s, clients);
  std::printf(
      "{\"bench\":\"ari_outbound\",\"calls\":%llu,\"seconds\":%.3f,\"calls_per_s\":%.0f,\"clients\":%zu,"
      "\"io_threads\":%u,\"caf_threads\":%zu,\"held\":%zu,\"bytes_per_held_call\":%.0f,\"heap_bytes_per_held_call\":%.0f,"
      "\"goal_calls_per_s\":5000,\"goal_bytes_per_held_call\":8192}\n",
      static_cast<unsigned long long>(completed), seconds, calls_per_s, clients, io_threads, caf_threads, held_ok,
      bytes_per_held, heap_per_held);
  return completed == calls ? 0 : 1;
}
