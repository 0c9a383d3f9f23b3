// The webhook verb loop (actors/webhook/runner) on a scripted call and a scripted web app:
// no sockets, every await completes at once.
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "actors/common/call_ended.hpp"
#include "actors/webhook/runner.hpp"
#include "protocols/agi/errors.hpp"
#include "protocols/webhook/signature.hpp"

using namespace astra;
using namespace astra::webhook;
using json = nlohmann::json;

namespace {

struct posted {
  std::string url;
  json body;
  std::map<std::string, std::string> headers;
};

// The web app: one function per URL; every request recorded.
struct fake_app {
  std::map<std::string, std::function<result<http_response>(const json&)>> routes;
  std::vector<posted> requests;

  result<http_response> handle(const http_request& r) {
    posted p{r.url, json::parse(r.body), {}};
    for (const auto& [k, v] : r.headers) p.headers[k] = v;
    requests.push_back(p);
    auto it = routes.find(r.url);
    if (it == routes.end()) return http_response{404, "text/plain", "no route"};
    return it->second(p.body);
  }
  static result<http_response> verbs(const char* list) {
    return http_response{200, "application/json", std::string("{\"verbs\": ") + list + "}"};
  }
};

// The call: logs every step; digits scripted; may hang up after a number of steps.
struct fake_media final : call_media {
  fake_app& app;
  std::vector<std::string> log;
  std::deque<std::string> play_digits;  // what each play/say returns ("" = ran to its end)
  std::deque<std::string> digits;       // what each wait_digit returns ("" = timeout)
  int hang_up_after = -1;               // steps before the caller hangs up (-1: never)

  explicit fake_media(fake_app& a) : app(a) {}

  void step(std::string what) {
    if (hang_up_after == 0) throw call_ended{make_error_code(agi::agi_errc::hung_up), "caller hung up"};
    if (hang_up_after > 0) --hang_up_after;
    log.push_back(std::move(what));
  }
  std::string next(std::deque<std::string>& q) {
    if (q.empty()) return "";
    auto d = q.front();
    q.pop_front();
    return d;
  }

  void describe(json& call) const override {
    call["source"] = "agi";
    call["route"] = "/support";
  }
  task<result<void>> answer() override {
    step("answer");
    co_return result<void>{};
  }
  task<result<play_outcome>> play(std::string file, std::string interrupt) override {
    step("play " + file + (interrupt.empty() ? "" : " [" + interrupt + "]"));
    co_return play_outcome{next(play_digits)};
  }
  task<result<play_outcome>> say(webhook::say what) override {
    step("say " + what.text);
    co_return play_outcome{next(play_digits)};
  }
  task<result<std::string>> wait_digit(millis timeout) override {
    step("wait " + std::to_string(timeout.count()));
    co_return next(digits);
  }
  task<result<record_outcome>> record(webhook::record what) override {
    step("record " + what.file);
    co_return record_outcome{what.file, 4200, "silence"};
  }
  task<result<void>> set_variable(std::string name, std::string value) override {
    step("set " + name + "=" + value);
    co_return result<void>{};
  }
  task<result<std::string>> get_variable(std::string name) override {
    step("get " + name);
    co_return std::string("value-of-" + name);
  }
  task<result<dial_outcome>> dial(webhook::dial what) override {
    step("dial " + what.endpoint);
    co_return dial_outcome{"ANSWER", 12000};
  }
  task<result<void>> pause(millis d) override {
    step("pause " + std::to_string(d.count()));
    co_return result<void>{};
  }
  task<result<void>> continue_in_dialplan(webhook::continue_ w) override {
    step("continue " + w.context + "," + w.extension + "," + w.priority);
    co_return result<void>{};
  }
  task<result<void>> hangup(std::string cause) override {
    step("hangup" + (cause.empty() ? "" : " " + cause));
    co_return result<void>{};
  }
  task<result<http_response>> post(http_request request) override {
    if (hang_up_after == 0) throw call_ended{make_error_code(agi::agi_errc::hung_up), "caller hung up"};
    co_return app.handle(request);
  }
};

struct harness {
  fake_app app;
  fake_media media{app};
  std::vector<posted> ends;  // call.end requests
  std::map<std::string, int> failures, verbs;
  std::shared_ptr<endpoint> ep = std::make_shared<endpoint>();
  bool threw_call_ended = false;

  harness() {
    ep->config.url = "http://app/voice";
    ep->config.secret = "k3y";
    ep->config.fallback = *decode_list(R"J([{"play": {"file": "technical-difficulties"}}, {"hangup": {}}])J");
    ep->observe.failure = [this](std::string_view reason) { ++failures[std::string(reason)]; };
    ep->observe.verb = [this](std::string_view v, std::string_view o) { ++verbs[std::string(v) + ":" + std::string(o)]; };
    ep->send_detached = [this](http_request r, http_callback done) {
      ends.push_back(posted{r.url, json::parse(r.body), {}});
      done(http_response{204, "", ""});
    };
  }

  void run() {
    {
      root_task root(webhook::run(ep, media, "call-1"));
      bool finished = false;
      root.start([&](std::exception_ptr e) {
        finished = true;
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const call_ended&) {
            threw_call_ended = true;
          }
        }
      });
      REQUIRE(finished);  // every await completed at once
    }
    REQUIRE(ends.size() == 1);  // call.end exactly once, whatever ended the call
  }
};

}  // namespace

TEST_CASE("IVR: call.start, verbs, type-ahead into gather, verb.result, branch, hang up", "[webhook][runner]") {
  harness h;
  h.app.routes["http://app/voice"] = [](const json& body) {
    CHECK(body["event"] == "call.start");
    CHECK(body["call"]["id"] == "call-1");
    CHECK(body["call"]["source"] == "agi");
    return fake_app::verbs(R"J([{"answer": {}}, {"set": {"variables": {"LANG": "en"}}},
      {"play": {"file": "welcome", "interrupt_digits": "123"}},
      {"gather": {"play": "menu", "max_digits": 3, "timeout": "4s", "inter_digit_timeout": "2s", "action": "http://app/menu"}},
      {"hangup": {}}])J");
  };
  h.app.routes["http://app/menu"] = [](const json& body) {
    CHECK(body["event"] == "verb.result");
    CHECK(body["verb"] == "gather");
    if (body["result"]["digits"] == "23") return fake_app::verbs(R"J([{"say": {"digits": "23"}}, {"hangup": {"cause": 16}}])J");
    return fake_app::verbs(R"J([{"hangup": {}}])J");
  };
  h.media.play_digits = {"2"};  // welcome interrupted by 2 (type-ahead); the menu prompt is skipped
  h.media.digits = {"3", "#"};  // then 3, then # finishes
  h.run();
  CHECK(h.media.log == std::vector<std::string>{"answer", "set LANG=en", "play welcome [123]", "wait 2000", "wait 2000",
                                                "say 23", "hangup 16"});
  REQUIRE(h.app.requests.size() == 2);
  CHECK(h.app.requests[1].body["result"] == json{{"digits", "23"}, {"timed_out", false}});
  // Signed: X-Astra-Signature over timestamp.body with the route's secret.
  const auto& first = h.app.requests[0];
  CHECK(signature_matches("k3y", first.headers.at("X-Astra-Timestamp"), first.body.dump(), first.headers.at("X-Astra-Signature")));
  CHECK(h.ends[0].body["event"] == "call.end");
  CHECK(h.ends[0].body["outcome"] == "completed");
  CHECK(h.ends[0].body["hangup_cause"] == "16");
  CHECK(h.verbs["gather:ok"] == 1);
  CHECK(h.failures.empty());
  CHECK_FALSE(h.threw_call_ended);
}

TEST_CASE("gather: the prompt's interrupt digit counts; a timeout reports timed_out", "[webhook][runner]") {
  harness h;
  h.app.routes["http://app/voice"] = [](const json&) {
    return fake_app::verbs(R"J([{"gather": {"play": "menu", "max_digits": 2, "timeout": "5s", "action": "http://app/menu"}}])J");
  };
  h.app.routes["http://app/menu"] = [](const json&) { return fake_app::verbs("[]"); };
  h.media.play_digits = {"7"};
  h.media.digits = {""};  // nothing more
  h.run();
  CHECK(h.media.log == std::vector<std::string>{"play menu [0123456789*#ABCD]", "wait 3000", "hangup"});
  CHECK(h.app.requests[1].body["result"] == json{{"digits", "7"}, {"timed_out", true}});
  CHECK(h.ends[0].body["outcome"] == "completed");  // the list ran out: hung up
}

TEST_CASE("failures run the fallback verbs and are counted by reason", "[webhook][runner]") {
  SECTION("a 500") {
    harness h;
    h.app.routes["http://app/voice"] = [](const json&) { return result<http_response>(http_response{500, "", "boom"}); };
    h.run();
    CHECK(h.media.log == std::vector<std::string>{"play technical-difficulties", "hangup"});
    CHECK(h.failures["bad_status"] == 1);
    CHECK(h.ends[0].body["outcome"] == "fallback");
  }
  SECTION("a timeout") {
    harness h;
    h.app.routes["http://app/voice"] = [](const json&) {
      return result<http_response>(failure{make_error_code(webhook_errc::timeout), "5000 ms"});
    };
    h.run();
    CHECK(h.media.log == std::vector<std::string>{"play technical-difficulties", "hangup"});
    CHECK(h.failures["timeout"] == 1);
  }
  SECTION("a body that is not JSON, after a verb.result") {
    harness h;
    h.app.routes["http://app/voice"] = [](const json&) {
      return fake_app::verbs(R"J([{"get": {"variables": ["LANG"], "action": "http://app/got"}}])J");
    };
    h.app.routes["http://app/got"] = [](const json& body) {
      CHECK(body["result"]["variables"]["LANG"] == "value-of-LANG");
      return result<http_response>(http_response{200, "text/html", "<html>"});
    };
    h.run();
    CHECK(h.media.log == std::vector<std::string>{"get LANG", "play technical-difficulties", "hangup"});
    CHECK(h.failures["not_json"] == 1);
  }
  SECTION("an unknown verb; the default fallback hangs up") {
    harness h;
    h.ep->config.fallback.clear();
    h.app.routes["http://app/voice"] = [](const json&) { return fake_app::verbs(R"J([{"answer": {}}, {"teleport": {}}])J"); };
    h.run();
    CHECK(h.media.log == std::vector<std::string>{"hangup"});  // nothing of a bad list runs
    CHECK(h.failures["unknown_verb"] == 1);
  }
}

TEST_CASE("redirect, record, dial, pause and continue", "[webhook][runner]") {
  harness h;
  h.app.routes["http://app/voice"] = [](const json&) { return fake_app::verbs(R"J([{"redirect": {"url": "http://app/other"}}])J"); };
  h.app.routes["http://app/other"] = [](const json& body) {
    CHECK(body["event"] == "call.redirect");
    return fake_app::verbs(R"J([{"record": {"file": "msg", "action": "http://app/recorded"}}])J");
  };
  h.app.routes["http://app/recorded"] = [](const json& body) {
    CHECK(body["result"] == json{{"file", "msg"}, {"duration_ms", 4200}, {"reason", "silence"}});
    return fake_app::verbs(R"J([{"dial": {"endpoint": "PJSIP/bob", "action": "http://app/dialed"}}])J");
  };
  h.app.routes["http://app/dialed"] = [](const json& body) {
    CHECK(body["result"] == json{{"status", "ANSWER"}, {"duration_ms", 12000}});
    return fake_app::verbs(R"J([{"pause": {"seconds": 1.5}}, {"continue": {"context": "after", "extension": "s", "priority": 1}}, {"hangup": {}}])J");
  };
  h.run();
  CHECK(h.media.log == std::vector<std::string>{"record msg", "dial PJSIP/bob", "pause 1500", "continue after,s,1"});
  CHECK(h.ends[0].body["outcome"] == "continued");  // continue ends the list: no hangup
}

TEST_CASE("a caller hanging up ends the list; call.end still goes out", "[webhook][runner]") {
  SECTION("during a verb") {
    harness h;
    h.app.routes["http://app/voice"] = [](const json&) {
      return fake_app::verbs(R"J([{"answer": {}}, {"play": {"file": "a"}}, {"play": {"file": "b"}}])J");
    };
    h.media.hang_up_after = 2;
    h.run();
    CHECK(h.threw_call_ended);
    CHECK(h.media.log == std::vector<std::string>{"answer", "play a"});
    CHECK(h.ends[0].body["outcome"] == "hangup");
    CHECK(h.verbs["play:hangup"] == 1);
  }
  SECTION("while the app is asked") {
    harness h;
    h.media.hang_up_after = 0;
    h.run();
    CHECK(h.threw_call_ended);
    CHECK(h.media.log.empty());
    CHECK(h.ends[0].body["outcome"] == "hangup");
  }
}

TEST_CASE("call.end is retried once, then counted as a failure", "[webhook][runner]") {
  harness h;
  int attempts = 0;
  h.ep->send_detached = [&](http_request r, http_callback done) {
    ++attempts;
    h.ends.push_back(posted{r.url, json::parse(r.body), {}});
    done(failure{make_error_code(webhook_errc::connection_failed), "refused"});
  };
  h.app.routes["http://app/voice"] = [](const json&) { return fake_app::verbs(R"J([{"hangup": {}}])J"); };
  {
    root_task root(webhook::run(h.ep, h.media, "call-1"));
    root.start([](std::exception_ptr) {});
  }
  CHECK(attempts == 2);
  CHECK(h.failures["connection_failed"] == 1);
}
