// `astra ari watch` run in-process (astra::cli::ari_main) against the fake ARI server: one
// compact JSON line per frame (recorded frames byte for byte, pretty-printed ones compacted),
// --count exact, output written while the command still runs (idle flush), the
// ApplicationReplaced notice on stderr, a refused upgrade; against a hand-written server: fragments,
// control frames, split and large frames, invalid UTF-8, a close from Asterisk.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <nlohmann/json.hpp>

#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/fixtures.hpp"

namespace astra::cli {
int ari_main(int argc, char** argv, std::FILE* out, std::FILE* err);
}

using namespace std::chrono_literals;

namespace {

struct cli_run {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::future<int> code;

  // Starts `astra ari watch --url <server> --app astra-test ARGS...` on its own thread.
  cli_run(const astra::test::fake_ari_server& server, std::vector<std::string> args) {
    REQUIRE(out);
    REQUIRE(err);
    std::vector<std::string> a{"astra ari", "watch", "--url", server.url(), "--app", "astra-test", "--timeout", "5"};
    a.insert(a.end(), args.begin(), args.end());
    code = std::async(std::launch::async, [this, a]() mutable {
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      return astra::cli::ari_main(static_cast<int>(argv.size() - 1), argv.data(), out, err);
    });
  }
  ~cli_run() {
    if (code.valid()) code.wait();
    std::fclose(out);
    std::fclose(err);
  }
  // What the command has written so far (it may still be running).
  static std::string written(std::FILE* f) {
    std::fflush(f);  // stderr lines are stdio-buffered; stdout lines are written by fd
    std::string s;
    char buf[65536];
    ssize_t n;
    while ((n = ::pread(::fileno(f), buf, sizeof buf, static_cast<off_t>(s.size()))) > 0)
      s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
  int finish() {
    REQUIRE(code.wait_for(10s) == std::future_status::ready);
    return code.get();
  }
};

std::vector<std::string> recorded_events() {
  std::vector<std::string> frames;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& rec : astra::test::load_fixture(name)) {
      if (rec.dir != "ws-in" || rec.data.empty()) continue;
      auto type = nlohmann::json::parse(rec.data).value("type", "");
      if (type != "RESTResponse" && type != "ApplicationReplaced") frames.push_back(rec.data);
    }
  return frames;
}

}  // namespace

TEST_CASE("ari watch: one compact JSON line per frame, exactly --count of them", "[ari][cli]") {
  astra::test::fake_ari_server server;
  auto recorded = recorded_events();
  REQUIRE(recorded.size() >= 40);
  std::vector<std::string> frames(recorded.begin(), recorded.begin() + 30);
  std::string expected;
  for (const auto& f : frames) expected += f + "\n";  // Asterisk's frames are compact: as received
  // ari.conf `pretty = yes`: the same events spread over lines, compacted back.
  for (int i = 30; i < 40; ++i) {
    auto doc = nlohmann::ordered_json::parse(recorded[static_cast<std::size_t>(i)]);
    frames.push_back(doc.dump(2));
    expected += doc.dump() + "\n";
  }
  // Escaped quotes, backslashes and control characters inside strings, whitespace around tokens.
  frames.push_back("{\n  \"type\" : \"UserEvent\",\n  \"q\" : \"say \\\"hi\\\" C:\\\\dir\\\\ \\n\\t\\u0001\",\n"
                   "  \"utf8\" : \"Jos\xC3\xA9 \xE2\x82\xAC\"\n}\n");
  expected += "{\"type\":\"UserEvent\",\"q\":\"say \\\"hi\\\" C:\\\\dir\\\\ \\n\\t\\u0001\",\"utf8\":\"Jos\xC3\xA9 \xE2\x82\xAC\"}\n";
  // A frame that is JSON but not an object: re-serialized on one line.
  frames.push_back("[1,\n 2]");
  expected += "[1,2]\n";

  cli_run run(server, {"--count", std::to_string(frames.size())});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  for (const auto& f : frames) server.push_event(f);
  for (int i = 0; i < 5; ++i) server.push_event(recorded[static_cast<std::size_t>(i)]);  // beyond --count
  CHECK(run.finish() == 0);
  auto out = cli_run::written(run.out);
  CHECK(out == expected);
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = out.find('\n', pos)) != std::string::npos; ++pos) ++lines;
  CHECK(lines == frames.size());
}

TEST_CASE("ari watch: an event is written while the command still runs (idle flush)", "[ari][cli]") {
  astra::test::fake_ari_server server;
  auto recorded = recorded_events();
  cli_run run(server, {"--count", "2"});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(recorded[0]);
  // The stream goes quiet after one event: the line is written without waiting for exit.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (out.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    out = cli_run::written(run.out);
  }
  CHECK(out == recorded[0] + "\n");
  CHECK(run.code.wait_for(0s) == std::future_status::timeout);  // still waiting for event 2
  server.push_event(recorded[1]);
  CHECK(run.finish() == 0);
  CHECK(cli_run::written(run.out) == recorded[0] + "\n" + recorded[1] + "\n");
}

TEST_CASE("ari watch: ApplicationReplaced is printed and reported on stderr", "[ari][cli]") {
  astra::test::fake_ari_server server;
  std::string replaced;
  for (const auto& rec : astra::test::load_fixture("ari/app-replaced-and-subscribe-all.jsonl"))
    if (rec.dir == "ws-in" && rec.data.find("\"ApplicationReplaced\"") != std::string::npos) replaced = rec.data;
  REQUIRE(!replaced.empty());
  // Fields of unexpected types are not trusted (a throwing lookup would end the stream).
  const std::string odd = R"({"type":"ApplicationReplaced","application":5})";
  const std::string odd_type = R"({"type":["ApplicationReplaced"]})";
  cli_run run(server, {"--count", "3"});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(replaced);
  server.push_event(odd);
  server.push_event(odd_type);
  CHECK(run.finish() == 0);
  CHECK(cli_run::written(run.out) == replaced + "\n" + odd + "\n" + odd_type + "\n");
  CHECK(cli_run::written(run.err) ==
        "astra ari watch: application astra-test was replaced by another client\n"
        "astra ari watch: application ? was replaced by another client\n");
}

TEST_CASE("ari watch: --duration ends a quiet stream with exit 0; a refused upgrade exits 2", "[ari][cli]") {
  astra::test::fake_ari_server server;
  {
    cli_run run(server, {"--duration", "0.3"});
    CHECK(run.finish() == 0);
    CHECK(cli_run::written(run.out).empty());
  }
  server.set_credentials("asterisk", "other");
  cli_run refused(server, {"--count", "1"});
  CHECK(refused.finish() == 2);
  CHECK(cli_run::written(refused.out).empty());
  CHECK(cli_run::written(refused.err).find("401") != std::string::npos);
}

namespace {

// One WebSocket client served by hand (no Beast stream): the test chooses the exact bytes on
// the wire (fragments, control frames between them, frames split across writes, invalid UTF-8)
// and sees the client's own frames (pongs, the close reply).
class raw_ws_server {
 public:
  raw_ws_server() : acceptor_(io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {}
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  // Accepts one client and answers its upgrade; returns the request head.
  std::string accept() {
    acceptor_.accept(socket_);
    std::string head;
    char c;
    while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
      boost::asio::read(socket_, boost::asio::buffer(&c, 1));
      head.push_back(c);
    }
    auto k = head.find("Sec-WebSocket-Key: ");
    REQUIRE(k != std::string::npos);
    auto key = head.substr(k + 19, head.find("\r\n", k) - k - 19);
    boost::beast::websocket::detail::sec_ws_accept_type accept;
    boost::beast::websocket::detail::make_sec_ws_accept(accept, key);
    send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
         std::string(accept.data(), accept.size()) + "\r\n\r\n");
    return head;
  }
  void send(const std::string& bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  // An unmasked server frame.
  static std::string frame(unsigned first_byte, const std::string& payload) {
    std::string f(1, static_cast<char>(first_byte));
    if (payload.size() < 126) {
      f.push_back(static_cast<char>(payload.size()));
    } else if (payload.size() <= 0xFFFF) {
      f.push_back(126);
      f.push_back(static_cast<char>(payload.size() >> 8));
      f.push_back(static_cast<char>(payload.size() & 0xFF));
    } else {
      f.push_back(127);
      for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
    }
    return f + payload;
  }
  // The next client frame (masked, short): {opcode, unmasked payload}.
  std::pair<unsigned, std::string> receive() {
    unsigned char h[2];
    boost::asio::read(socket_, boost::asio::buffer(h, 2));
    REQUIRE((h[1] & 0x80) != 0);  // clients mask
    std::size_t len = h[1] & 0x7F;
    REQUIRE(len < 126);
    unsigned char mask[4];
    boost::asio::read(socket_, boost::asio::buffer(mask, 4));
    std::string payload(len, '\0');
    if (len) boost::asio::read(socket_, boost::asio::buffer(payload.data(), len));
    for (std::size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    return {h[0] & 0x0Fu, payload};
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::socket socket_{io_};
};

struct raw_cli_run {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::future<int> code;
  raw_cli_run(const std::string& url, std::vector<std::string> args) {
    std::vector<std::string> a{"astra ari", "watch", "--url", url, "--app", "a1,a2", "--timeout", "5"};
    a.insert(a.end(), args.begin(), args.end());
    code = std::async(std::launch::async, [this, a]() mutable {
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      return astra::cli::ari_main(static_cast<int>(argv.size() - 1), argv.data(), out, err);
    });
  }
  ~raw_cli_run() {
    if (code.valid()) code.wait();
    std::fclose(out);
    std::fclose(err);
  }
};

}  // namespace

TEST_CASE("ari watch: fragments, control frames, split and large frames, invalid UTF-8, close", "[ari][cli]") {
  raw_ws_server server;
  raw_cli_run run(server.url(), {});
  auto head = server.accept();
  CHECK(head.find("GET /ari/events?app=a1,a2 HTTP/1.1\r\n") == 0);
  CHECK(head.find("Authorization: Basic ") != std::string::npos);
  const std::string e1 = R"({"type":"StasisStart","n":1})";
  // A message in three fragments with a ping between them: the ping is answered.
  server.send(raw_ws_server::frame(0x01, R"({"type":)") + raw_ws_server::frame(0x89, "p1") +
              raw_ws_server::frame(0x00, R"("Dial",)") + raw_ws_server::frame(0x80, R"("n":2})"));
  auto pong = server.receive();
  CHECK(pong.first == 0xA);
  CHECK(pong.second == "p1");
  // A frame split across writes, with a pause.
  auto f1 = raw_ws_server::frame(0x81, e1);
  server.send(f1.substr(0, 1));
  std::this_thread::sleep_for(20ms);
  server.send(f1.substr(1, 10));
  std::this_thread::sleep_for(20ms);
  server.send(f1.substr(11));
  // A RESTResponse (left out), a frame bigger than the read chunk, invalid UTF-8 in a text frame.
  server.send(raw_ws_server::frame(0x81, R"({"type":"RESTResponse","request_id":"x","status_code":200})"));
  std::string big = R"({"type":"ChannelVarset","value":")" + std::string(700 * 1024, 'x') + "\"}";
  server.send(raw_ws_server::frame(0x81, big));
  server.send(raw_ws_server::frame(0x81, "{\"type\":\"caf\xE9\"}"));
  // Close (code 1001): answered, the command ends with exit 2.
  server.send(raw_ws_server::frame(0x88, std::string("\x03\xE9", 2)));
  auto close = server.receive();
  CHECK(close.first == 0x8);
  CHECK(close.second == std::string("\x03\xE9", 2));
  REQUIRE(run.code.wait_for(10s) == std::future_status::ready);
  CHECK(run.code.get() == 2);
  auto out = cli_run::written(run.out);
  auto err = cli_run::written(run.err);
  CHECK(err == "astra ari watch: ARI connection closed: closed by Asterisk (code 1001)\n");
  std::vector<std::string> lines;
  for (std::size_t pos = 0, nl; (nl = out.find('\n', pos)) != std::string::npos; pos = nl + 1)
    lines.push_back(out.substr(pos, nl - pos));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == R"({"type":"Dial","n":2})");
  CHECK(lines[1] == e1);
  CHECK(lines[2] == big);
  CHECK(nlohmann::json::parse(lines[3]) == "{\"type\":\"caf\xC3\xA9\"}");  // one JSON string, Latin-1 read
}
