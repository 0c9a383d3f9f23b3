// Replays every recorded AMI session (tests/data/asterisk/fixtures/ami/*.jsonl) through the
// parser: whole, as recorded, byte by byte, split at every offset, in random chunks, LF-only.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "protocols/ami/parser.hpp"
#include "tests/ami/codec_support.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra::ami;
using astra::ami::test::outcome;
using astra::test::load_fixture;

namespace {

struct recorded_stream {
  std::string name;
  std::vector<std::string> in_chunks;  // in order, excluding the close marker
  bool closed = false;                 // an `in` record with empty data: Asterisk closed
  std::string in_bytes;
  std::vector<std::string> out_chunks;
};

recorded_stream load_stream(const std::string& fixture) {
  recorded_stream s;
  s.name = fixture;
  for (auto& c : load_fixture(fixture)) {
    if (c.dir == "in") {
      if (c.data.empty()) {
        s.closed = true;
      } else {
        REQUIRE_FALSE(s.closed);  // nothing arrives after a close
        s.in_chunks.push_back(c.data);
        s.in_bytes += c.data;
      }
    } else if (c.dir == "out") {
      s.out_chunks.push_back(c.data);
    }
  }
  return s;
}

// Counted independently of the parser: one banner line plus one message per blank line.
std::size_t expected_messages(const std::string& bytes) {
  std::size_t count = 0, pos = 0;
  while ((pos = bytes.find("\r\n\r\n", pos)) != std::string::npos) {
    ++count;
    pos += 4;
  }
  if (bytes.rfind("Asterisk Call Manager/", 0) == 0) ++count;
  return count;
}

std::vector<outcome> as_recorded(const recorded_stream& s) {
  std::vector<std::string_view> pieces(s.in_chunks.begin(), s.in_chunks.end());
  return astra::ami::test::parse_pieces(pieces, s.closed);
}

const outcome* find_response(const std::vector<outcome>& out, std::string_view action_id) {
  for (const auto& o : out)
    if (o.ok && o.kind == message_kind::response)
      for (const auto& [k, v] : o.headers)
        if (k == "ActionID" && v == action_id) return &o;
  return nullptr;
}

std::vector<std::string> values_of(const outcome& o, std::string_view key) {
  std::vector<std::string> v;
  for (const auto& [k, val] : o.headers)
    if (k == key) v.push_back(val);
  return v;
}

std::vector<std::string> all_fixtures() { return astra::test::list_fixtures("ami"); }

}  // namespace

TEST_CASE("every AMI fixture parses identically whole, as recorded, byte by byte and split at every offset",
          "[ami][codec][fixtures]") {
  const auto names = all_fixtures();
  REQUIRE(names.size() >= 6);
  for (const auto& name : names) {
    INFO("fixture " << name);
    const recorded_stream s = load_stream(name);
    REQUIRE_FALSE(s.in_bytes.empty());

    const auto whole = astra::ami::test::parse_whole(s.in_bytes, s.closed);
    REQUIRE(whole.size() == expected_messages(s.in_bytes));
    for (const auto& o : whole) {
      REQUIRE(o.ok);  // recorded Asterisk traffic never trips a limit
    }
    CHECK(whole.front().kind == message_kind::banner);
    CHECK(whole.front().name == "Asterisk Call Manager/11.0.0");
    // Every byte of the stream belongs to exactly one message.
    std::string rebuilt;
    for (const auto& o : whole) rebuilt += o.raw + (o.kind == message_kind::banner ? "\r\n" : "");
    CHECK(rebuilt == s.in_bytes);

    CHECK(as_recorded(s) == whole);

    {  // one byte per feed: every offset is a split point at once
      astra::ami::parser p;
      std::vector<outcome> out;
      for (char c : s.in_bytes) astra::ami::test::feed_all(p, std::string_view(&c, 1), out);
      if (s.closed) astra::ami::test::finish_all(p, out);
      CHECK(out == whole);
    }

    // Split into two pieces at every offset. The event burst (278 KB) is covered by the
    // byte-by-byte run above and by the per-message windows of the next test.
    if (s.in_bytes.size() <= 40000) {
      const auto expected = astra::ami::test::digest_pieces({s.in_bytes}, s.closed);
      REQUIRE(expected.messages == whole.size());
      std::size_t mismatches = 0;
      astra::ami::parser reused;
      for (std::size_t i = 0; i <= s.in_bytes.size(); i += astra::ami::test::offset_stride) {
        std::string_view all = s.in_bytes;
        if (astra::ami::test::digest_pieces(reused, {all.substr(0, i), all.substr(i)}, s.closed) != expected)
          ++mismatches;
      }
      CHECK(mismatches == 0);
    }

    // Random chunk sizes (fixed seeds: reproducible).
    for (unsigned seed : {1u, 7u, 42u, 1234u}) {
      std::mt19937 rng(seed);
      std::uniform_int_distribution<std::size_t> size(1, 700);
      std::vector<std::string_view> pieces;
      std::string_view rest = s.in_bytes;
      while (!rest.empty()) {
        const std::size_t n = std::min(rest.size(), size(rng));
        pieces.push_back(rest.substr(0, n));
        rest.remove_prefix(n);
      }
      INFO("seed " << seed);
      CHECK(astra::ami::test::parse_pieces(pieces, s.closed) == whole);
    }
  }
}

TEST_CASE("event burst: every split offset inside each pair of consecutive messages", "[ami][codec][fixtures]") {
  const recorded_stream s = load_stream("ami/event-burst.jsonl");
  const auto whole = astra::ami::test::parse_whole(s.in_bytes, s.closed);
  REQUIRE(whole.size() == expected_messages(s.in_bytes));
  // Message start offsets, from the parser's raw() (already proven to tile the stream).
  std::vector<std::size_t> starts;
  std::size_t offset = 0;
  for (const auto& o : whole) {
    starts.push_back(offset);
    offset += o.raw.size() + (o.kind == message_kind::banner ? 2 : 0);
  }
  starts.push_back(offset);
  REQUIRE(offset == s.in_bytes.size());
  // A window starts with an Event:/Response: line, so a fresh parser needs no banner first.
  std::size_t mismatches = 0, runs = 0;
  astra::ami::parser reused;
  for (std::size_t m = 1; m + 1 < whole.size(); ++m) {
    const std::string_view window = std::string_view(s.in_bytes).substr(starts[m], starts[m + 2] - starts[m]);
    const auto expected = astra::ami::test::digest_pieces(reused, {window}, true);
    REQUIRE(expected.messages == 2);
    REQUIRE(expected.errors == 0);
    const auto reference = astra::ami::test::parse_pieces({window}, true);
    REQUIRE(reference.size() == 2);
    REQUIRE(reference[0] == whole[m]);
    REQUIRE(reference[1] == whole[m + 1]);
    for (std::size_t i = 0; i <= window.size(); i += astra::ami::test::offset_stride) {
      ++runs;
      if (astra::ami::test::digest_pieces(reused, {window.substr(0, i), window.substr(i)}, true) != expected)
        ++mismatches;
    }
  }
  CHECK(runs * astra::ami::test::offset_stride > s.in_bytes.size());
  CHECK(mismatches == 0);
}

TEST_CASE("LF-only line endings parse to the same headers", "[ami][codec][fixtures]") {
  for (const auto& name : all_fixtures()) {
    INFO("fixture " << name);
    const recorded_stream s = load_stream(name);
    std::string lf;
    for (std::size_t i = 0; i < s.in_bytes.size(); ++i)
      if (!(s.in_bytes[i] == '\r' && i + 1 < s.in_bytes.size() && s.in_bytes[i + 1] == '\n')) lf += s.in_bytes[i];
    const auto crlf_out = astra::ami::test::parse_whole(s.in_bytes, s.closed);
    const auto lf_out = astra::ami::test::parse_whole(lf, s.closed);
    REQUIRE(lf_out.size() == crlf_out.size());
    for (std::size_t i = 0; i < lf_out.size(); ++i) {
      CHECK(lf_out[i].ok);
      CHECK(lf_out[i].kind == crlf_out[i].kind);
      CHECK(lf_out[i].name == crlf_out[i].name);
      CHECK(lf_out[i].headers == crlf_out[i].headers);
    }
    astra::ami::parser p;
    std::vector<outcome> bytewise;
    for (char c : lf) astra::ami::test::feed_all(p, std::string_view(&c, 1), bytewise);
    if (s.closed) astra::ami::test::finish_all(p, bytewise);
    CHECK(bytewise == lf_out);
  }
}

TEST_CASE("login-ping-core: banner, login, Command Output lines, list completion, Goodbye, close",
          "[ami][codec][fixtures]") {
  const recorded_stream s = load_stream("ami/login-ping-core.jsonl");
  REQUIRE(s.closed);
  astra::ami::parser p;
  CHECK_FALSE(p.banner_seen());
  std::vector<astra::result<message>> msgs;
  for (const auto& chunk : s.in_chunks) {
    REQUIRE(p.feed(chunk) == chunk.size());
    while (auto r = p.next()) msgs.push_back(std::move(*r));
  }
  CHECK(p.banner_seen());
  CHECK_FALSE(p.finish().has_value());  // closed cleanly between messages: no truncated error
  for (const auto& m : msgs) REQUIRE(m.ok());

  REQUIRE(msgs[0]->kind() == message_kind::banner);
  CHECK(msgs[0]->name() == "Asterisk Call Manager/11.0.0");
  CHECK(msgs[0]->size() == 0);

  const message& login = *msgs[1];
  CHECK(login.kind() == message_kind::response);
  CHECK(login.name() == "Success");
  CHECK(login.action_id() == "login-1");
  CHECK(login.get("message") == std::optional<std::string_view>("Authentication accepted"));
  CHECK(login.get("MESSAGE") == std::optional<std::string_view>("Authentication accepted"));
  CHECK_FALSE(login.get("Missing").has_value());

  CHECK(msgs[2]->kind() == message_kind::event);
  CHECK(msgs[2]->name() == "FullyBooted");
  CHECK(msgs[2]->action_id().empty());
  CHECK(msgs[2]->get("Status") == std::optional<std::string_view>("Fully Booted"));

  auto by_id = [&](std::string_view id) -> const message& {
    for (const auto& m : msgs)
      if (m->kind() == message_kind::response && m->action_id() == id) return *m;
    FAIL("no response with ActionID " << id);
    return *msgs[0];
  };
  // Ping reply and empty values kept.
  CHECK(by_id("p-1").get("Ping") == std::optional<std::string_view>("Pong"));
  CHECK(by_id("cs-1").get("SystemName") == std::optional<std::string_view>(""));

  // Command: modern Output: lines, one and several, success and error variants.
  const message& cmd1 = by_id("cmd-1");
  CHECK(cmd1.get_all("Output").size() == 1);
  const message& cmd2 = by_id("cmd-2");
  CHECK(cmd2.name() == "Success");
  CHECK(cmd2.get("Message") == std::optional<std::string_view>("Command output follows"));
  CHECK(cmd2.get_all("Output") ==
        std::vector<std::string_view>{"System uptime: 21 seconds", "Last reload: 21 seconds"});
  CHECK(cmd2.get_all("output").size() == 2);
  CHECK(cmd2.size() == 5);
  CHECK(cmd2.key(3) == "Output");
  CHECK(cmd2.value(4) == "Last reload: 21 seconds");
  const message& cmd3 = by_id("cmd-3");
  CHECK(cmd3.name() == "Error");
  REQUIRE(cmd3.get_all("Output").size() == 1);
  CHECK(cmd3.get_all("Output")[0].find("No such command") == 0);

  CHECK(by_id("bad-1").name() == "Error");

  // DBGet list: Response with EventList: start, the item event, the Complete event.
  std::size_t db2 = 0;
  while (db2 < msgs.size() && !(msgs[db2]->kind() == message_kind::response && msgs[db2]->action_id() == "db-2"))
    ++db2;
  REQUIRE(db2 + 2 < msgs.size());
  CHECK(msgs[db2]->get("EventList") == std::optional<std::string_view>("start"));
  CHECK(msgs[db2 + 1]->kind() == message_kind::event);
  CHECK(msgs[db2 + 1]->name() == "DBGetResponse");
  CHECK(msgs[db2 + 1]->action_id() == "db-2");
  CHECK(msgs[db2 + 1]->get("Val") == std::optional<std::string_view>("hello world"));
  CHECK(msgs[db2 + 2]->name() == "DBGetComplete");
  CHECK(msgs[db2 + 2]->get("EventList") == std::optional<std::string_view>("Complete"));
  CHECK(msgs[db2 + 2]->get("ListItems") == std::optional<std::string_view>("1"));

  CHECK(msgs.back()->name() == "Goodbye");
  CHECK(msgs.back()->action_id() == "bye");
}

TEST_CASE("call-lifecycle: OriginateResponse is an event, Status and CoreShowChannels lists complete",
          "[ami][codec][fixtures]") {
  const recorded_stream s = load_stream("ami/call-lifecycle.jsonl");
  const auto out = as_recorded(s);
  REQUIRE(out.size() == expected_messages(s.in_bytes));

  std::size_t originate_responses = 0;
  for (const auto& o : out) {
    bool has_event = false, has_response = false;
    for (const auto& [k, v] : o.headers) {
      has_event |= k == "Event";
      has_response |= k == "Response";
    }
    if (has_event) CHECK(o.kind == message_kind::event);
    if (!has_event && has_response) CHECK(o.kind == message_kind::response);
    if (o.kind == message_kind::event && o.name == "OriginateResponse") {
      ++originate_responses;
      CHECK(has_response);  // it carries Response: and is still an event
    }
  }
  CHECK(originate_responses == 2);

  // OriginateResponse for orig-1 is a Success, for orig-fail a Failure.
  for (const auto& o : out) {
    if (o.name != "OriginateResponse") continue;
    const auto id = values_of(o, "ActionID");
    REQUIRE(id.size() == 1);
    CHECK(values_of(o, "Response")[0] == (id[0] == "orig-1" ? "Success" : "Failure"));
  }

  // Each list: Response with EventList: start, items with that ActionID, ...Complete with ListItems = items.
  for (std::string id : {"csc-1", "st-1", "hu-all"}) {
    INFO("list " << id);
    const outcome* start = find_response(out, id);
    REQUIRE(start);
    CHECK(values_of(*start, "EventList") == std::vector<std::string>{"start"});
    std::size_t items = 0;
    const outcome* complete = nullptr;
    for (const auto& o : out) {
      if (o.kind != message_kind::event || values_of(o, "ActionID") != std::vector<std::string>{id}) continue;
      if (values_of(o, "EventList") == std::vector<std::string>{"Complete"}) {
        complete = &o;
      } else {
        CHECK_FALSE(complete);  // items precede the completion event
        ++items;
      }
    }
    REQUIRE(complete);
    CHECK(items == 2);
    CHECK(values_of(*complete, "ListItems") == std::vector<std::string>{std::to_string(items)});
  }

  // Status items: Privilege: Call and ActionID last.
  std::size_t status_items = 0;
  for (const auto& o : out) {
    if (o.name != "Status") continue;
    ++status_items;
    CHECK(o.headers.at(1) == std::pair<std::string, std::string>{"Privilege", "Call"});
    CHECK(o.headers.back() == std::pair<std::string, std::string>{"ActionID", "st-1"});
  }
  CHECK(status_items == 2);

  const outcome* getvar = find_response(out, "gv-1");
  REQUIRE(getvar);
  CHECK(values_of(*getvar, "Value") == std::vector<std::string>{"bar baz"});
}

TEST_CASE("login-failed: Asterisk closes after the error; finish() reports no truncation", "[ami][codec][fixtures]") {
  const recorded_stream s = load_stream("ami/login-failed.jsonl");
  REQUIRE(s.closed);
  const auto out = as_recorded(s);
  REQUIRE(out.size() == 2);
  CHECK(out[1].kind == message_kind::response);
  CHECK(out[1].name == "Error");
  CHECK(values_of(out[1], "Message") == std::vector<std::string>{"Authentication failed"});
}

TEST_CASE("EOF inside a message is reported as truncated at every cut point", "[ami][codec][eof]") {
  const recorded_stream s = load_stream("ami/login-ping-core.jsonl");
  const auto whole = astra::ami::test::parse_whole(s.in_bytes, true);
  std::vector<std::size_t> ends;  // byte offset just after each message
  std::size_t offset = 0;
  for (const auto& o : whole) ends.push_back(offset += o.raw.size() + (o.kind == message_kind::banner ? 2 : 0));
  for (std::size_t cut = 1; cut < s.in_bytes.size(); ++cut) {
    const auto out = astra::ami::test::parse_whole(std::string_view(s.in_bytes).substr(0, cut), true);
    const std::size_t complete = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    const bool at_boundary = std::binary_search(ends.begin(), ends.end(), cut);
    INFO("cut " << cut);
    REQUIRE(out.size() == complete + (at_boundary ? 0 : 1));
    for (std::size_t i = 0; i < complete; ++i) REQUIRE(out[i] == whole[i]);
    if (!at_boundary) REQUIRE(out.back().error == make_error_code(ami_errc::truncated));
  }
  // After finish() the parser stays closed until reset().
  astra::ami::parser p;
  CHECK_FALSE(p.finish().has_value());
  CHECK(p.feed("Event: X\r\n\r\n") == 0);
  p.reset();
  CHECK(p.feed("Event: X\r\n\r\n") == 12);
  auto r = p.next();
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK((*r)->name() == "X");
}

TEST_CASE("the out direction parses as actions", "[ami][codec][fixtures]") {
  std::size_t actions = 0;
  for (const auto& name : all_fixtures()) {
    const recorded_stream s = load_stream(name);
    for (const auto& chunk : s.out_chunks) {
      INFO(name << ": " << chunk);
      const auto out = astra::ami::test::parse_whole(chunk, true);
      REQUIRE(out.size() == 1);
      REQUIRE(out[0].ok);
      CHECK(out[0].kind == message_kind::action);
      CHECK(out[0].raw == chunk);
      CHECK(out[0].headers.at(0).first == "Action");
      CHECK(out[0].name == out[0].headers.at(0).second);
      ++actions;
    }
  }
  CHECK(actions >= 30);
}
