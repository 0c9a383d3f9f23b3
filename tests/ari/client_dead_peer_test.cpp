// The event socket's dead-peer check (event_stream.hpp): a peer that completed the upgrade and
// then went silent, answering no ping, is closed as dead (ari_errc::timeout) once nothing came
// for dead_peer_timeout; a peer that answers the pings stays connected however long no event
// comes.
#include <utility>  // before Asio

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "actors/ari/event_stream.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/support/eventually.hpp"

using namespace std::chrono_literals;
namespace ari = astra::ari;
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using astra::test::eventually;

namespace {

// One WebSocket peer on its own thread: accepts one upgrade, then either reads (Beast answers
// pings with pongs) until the socket is closed, or stays silent until told to stop.
class ws_peer {
 public:
  explicit ws_peer(bool answers_pings) : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, answers_pings] {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      websocket::stream<tcp::socket> ws(std::move(socket));
      ws.accept(ec);
      if (ec) return;
      upgraded_ = true;
      if (answers_pings) {
        ws.control_callback([this](websocket::frame_type kind, boost::beast::string_view) {
          if (kind == websocket::frame_type::ping) ++pings_;
        });
        boost::beast::flat_buffer buffer;
        while (!ec) ws.read(buffer, ec);
        return;
      }
      while (!stop_) std::this_thread::sleep_for(5ms);
    });
  }
  ~ws_peer() {
    stop_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  bool upgraded() const { return upgraded_; }
  int pings() const { return pings_; }

 private:
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false}, upgraded_{false};
  std::atomic<int> pings_{0};
  std::thread thread_;
};

struct observed {
  std::mutex mu;
  std::vector<astra::failure> downs;
  std::chrono::steady_clock::time_point connected_at{}, down_at{};
};

ari::client_config config_for(const ws_peer& peer) {
  ari::client_config cfg;
  cfg.url = peer.url();
  cfg.apps = {"astra-test"};
  cfg.dead_peer_timeout = 400ms;
  cfg.reconnect.initial = 5s;  // one connection per test
  cfg.reconnect.max = 5s;
  return cfg;
}

ari::event_stream_callbacks callbacks(observed& seen) {
  ari::event_stream_callbacks cb;
  cb.connected = [&seen] {
    std::lock_guard lock(seen.mu);
    seen.connected_at = std::chrono::steady_clock::now();
  };
  cb.disconnected = [&seen](const astra::failure& why, std::chrono::milliseconds) {
    std::lock_guard lock(seen.mu);
    seen.downs.push_back(why);
    seen.down_at = std::chrono::steady_clock::now();
  };
  return cb;
}

}  // namespace

TEST_CASE("event socket: a silent peer that answers no ping is closed as dead after dead_peer_timeout",
          "[ari][transport][dead_peer]") {
  ws_peer peer(false);
  astra::io_runtime io(1);
  observed seen;
  auto stream = ari::event_stream::create(io.context(), config_for(peer), callbacks(seen));
  REQUIRE(stream.ok());
  (*stream)->start();
  REQUIRE(eventually([&] { return (*stream)->connected(); }, 5s));
  REQUIRE(eventually([&] {
    std::lock_guard lock(seen.mu);
    return !seen.downs.empty();
  }, 5s));
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.downs[0].code == ari::ari_errc::timeout);
    const auto after = seen.down_at - seen.connected_at;
    CHECK(after >= 400ms);   // not before dead_peer_timeout of silence
    CHECK(after < 1500ms);   // found within 5/4 of it (plus scheduling slack)
  }
  (*stream)->stop();
}

TEST_CASE("event socket: a peer that answers pings stays connected while no event comes", "[ari][transport][dead_peer]") {
  ws_peer peer(true);
  astra::io_runtime io(1);
  observed seen;
  auto stream = ari::event_stream::create(io.context(), config_for(peer), callbacks(seen));
  REQUIRE(stream.ok());
  (*stream)->start();
  REQUIRE(eventually([&] { return (*stream)->connected(); }, 5s));
  std::this_thread::sleep_for(1600ms);  // four times dead_peer_timeout without an event
  CHECK((*stream)->connected());
  CHECK(peer.pings() >= 2);  // pinged after each half timeout of silence
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.downs.empty());
  }
  (*stream)->stop();
}
