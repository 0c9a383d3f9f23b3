// The webhook verb loop (contract: runner.hpp; protocol: docs/webhooks.md).
#include "actors/webhook/runner.hpp"

#include <chrono>
#include <exception>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/call_ended.hpp"
#include "protocols/webhook/signature.hpp"

namespace astra::webhook {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// Digits a gather's prompt may be interrupted with (every DTMF digit: typed-ahead input).
constexpr std::string_view any_dtmf = "0123456789*#ABCD";

std::string to_text(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

double seconds_since(steady::time_point t0) { return std::chrono::duration<double>(steady::now() - t0).count(); }

std::string reason_of(const failure& f) {
  if (f.code.category() == webhook_category()) return std::string(reason_label(static_cast<webhook_errc>(f.code.value())));
  return "other";
}

// A signed POST of `body` to `url` (headers: docs/webhooks.md).
http_request make_request(const endpoint& ep, std::string url, const json& body, std::string_view event) {
  http_request r;
  r.url = std::move(url);
  r.body = to_text(body);
  r.timeout = ep.config.timeout;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string timestamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  r.headers.emplace_back("X-Astra-Timestamp", timestamp);
  r.headers.emplace_back("X-Astra-Event", std::string(event));
  if (!ep.config.secret.empty()) r.headers.emplace_back("X-Astra-Signature", sign(ep.config.secret, timestamp, r.body));
  return r;
}

// Sends call.end from its destructor (so it also goes out when the call's frames are destroyed
// because the call was cut): fire-and-forget on the HTTP client, one retry after a failure,
// never delaying the actor.
class call_end_sender {
 public:
  call_end_sender(std::shared_ptr<const endpoint> ep, std::string call_id)
      : ep_(std::move(ep)), call_id_(std::move(call_id)), started_(steady::now()) {}
  call_end_sender(const call_end_sender&) = delete;
  call_end_sender& operator=(const call_end_sender&) = delete;
  ~call_end_sender() {
    try {
      send();
    } catch (...) {  // a destructor must not throw; call.end is best effort by contract
    }
  }

  json call;                        // the call object (filled by run)
  std::string outcome = "cut";      // overwritten when the loop ends by itself
  std::string hangup_cause;         // Q.850 number as text, "" when unknown

 private:
  void send() {
    if (!ep_ || (!ep_->client && !ep_->send_detached)) return;
    json body{{"event", "call.end"},
              {"call", call},
              {"outcome", outcome},
              {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started_).count()},
              {"hangup_cause", hangup_cause.empty() ? json(nullptr) : json(hangup_cause)}};
    attempt(ep_, make_request(*ep_, ep_->config.url, body, "call.end"), call_id_, 2);
  }

  static void attempt(std::shared_ptr<const endpoint> ep, http_request request, std::string call_id, int tries_left) {
    auto copy = request;
    const auto t0 = steady::now();
    http_callback done = [ep, request = std::move(request), call_id, tries_left, t0](result<http_response> r) mutable {
      const int status = r ? r->status : 0;
      if (ep->observe.request) ep->observe.request("call.end", status, seconds_since(t0));
      if (r && status >= 200 && status < 300) return;
      const std::string reason = r ? std::string("bad_status") : reason_of(r.error());
      if (tries_left > 1) {
        attempt(std::move(ep), std::move(request), std::move(call_id), tries_left - 1);
        return;
      }
      if (ep->observe.failure) ep->observe.failure(reason);
      spdlog::warn("webhook: call {}: call.end not delivered: {}", call_id,
                   r ? "HTTP status " + std::to_string(status) : r.error().message());
    };
    if (ep->send_detached) ep->send_detached(std::move(copy), std::move(done));
    else ep->client->post(std::move(copy), std::move(done));
  }

  std::shared_ptr<const endpoint> ep_;
  std::string call_id_;
  steady::time_point started_;
};

class loop {
 public:
  loop(std::shared_ptr<const endpoint> ep, call_media& media, std::string call_id, call_end_sender& end)
      : ep_(std::move(ep)), media_(media), call_id_(std::move(call_id)), end_(end) {}

  task<void> run() {
    json start{{"event", "call.start"}, {"call", end_.call}};  // (g++ 12: no braced list inside co_await)
    auto asking = fetch("call.start", ep_->config.url, std::move(start));
    auto verbs = co_await asking;
    for (;;) {
      if (!verbs) {
        co_await run_fallback(verbs.error());
        co_return;
      }
      auto next = co_await run_list(std::move(*verbs));
      if (!next) co_return;  // the call ended (hangup, continue, list ran out)
      verbs = std::move(*next);
    }
  }

 private:
  using verb_list = std::vector<verb>;
  // A list's end: nullopt when the call is over, else the verbs that continue it (or the
  // failure that runs the fallback).
  using list_end = std::optional<result<verb_list>>;

  task<result<verb_list>> fetch(std::string_view event, std::string url, json body) {
    const auto t0 = steady::now();
    auto request = make_request(*ep_, std::move(url), body, event);
    auto posting = media_.post(std::move(request));
    auto r = co_await posting;
    const double took = seconds_since(t0);
    if (!r) {
      if (ep_->observe.request) ep_->observe.request(event, 0, took);
      co_return r.error();
    }
    if (ep_->observe.request) ep_->observe.request(event, r->status, took);
    if (r->status < 200 || r->status >= 300)
      co_return failure{make_error_code(webhook_errc::bad_status), "HTTP " + std::to_string(r->status) + " to " + std::string(event)};
    co_return decode_reply(r->body);
  }

  void count(const verb& v, std::string_view outcome) {
    if (ep_->observe.verb) ep_->observe.verb(name_of(v), outcome);
  }

  task<list_end> run_list(verb_list verbs) {
    for (auto& v : verbs) {
      // A hang-up while a verb runs throws call_ended out of the media call.
      struct hangup_counter {
        loop* self;
        const verb* v;
        bool done = false;
        ~hangup_counter() {
          if (!done && std::uncaught_exceptions() > 0) self->count(*v, "hangup");
        }
      } guard{this, &v};
      json outcome;
      bool ok = true;
      bool ends_call = false;
      std::optional<std::string> next_url;
      co_await execute(v, outcome, ok, ends_call, next_url);
      guard.done = true;
      count(v, ok ? "ok" : "failed");
      if (ends_call) co_return std::nullopt;
      if (next_url) {
        // redirect: the next verbs come from another URL.
        json body{{"event", "call.redirect"}, {"call", end_.call}};
        auto asking = fetch("call.redirect", *next_url, std::move(body));
        auto next = co_await asking;
        co_return list_end(std::move(next));
      }
      const std::string_view action = action_of(v);
      if (!action.empty()) {
        json body{{"event", "verb.result"}, {"call", end_.call}, {"verb", name_of(v)}, {"result", outcome}};
        auto asking = fetch("verb.result", std::string(action), std::move(body));
        auto next = co_await asking;
        co_return list_end(std::move(next));
      }
    }
    // The list ran out: the call ends.
    (void)co_await media_.hangup({});
    end_.outcome = "completed";
    co_return std::nullopt;
  }

  task<void> run_fallback(const failure& why) {
    const std::string reason = reason_of(why);
    if (ep_->observe.failure) ep_->observe.failure(reason);
    spdlog::warn("webhook: call {}: {}; running the fallback", call_id_, why.message());
    end_.outcome = "fallback";
    in_fallback_ = true;  // the fallback's own hangup / continue keep the outcome "fallback"
    for (auto& v : ep_->config.fallback) {
      json outcome;
      bool ok = true, ends_call = false;
      std::optional<std::string> ignored_url;  // the fallback never calls the app again
      co_await execute(v, outcome, ok, ends_call, ignored_url);
      count(v, ok ? "ok" : "failed");
      if (ends_call) co_return;
    }
    (void)co_await media_.hangup({});
  }

  // Typed-ahead digits join the gather; a gather consumes them.
  task<void> execute(const verb& v, json& outcome, bool& ok, bool& ends_call, std::optional<std::string>& next_url) {
    auto note = [&](const failure& f) {
      ok = false;
      spdlog::info("webhook: call {}: verb {} failed: {}", call_id_, name_of(v), f.message());
    };
    if (std::holds_alternative<answer>(v)) {
      auto r = co_await media_.answer();
      if (!r) note(r.error());
    } else if (auto* p = std::get_if<play>(&v)) {
      auto r = co_await media_.play(p->file, p->interrupt_digits);
      if (!r) note(r.error());
      else type_ahead_ += r->digit;
    } else if (auto* s = std::get_if<say>(&v)) {
      auto r = co_await media_.say(*s);
      if (!r) note(r.error());
      else type_ahead_ += r->digit;
    } else if (auto* g = std::get_if<gather>(&v)) {
      co_await run_gather(*g, outcome, note);
    } else if (auto* rec = std::get_if<record>(&v)) {
      auto r = co_await media_.record(*rec);
      if (!r) {
        note(r.error());
        outcome = json{{"file", rec->file}, {"duration_ms", 0}, {"reason", "failed"}};
      } else {
        outcome = json{{"file", r->file}, {"duration_ms", r->duration_ms}, {"reason", r->reason}};
      }
    } else if (auto* st = std::get_if<set>(&v)) {
      for (const auto& [name, value] : st->variables) {
        auto r = co_await media_.set_variable(name, value);
        if (!r) note(r.error());
      }
    } else if (auto* gt = std::get_if<get>(&v)) {
      json vars = json::object();
      for (const auto& name : gt->variables) {
        auto r = co_await media_.get_variable(name);
        if (!r) {
          note(r.error());
          vars[name] = nullptr;
        } else {
          vars[name] = *r;
        }
      }
      outcome = json{{"variables", std::move(vars)}};
    } else if (auto* d = std::get_if<dial>(&v)) {
      auto r = co_await media_.dial(*d);
      if (!r) {
        note(r.error());
        outcome = json{{"status", "FAILED"}, {"duration_ms", 0}};
      } else {
        outcome = json{{"status", r->status}, {"duration_ms", r->duration_ms}};
      }
    } else if (auto* pz = std::get_if<pause>(&v)) {
      auto r = co_await media_.pause(pz->duration);
      if (!r) note(r.error());
    } else if (auto* c = std::get_if<continue_>(&v)) {
      auto r = co_await media_.continue_in_dialplan(*c);
      if (!r) note(r.error());
      if (!in_fallback_) end_.outcome = "continued";
      ends_call = true;
    } else if (auto* h = std::get_if<hangup>(&v)) {
      auto r = co_await media_.hangup(h->cause);
      if (!r) note(r.error());
      if (!in_fallback_) end_.outcome = "completed";
      if (!h->cause.empty()) end_.hangup_cause = h->cause;
      ends_call = true;
    } else if (auto* rd = std::get_if<redirect>(&v)) {
      next_url = rd->url;
    }
  }

  template <class Note>
  task<void> run_gather(const gather& g, json& outcome, Note& note) {
    std::string digits = std::move(type_ahead_);
    type_ahead_.clear();
    bool finished = false;  // ended by finish_on
    auto take = [&](const std::string& typed) {
      for (char c : typed) {
        if (finished || digits.size() >= g.max_digits) break;
        if (g.finish_on.find(c) != std::string::npos) finished = true;
        else digits.push_back(c);
      }
    };
    // Typed-ahead digits count as the first input (a finish digit among them ends it).
    std::string early = std::move(digits);
    digits.clear();
    take(early);
    if (!finished && digits.empty() && !g.play.empty()) {
      auto prompting = media_.play(g.play, std::string(any_dtmf));
      auto r = co_await prompting;
      if (!r) note(r.error());
      else take(r->digit);
    }
    bool timed_out = false;
    while (!finished && digits.size() < g.max_digits) {
      auto d = co_await media_.wait_digit(digits.empty() ? g.timeout : g.inter_digit_timeout);
      if (!d) {
        note(d.error());
        break;
      }
      if (d->empty()) {
        timed_out = true;
        break;
      }
      take(*d);
    }
    outcome = json{{"digits", digits}, {"timed_out", timed_out}};
  }

  std::shared_ptr<const endpoint> ep_;
  call_media& media_;
  std::string call_id_;
  call_end_sender& end_;
  std::string type_ahead_;  // digits that interrupted a play / say, for the next gather
  bool in_fallback_ = false;
};

}  // namespace

task<void> run(std::shared_ptr<const endpoint> where, call_media& media, std::string call_id) {
  call_end_sender end(where, call_id);
  end.call = json::object();
  media.describe(end.call);
  end.call["id"] = call_id;
  loop l(where, media, call_id, end);
  try {
    co_await l.run();
  } catch (const call_ended&) {
    end.outcome = "hangup";
    throw;
  }
}

}  // namespace astra::webhook
