// call_media over FastAGI: each verb is one or a few AGI commands.
#include "actors/webhook/agi_media.hpp"

#include <nlohmann/json.hpp>

#include "actors/agi/router.hpp"

namespace astra::webhook {

namespace {

using json = nlohmann::json;

std::string digit_text(const std::optional<char>& d) { return d ? std::string(1, *d) : std::string(); }

// 8 kHz samples (RECORD FILE's endpos) -> milliseconds.
std::int64_t samples_to_ms(long samples) { return samples > 0 ? samples / 8 : 0; }

std::string seconds_text(millis d) {
  const auto ms = d.count();
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms % 1000));
    s += frac;
  }
  return s;
}

class agi_media final : public call_media {
 public:
  agi_media(agi::call& c, std::shared_ptr<http_client> client) : call_(c), client_(std::move(client)) {}

  void describe(json& out) const override {
    const auto& env = call_.env();
    out["source"] = "agi";
    out["server"] = nullptr;
    out["route"] = std::string(call_.route_pattern());
    out["path"] = std::string(call_.path());
    json params = json::object();
    for (const auto& [k, v] : env.query()) params[std::string(k)] = std::string(v);
    for (const auto& [k, v] : call_.path_params()) params[std::string(k)] = std::string(v);
    out["params"] = std::move(params);
    json args = json::array();
    for (auto a : call_.args()) args.push_back(std::string(a));
    out["args"] = std::move(args);
    out["caller"] = {{"number", std::string(env.caller_id())}, {"name", std::string(env.caller_id_name())}};
    out["channel"] = std::string(env.channel());
    out["uniqueid"] = std::string(env.uniqueid());
    out["linkedid"] = nullptr;  // not in the agi_* block
    out["language"] = std::string(env.language());
    json agi = json::object();
    for (const auto& [k, v] : env.variables()) agi["agi_" + std::string(k)] = std::string(v);
    out["agi"] = std::move(agi);
  }

  task<result<void>> answer() override { co_return co_await call_.answer(); }

  task<result<play_outcome>> play(std::string file, std::string interrupt) override {
    auto r = co_await call_.stream_file(file, interrupt);
    if (!r) co_return r.error();
    co_return play_outcome{digit_text(r->digit)};
  }

  task<result<play_outcome>> say(webhook::say what) override {
    result<std::optional<char>> r = failure{};
    switch (what.what) {
      case say::kind::digits: r = co_await call_.say_digits(what.text, what.interrupt_digits); break;
      case say::kind::number: r = co_await call_.say_number(what.text, what.interrupt_digits); break;
      case say::kind::characters: r = co_await call_.say_alpha(what.text, what.interrupt_digits); break;
    }
    if (!r) co_return r.error();
    co_return play_outcome{digit_text(*r)};
  }

  task<result<std::string>> wait_digit(millis timeout) override {
    auto r = co_await call_.wait_for_digit(timeout);
    if (!r) co_return r.error();
    co_return digit_text(*r);
  }

  task<result<record_outcome>> record(webhook::record what) override {
    std::optional<std::chrono::seconds> silence;
    if (what.max_silence.count() > 0)
      silence = std::chrono::duration_cast<std::chrono::seconds>(what.max_silence + std::chrono::milliseconds(999));
    auto r = co_await call_.record_file(what.file, what.format, "#", what.max_duration, std::nullopt, what.beep, silence);
    if (!r) co_return r.error();
    record_outcome out{what.file, samples_to_ms(r->endpos), r->reason};
    // res_agi reports both the end of the time limit and of the silence as "(timeout)".
    if (r->reason == "timeout")
      out.reason = silence && out.duration_ms + 1'000 < what.max_duration.count() ? "silence" : "max_duration";
    else if (r->digit || r->reason == "dtmf")
      out.reason = "dtmf";
    else if (out.reason.empty())
      out.reason = "silence";
    co_return out;
  }

  task<result<void>> set_variable(std::string name, std::string value) override {
    co_return co_await call_.set_variable(name, value);
  }

  task<result<std::string>> get_variable(std::string name) override {
    const std::string expression = "${" + name + "}";
    auto r = co_await call_.get_full_variable(expression);
    if (!r) co_return r.error();
    co_return r->value_or("");
  }

  task<result<dial_outcome>> dial(webhook::dial what) override {
    if (!what.caller_id.empty()) {
      auto cid = co_await call_.set_variable("CALLERID(num)", what.caller_id);
      if (!cid) co_return cid.error();
    }
    const auto seconds = std::max<long long>(1, (what.timeout.count() + 999) / 1000);
    const std::string dial_args = what.endpoint + "," + std::to_string(seconds);
    auto r = co_await call_.exec("Dial", dial_args);
    if (!r) co_return r.error();
    dial_outcome out;
    auto status = co_await call_.get_variable("DIALSTATUS");
    if (status) out.status = status->value_or("");
    auto answered = co_await call_.get_variable("ANSWEREDTIME_MS");
    if (answered && *answered && !(*answered)->empty()) out.duration_ms = std::atoll((*answered)->c_str());
    co_return out;
  }

  task<result<void>> pause(millis duration) override {
    const std::string wait_args = seconds_text(duration);
    auto r = co_await call_.exec("Wait", wait_args);
    if (!r) co_return r.error();
    co_return result<void>{};
  }

  task<result<void>> continue_in_dialplan(webhook::continue_ where) override {
    if (!where.context.empty()) {
      auto r = co_await call_.set_context(where.context);
      if (!r) co_return r.error();
    }
    if (!where.extension.empty()) {
      auto r = co_await call_.set_extension(where.extension);
      if (!r) co_return r.error();
    }
    if (!where.priority.empty() || !where.context.empty() || !where.extension.empty()) {
      const std::string priority = where.priority.empty() ? "1" : where.priority;
      auto r = co_await call_.set_priority(priority);
      if (!r) co_return r.error();
    }
    co_return result<void>{};  // the handler ends: Asterisk leaves AGI() and runs the dialplan on
  }

  task<result<void>> hangup(std::string cause) override {
    if (cause.empty()) co_return co_await call_.hangup();
    auto r = co_await call_.exec("Hangup", cause);
    if (!r) co_return r.error();
    co_return result<void>{};
  }

  task<result<http_response>> post(http_request request) override {
    // g++ 12: no lambda with captures (nor any other temporary with a destructor) inside a
    // co_await expression; it may be destroyed twice. Build the awaitable first.
    auto client = client_;
    auto shared_request = std::make_shared<http_request>(std::move(request));
    std::function<void(std::function<void(result<http_response>)>)> start =
        [client, shared_request](std::function<void(result<http_response>)> done) {
          client->post(std::move(*shared_request), std::move(done));
        };
    auto reply = call_.external<result<http_response>>(std::move(start));
    co_return co_await reply;
  }

 private:
  agi::call& call_;
  std::shared_ptr<http_client> client_;
};

}  // namespace

task<void> run_agi(std::shared_ptr<const endpoint> where, agi::call& call) {
  agi_media media(call, where->client);
  std::string call_id = "agi-" + (call.env().uniqueid().empty() ? std::to_string(call.id()) : std::string(call.env().uniqueid()));
  auto loop = run(std::move(where), media, std::move(call_id));
  co_await loop;
}

}  // namespace astra::webhook
