// The output pieces of the event tails (service/cli): line_output (buffered writer: idle /
// size / close flushes, order, backpressure, write errors), the ARI write-through path
// (compact_json_object, append_json_line: every line valid JSON, objects compacted byte for
// byte, everything nlohmann::json refuses taken off the fast path) and the AMI encoder
// (append_json_message against a plain reference).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocols/common/json_string.hpp"
#include "service/cli/ami_json.hpp"
#include "service/cli/json_compact.hpp"
#include "service/cli/line_output.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra::cli;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// Reads what is in the pipe now (or within `wait`), without blocking past it.
std::string read_available(int fd, std::chrono::milliseconds wait) {
  std::string got;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
    if (::poll(&p, 1, 0) <= 0) break;
  }
  return got;
}

struct pipe_pair {
  int r = -1, w = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    r = fds[0], w = fds[1];
    ::fcntl(r, F_SETFL, O_NONBLOCK);
    ::fcntl(w, F_SETPIPE_SZ, 1 << 20);
  }
  ~pipe_pair() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

void append_line(line_output& out, const std::string& s) {
  REQUIRE(out.append([&](out_buffer& b) {
    b.append(s);
    b.push_back('\n');
  }));
}

// compact_json_object on `text`: the output, or nullopt if refused.
std::optional<std::string> compact(std::string_view text, compact_result* why = nullptr) {
  std::string out(text.size(), '\0');
  char* end = nullptr;
  auto r = compact_json_object(text, out.data(), end);
  if (why) *why = r;
  if (r != compact_result::ok) return std::nullopt;
  out.resize(static_cast<std::size_t>(end - out.data()));
  return out;
}

std::string json_line(std::string_view frame) {
  out_buffer b;
  append_json_line(b, frame);
  return std::string(b.view());
}

// The line is one valid JSON value in UTF-8 (nlohmann's strict parser and dump agree).
void check_one_json_line(const std::string& line) {
  REQUIRE(!line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  auto doc = json::parse(line, nullptr, false);
  REQUIRE(!doc.is_discarded());
  CHECK_NOTHROW(doc.dump());
}

std::vector<std::string> recorded_ari_frames() {
  std::vector<std::string> frames;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& rec : astra::test::load_fixture(name))
      if (rec.dir == "ws-in" && !rec.data.empty()) frames.push_back(rec.data);
  return frames;
}

}  // namespace

TEST_CASE("line_output: a pause in the appends flushes without close", "[cli][output]") {
  pipe_pair p;
  line_output out(p.w);
  append_line(out, "{\"a\":1}");
  // Idle for 1 ms: written long before the 2 s this waits at most.
  CHECK(read_available(p.r, 2000ms) == "{\"a\":1}\n");
  append_line(out, "{\"b\":2}");
  CHECK(read_available(p.r, 2000ms) == "{\"b\":2}\n");
  CHECK(out.close());
}

TEST_CASE("line_output: steady appends are flushed within max_delay, not only at close", "[cli][output]") {
  pipe_pair p;
  line_output::limits l;
  l.max_delay = 20ms;
  l.idle_gap = 500ms;  // the appends below never leave such a gap
  line_output out(p.w, l);
  std::string got;
  auto until = std::chrono::steady_clock::now() + 3s;
  int sent = 0;
  while (got.empty() && std::chrono::steady_clock::now() < until) {
    append_line(out, std::to_string(sent++));
    std::this_thread::sleep_for(1ms);
    got += read_available(p.r, 0ms);
  }
  CHECK(!got.empty());  // written while appends went on
  CHECK(got.back() == '\n');  // whole lines only
  CHECK(out.close());
  got += read_available(p.r, 100ms);
  std::string expected;
  for (int i = 0; i < sent; ++i) expected += std::to_string(i) + "\n";
  CHECK(got == expected);
}

TEST_CASE("line_output: flush_bytes, many threads, close: every line once, in each thread's order", "[cli][output]") {
  pipe_pair p;
  line_output::limits l;
  l.flush_bytes = 4096;
  l.max_buffered = 16384;  // producers block on the reader below: backpressure, not loss
  l.idle_gap = 10s;
  l.max_delay = 10s;
  auto out = std::make_unique<line_output>(p.w, l);
  constexpr int threads = 4, per_thread = 20000;
  std::string got;
  std::atomic<bool> closed{false};
  std::thread reader([&] {
    for (;;) {
      const bool last = closed.load();  // everything was written before `closed` was set
      auto chunk = read_available(p.r, 50ms);
      got += chunk;
      if (last && chunk.empty()) break;
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t)
    producers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        out->append([&](out_buffer& b) { b.append(std::to_string(t) + ":" + std::to_string(i) + "\n"); });
    });
  for (auto& th : producers) th.join();
  CHECK(out->close());
  closed = true;
  reader.join();
  std::vector<int> next(threads, 0);
  std::size_t lines = 0;
  bool in_order = true;
  for (std::size_t pos = 0; pos < got.size();) {
    auto nl = got.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    auto colon = got.find(':', pos);
    int t = std::stoi(got.substr(pos, colon - pos));
    int i = std::stoi(got.substr(colon + 1, nl - colon - 1));
    in_order = in_order && i == next[t];
    next[t] = i + 1;
    ++lines;
    pos = nl + 1;
  }
  CHECK(in_order);
  CHECK(lines == static_cast<std::size_t>(threads * per_thread));
}

TEST_CASE("line_output: a closed reader fails the output instead of blocking", "[cli][output]") {
  std::signal(SIGPIPE, SIG_IGN);
  pipe_pair p;
  ::close(p.r);
  p.r = -1;
  line_output out(p.w);
  append_line(out, "x");
  bool failed = false;
  for (int i = 0; i < 2000 && !failed; ++i) {
    std::this_thread::sleep_for(1ms);
    failed = out.failed();
  }
  CHECK(failed);
  CHECK_FALSE(out.append([](out_buffer& b) { b.append("y\n"); }));
  CHECK_FALSE(out.close());
}

TEST_CASE("compact_json_object: recorded ARI frames pass through byte for byte", "[cli][ari][json]") {
  auto frames = recorded_ari_frames();
  REQUIRE(frames.size() > 100);
  for (const auto& f : frames) {
    auto c = compact(f);
    REQUIRE(c);
    CHECK(*c == f);
    CHECK(json_line(f) == f + "\n");
  }
}

TEST_CASE("compact_json_object: pretty-printed frames lose only the whitespace between tokens", "[cli][ari][json]") {
  for (const auto& f : recorded_ari_frames()) {
    auto doc = nlohmann::ordered_json::parse(f);
    for (int indent : {1, 2, 4}) {
      std::string pretty = doc.dump(indent);
      REQUIRE(pretty.find('\n') != std::string::npos);
      auto c = compact(pretty);
      REQUIRE(c);
      CHECK(*c == doc.dump());  // keys stay in Asterisk's order
    }
  }
  // CRLF line ends, tabs, spaces around every token; whitespace inside strings is kept.
  auto c = compact(" \r\n{\t\"type\" :\r\n \"Dial\" ,\n\"text\": \"two  spaces\\tand\\na newline\" ,"
                   " \"n\" : [ 1 , -2.5e+3 , true , false , null , { } , [ ] ] }\r\n");
  REQUIRE(c);
  CHECK(*c == "{\"type\":\"Dial\",\"text\":\"two  spaces\\tand\\na newline\",\"n\":[1,-2.5e+3,true,false,null,{},[]]}");
}

TEST_CASE("compact_json_object: escapes and UTF-8 are copied as spelled", "[cli][ari][json]") {
  const std::string cases[] = {
      R"({"q":"say \"hi\"","b":"C:\\dir\\","both":"\\\"","end":"\\"})",
      R"({"slash":"a\/b","ctl":"\b\f\n\r\t\u0000\u001f","uni":"\u00e9\u20AC\ud83d\ude00"})",
      "{\"utf8\":\"Jos\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF\",\"del\":\"\x7F\",\"\xC3\xA9\":1}",
      R"({"n":[0,-0,1.5,-0.25e-3,1E+2,123456789012345678901234567890,1e300]})",
      R"({"a":{"b":{"c":[[[{"d":"e"}]]]}}})",
      "{}",
  };
  for (const auto& text : cases) {
    INFO(text);
    auto c = compact(text);
    REQUIRE(c);
    CHECK(*c == text);
    CHECK(json::parse(*c) == json::parse(text));
  }
}

TEST_CASE("compact_json_object refuses what nlohmann::json refuses, and non-objects", "[cli][ari][json]") {
  const std::string refused[] = {
      "", "   ", "[1]", "\"s\"", "42", "null", "{", "}", "{}}", "{} {}", "{}x", "{\"a\":1,}", "{\"a\" 1}",
      "{,}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}",
      "{\"a\":nul}", "{\"a\":True}", "{1:2}", "{'a':1}", "{\"a\":1 \"b\":2}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
      "{\"a\":\"unterminated}", "{\"a\":\"raw\x01control\"}", "{\"a\":\"raw\nnewline\"}", "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\ud800\\u0041\"}",
      "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud83d\"}", "{\"a\":1e999}", "{\"a\":-1e400}",
      "{\"a\":\"Jos\xE9\"}", "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}", "{\"a\":\"\xF5\x80\x80\x80\"}",
      "{\"a\":\"\xE2\x82\"}", "{\"a\":\"\x80\"}", "{\"\xFF\":1}", "{\"a\":1}\xC3",
  };
  for (const auto& text : refused) {
    INFO(text);
    compact_result why{};
    CHECK_FALSE(compact(text, &why));
    CHECK(why == compact_result::not_object);
    auto doc = json::parse(text, nullptr, false);
    CHECK((doc.is_discarded() || !doc.is_object()));
    check_one_json_line(json_line(text));
  }
}

TEST_CASE("append_json_line: every input gives one valid JSON line", "[cli][ari][json][utf8]") {
  // Not JSON, invalid UTF-8: one JSON string, invalid bytes read as Latin-1 (as before).
  CHECK(json_line("{\"type\":\"X\",\"v\":\"Jos\xE9\"}") == "\"{\\\"type\\\":\\\"X\\\",\\\"v\\\":\\\"Jos\xC3\xA9\\\"}\"\n");
  CHECK(json_line("not json\r\n\x01") == "\"not json\\r\\n\\u0001\"\n");
  CHECK(json_line("") == "\"\"\n");
  // JSON that is not an object: re-serialized.
  CHECK(json_line(" [1, 2,\n {\"b\":1, \"a\":2}] ") == "[1,2,{\"a\":2,\"b\":1}]\n");
  CHECK(json_line("\"s\"") == "\"s\"\n");
  // Deeper than max_compact_depth: a JSON string, not a re-serialization.
  std::string deep = "{\"a\":" + std::string(max_compact_depth + 10, '[') + std::string(max_compact_depth + 10, ']') + "}";
  compact_result why{};
  CHECK_FALSE(compact(deep, &why));
  CHECK(why == compact_result::too_deep);
  auto line = json_line(deep);
  check_one_json_line(line);
  CHECK(json::parse(line) == deep);
  std::string deep_array = std::string(max_compact_depth + 10, '[') + std::string(max_compact_depth + 10, ']');
  CHECK(json::parse(json_line(deep_array)) == deep_array);
}

TEST_CASE("compact_json_object agrees with nlohmann::json on mutated frames", "[cli][ari][json]") {
  auto frames = recorded_ari_frames();
  std::mt19937 rng(15);
  const char interesting[] = {'"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', '0', 'e', '-', '.', 'u',
                              '\x01', '\x7f', '\x80', '\xC3', '\xE9', '\xED', '\xF0', '\xFF'};
  int accepted = 0, refused = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string text = frames[rng() % frames.size()];
    if (rng() % 4 == 0) text = nlohmann::ordered_json::parse(text).dump(static_cast<int>(rng() % 3));
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      std::size_t at = rng() % text.size();
      char c = rng() % 2 ? interesting[rng() % sizeof interesting] : static_cast<char>(rng() % 256);
      switch (rng() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(at, 1, c); break;
        default: text.erase(at, 1);
      }
    }
    auto doc = json::parse(text, nullptr, false);
    bool nlohmann_object = !doc.is_discarded() && doc.is_object();
    auto c = compact(text);
    INFO(text);
    REQUIRE(c.has_value() == nlohmann_object);
    if (c) {
      ++accepted;
      CHECK(json::parse(*c) == doc);
    } else {
      ++refused;
    }
    check_one_json_line(json_line(text));
  }
  CHECK(accepted > 1000);
  CHECK(refused > 1000);
}

namespace {

// The AMI JSON encoding spelled out plainly: json_text::write_json_string for every key and
// value, repeated keys grouped into an array at their first position.
std::string reference_ami_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  auto quoted = [](const std::string& s) {
    std::string out;
    astra::json_text::append_json_string(out, s);
    return out;
  };
  std::string out = "{";
  std::vector<bool> done(headers.size(), false);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (done[i]) continue;
    std::vector<std::size_t> same{i};
    for (std::size_t j = i + 1; j < headers.size(); ++j)
      if (headers[j].first == headers[i].first) same.push_back(j), done[j] = true;
    if (out.size() > 1) out += ',';
    out += quoted(headers[i].first) + ":";
    if (same.size() == 1) {
      out += quoted(headers[i].second);
      continue;
    }
    out += '[';
    for (std::size_t k = 0; k < same.size(); ++k) out += (k ? "," : "") + quoted(headers[same[k]].second);
    out += ']';
  }
  return out + "}";
}

}  // namespace

TEST_CASE("append_json_message equals the plain write_json_string encoding on random messages", "[cli][ami][json]") {
  std::mt19937 rng(1515);
  const std::string keys[] = {"Event", "Channel", "Uniqueid", "Variable", "ChanVariable", "Value", "A", "", "CallerIDName"};
  auto random_text = [&](std::size_t max_len) {
    std::string s(rng() % (max_len + 1), ' ');
    const int kind = static_cast<int>(rng() % 4);
    for (auto& c : s) {
      if (kind == 0) c = static_cast<char>('a' + rng() % 26);                    // plain ASCII
      else if (kind == 1) c = static_cast<char>(rng() % 256);                     // any byte
      else if (kind == 2) c = "\"\\\x01\x7f\xC3\xA9\xE9 x/"[rng() % 10];           // escapes, UTF-8, Latin-1
      else c = static_cast<char>(0x20 + rng() % 95);                              // printable
    }
    return s;
  };
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::vector<std::pair<std::string, std::string>> headers;
    const std::size_t n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i)
      headers.emplace_back(rng() % 2 ? keys[rng() % std::size(keys)] : random_text(12), random_text(rng() % 2 ? 7 : 80));
    auto m = astra::ami::message::make(astra::ami::message_kind::event, headers);
    out_buffer b;
    append_json_message(b, m);
    const std::string expected = reference_ami_json(headers);
    REQUIRE(std::string(b.view()) == expected);
    auto doc = json::parse(b.view(), nullptr, false);
    REQUIRE(!doc.is_discarded());
  }
}
