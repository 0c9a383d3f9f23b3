// call_media over ARI: each verb is one or a few REST requests plus the channel's events.
//
// DTMF: every ChannelDtmfReceived of the channel is buffered (dtmf_) from the start of the
// call, so digits typed while astra waits for the app count for the next gather (type-ahead).
// A play with interrupt digits stops its playback at the first such digit and returns it.
//
// dial: the dialled leg is originated into the same application with a pre-assigned id and
// its own channel actor; a mixing bridge created by the call joins both legs. The legs'
// actors signal the call's actor through session::external (a completion callable from any
// thread), so the call's coroutine waits for "answered", then for "ended", each with a
// deadline; the caller hanging up hangs the dialled leg up.
#include "actors/webhook/ari_media.hpp"

#include <deque>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "generated/ari/events.hpp"

namespace astra::webhook {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr millis playback_limit{std::chrono::hours(1)};  // longest play/say/prompt waited for
constexpr millis dial_answer_grace{5'000};               // after the dial timeout, for Asterisk's own end of ringing

bool never_matches(const ari::event&) { return false; }  // wait_for as a sleep that a hang-up ends

// "hello,world" -> "sound:hello,sound:world" (URIs given with a scheme are kept).
std::string sound_media(const std::string& files) {
  std::string out, item;
  auto flush = [&] {
    if (item.empty()) return;
    if (!out.empty()) out += ',';
    out += item.find(':') == std::string::npos ? "sound:" + item : item;
    item.clear();
  };
  for (char c : files) {
    if (c == ',') flush();
    else item += c;
  }
  flush();
  return out;
}

// What the dialled leg's actor tells the call's actor (thread-safe).
struct dial_link {
  std::mutex mu;
  std::deque<std::string> news;                        // "answered", "ended", "timeout"
  std::function<void(result<ari::rest_response>)> waiting;  // the call's armed completion

  void signal(std::string what) {
    std::function<void(result<ari::rest_response>)> wake;
    {
      std::lock_guard lock(mu);
      if (waiting) wake = std::exchange(waiting, {});
      else news.push_back(what);
    }
    if (wake) {
      ari::rest_response r;
      r.status = 200;
      r.body = std::move(what);
      wake(std::move(r));
    }
  }
  void arm(std::function<void(result<ari::rest_response>)> done) {
    std::string ready;
    {
      std::lock_guard lock(mu);
      if (news.empty()) {
        waiting = std::move(done);
        return;
      }
      ready = std::move(news.front());
      news.pop_front();
    }
    ari::rest_response r;
    r.status = 200;
    r.body = std::move(ready);
    done(std::move(r));
  }
};

class ari_media final : public call_media {
 public:
  // The event callbacks stay registered in the channel's actor after this object is gone
  // (the actor tracks the channel until it leaves): they share `seen_`, never `this`.
  ari_media(ari::channel chan, ari::session& ari, std::shared_ptr<http_client> client)
      : chan_(std::move(chan)), ari_(ari), client_(std::move(client)), seen_(std::make_shared<seen>()),
        dtmf_(seen_->dtmf), finished_(seen_->finished) {
    chan_.on(ari::event_type::ChannelDtmfReceived, [seen = seen_](const ari::event& e) {
      if (auto* d = e.get<ari::ChannelDtmfReceived>(); d && !d->digit.empty() && seen->dtmf.size() < max_buffered_dtmf)
        seen->dtmf.push_back(d->digit[0]);
    });
    chan_.on(ari::event_type::PlaybackFinished, [seen = seen_](const ari::event& e) {
      seen->finished.insert(std::string(e.playback_id()));
      if (seen->finished.size() > 64) seen->finished.erase(seen->finished.begin());
    });
  }

  void describe(json& out) const override {
    const ari::StasisStart* start = chan_.start_event();
    out["source"] = "ari";
    out["server"] = nullptr;
    out["app"] = start ? start->application : ari_.app();
    out["params"] = json::object();
    out["args"] = start ? json(start->args) : json::array();
    if (start) {
      const auto& c = start->channel;
      out["caller"] = {{"number", c.caller.number}, {"name", c.caller.name}};
      out["channel"] = c.name;
      out["uniqueid"] = c.id;
      out["language"] = c.language;
      out["channel_snapshot"] = json::parse(ari::encode<ari::Channel>(c), nullptr, false);
    } else {
      out["caller"] = {{"number", ""}, {"name", ""}};
      out["channel"] = nullptr;
      out["uniqueid"] = chan_.id();
      out["language"] = nullptr;
    }
    out["linkedid"] = nullptr;
  }

  task<result<void>> answer() override { co_return co_await chan_.answer(); }

  task<result<play_outcome>> play(std::string file, std::string interrupt) override {
    std::string media = sound_media(file);
    auto played = play_media(std::move(media), std::move(interrupt));
    co_return co_await played;
  }

  task<result<play_outcome>> say(webhook::say what) override {
    const char* scheme = what.what == say::kind::digits ? "digits:" : what.what == say::kind::number ? "number:" : "characters:";
    std::string media = scheme + what.text;
    auto played = play_media(std::move(media), what.interrupt_digits);
    co_return co_await played;
  }

  task<result<std::string>> wait_digit(millis timeout) override {
    if (dtmf_.empty()) {
      auto ev = co_await chan_.wait(ari::event_type::ChannelDtmfReceived, timeout);
      if (!ev) {
        if (ev.code() == make_error_code(ari::ari_errc::timeout)) co_return std::string();
        co_return ev.error();
      }
    }
    if (dtmf_.empty()) co_return std::string();
    std::string d(1, dtmf_.front());
    dtmf_.pop_front();
    co_return d;
  }

  task<result<record_outcome>> record(webhook::record what) override {
    ari::channels::record options;
    options.maxDurationSeconds = std::max<long long>(1, what.max_duration.count() / 1000);
    if (what.max_silence.count() > 0) options.maxSilenceSeconds = std::max<long long>(1, what.max_silence.count() / 1000);
    options.beep = what.beep;
    options.terminateOn = "#";
    options.ifExists = "overwrite";
    const std::size_t typed_before = dtmf_.size();
    auto started = co_await chan_.record(what.file, what.format, options);
    if (!started) co_return started.error();
    const std::string name = what.file;
    std::function<bool(const ari::event&)> recording_ended = [name](const ari::event& e) {
      if (auto* f = e.get<ari::RecordingFinished>()) return f->recording.name == name;
      if (auto* f = e.get<ari::RecordingFailed>()) return f->recording.name == name;
      return false;
    };
    auto ended = chan_.wait_for(std::move(recording_ended), what.max_duration + millis(30'000));
    auto done = co_await ended;
    if (!done) co_return done.error();
    record_outcome out;
    out.file = what.file;
    if (auto* f = (*done)->get<ari::RecordingFailed>())
      co_return failure{make_error_code(ari::ari_errc::bad_response), "recording failed: " + f->recording.cause.value_or("")};
    const auto* fin = (*done)->get<ari::RecordingFinished>();
    out.duration_ms = fin && fin->recording.duration ? *fin->recording.duration * 1000 : 0;
    bool by_dtmf = false;
    for (std::size_t i = typed_before; i < dtmf_.size(); ++i) by_dtmf = by_dtmf || dtmf_[i] == '#';
    if (by_dtmf) {
      while (dtmf_.size() > typed_before) dtmf_.pop_back();  // the terminating '#' is not input
      out.reason = "dtmf";
    } else if (out.duration_ms + 1'000 >= what.max_duration.count()) {
      out.reason = "max_duration";
    } else {
      out.reason = "silence";
    }
    co_return out;
  }

  task<result<void>> set_variable(std::string name, std::string value) override {
    co_return co_await chan_.set_var(name, value);
  }

  task<result<std::string>> get_variable(std::string name) override { co_return co_await chan_.get_var(name); }

  task<result<dial_outcome>> dial(webhook::dial what) override {
    auto creating = ari_.create_bridge("mixing");
    auto b = co_await creating;
    if (!b) co_return b.error();
    ari::bridge bridge = *b;
    auto added = co_await bridge.add(chan_.id());
    if (!added) {
      bridge.destroy().detach();
      co_return added.error();
    }
    (void)co_await chan_.ring();

    auto link = std::make_shared<dial_link>();
    const std::string bridge_id = bridge.id();
    ari::channels::originate params;
    params.endpoint = what.endpoint;
    params.app = start_app();
    params.appArgs = "astra-dial," + chan_.id();
    params.timeout = std::max<long long>(1, what.timeout.count() / 1000);
    if (!what.caller_id.empty()) params.callerId = what.caller_id;
    params.channelId = ari_.new_id("astra-dial");
    const std::string peer_id = *params.channelId;
    // The dialled leg's handler (its own actor): join the bridge, report the answer and the end.
    ari::stasis_handler leg = [link, bridge_id](ari::channel peer, ari::session& s) -> task<void> {
      peer.on_end([link](const failure&) { link->signal("ended"); });
      auto joined = co_await s.bridge_of(bridge_id).add(peer.id());
      link->signal(joined ? "answered" : "ended");
    };
    auto originating = ari_.originate(std::move(params), std::move(leg));
    auto originated = co_await originating;
    if (!originated) {
      (void)co_await chan_.ring_stop();
      bridge.destroy().detach();
      co_return originated.error();
    }
    // The caller leaving hangs the dialled leg up (and ends the bridge).
    chan_.on_end([&ari = ari_, peer_id, bridge](const failure&) mutable {
      ari::channels::hangup h;
      h.channelId = peer_id;
      ari.request(h).detach();
      bridge.destroy().detach();
    });
    // Deadline of the wait for an answer: a detached sleep in this actor signals "timeout".
    ari_.spawn(deadline(link, what.timeout + dial_answer_grace));

    dial_outcome out;
    const std::string first = co_await next_news(link);
    (void)co_await chan_.ring_stop();
    if (first != "answered") {
      out.status = first == "timeout" ? "NOANSWER" : "CHANUNAVAIL";
      if (first == "timeout") {
        ari::channels::hangup h;
        h.channelId = peer_id;
        ari_.request(h).detach();
      }
      bridge.destroy().detach();
      co_return out;
    }
    out.status = "ANSWER";
    const auto answered_at = steady::now();
    std::string second;
    do second = co_await next_news(link);  // the answer deadline may still fire: ignore it
    while (second == "timeout");
    out.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - answered_at).count();
    (void)co_await bridge.remove(chan_.id());
    bridge.destroy().detach();
    co_return out;
  }

  task<result<void>> pause(millis duration) override {
    auto sleeping = chan_.wait_for(never_matches, duration);
    auto r = co_await sleeping;
    if (!r && r.code() != make_error_code(ari::ari_errc::timeout)) co_return r.error();
    co_return result<void>{};
  }

  task<result<void>> continue_in_dialplan(webhook::continue_ where) override {
    std::optional<std::int64_t> priority;
    if (!where.priority.empty() && where.priority.find_first_not_of("0123456789") == std::string::npos)
      priority = std::atoll(where.priority.c_str());
    co_return co_await chan_.continue_in_dialplan(where.context, where.extension, priority);
  }

  task<result<void>> hangup(std::string cause) override {
    if (cause.empty()) co_return co_await chan_.hangup();
    ari::channels::hangup h;
    h.channelId = chan_.id();
    h.reason_code = cause;
    co_return co_await ari_.request(h);
  }

  task<result<http_response>> post(http_request request) override {
    // g++ 12: no lambda with captures inside a co_await expression (see agi_media.cpp).
    auto client = client_;
    auto shared_request = std::make_shared<http_request>(std::move(request));
    std::function<void(ari::rest_callback)> start = [client, shared_request](ari::rest_callback done) {
      client->post(std::move(*shared_request), [done = std::move(done)](result<http_response> reply) {
        if (!reply) return done(reply.error());
        ari::rest_response out;
        out.status = reply->status;
        out.content_type = std::move(reply->content_type);
        out.body = std::move(reply->body);
        done(std::move(out));
      });
    };
    auto exchange = ari_.external(std::move(start));
    auto r = co_await exchange;
    if (!r) co_return r.error();
    co_return http_response{r->status, std::move(r->content_type), std::move(r->body)};
  }

 private:
  std::string start_app() const {
    const ari::StasisStart* start = chan_.start_event();
    return start ? start->application : ari_.app();
  }

  task<result<play_outcome>> play_media(std::string media, std::string interrupt) {
    const std::string id = ari_.new_id("astra-play");
    const std::size_t typed_before = dtmf_.size();
    auto started = co_await chan_.play(media, id);
    if (!started) co_return started.error();
    play_outcome out;
    for (;;) {
      if (finished_.count(id)) break;
      bool stopped = false;
      for (std::size_t i = typed_before; i < dtmf_.size(); ++i)
        if (interrupt.find(dtmf_[i]) != std::string::npos) {
          out.digit = std::string(1, dtmf_[i]);
          stopped = true;
          break;
        }
      if (stopped) {
        ari::playbacks::stop stop;
        stop.playbackId = id;
        ari_.request(stop).detach();  // PlaybackFinished follows; not waited for
        break;
      }
      std::function<bool(const ari::event&)> dtmf_or_end = [&id](const ari::event& e) {
        return e.type() == ari::event_type::ChannelDtmfReceived ||
               (e.type() == ari::event_type::PlaybackFinished && e.playback_id() == id);
      };
      auto next_event = chan_.wait_for(std::move(dtmf_or_end), playback_limit);
      auto ev = co_await next_event;
      if (!ev) co_return ev.error();
    }
    // Digits typed during the playback are dropped (as Asterisk does for STREAM FILE); the
    // interrupting one is returned.
    while (dtmf_.size() > typed_before) dtmf_.pop_back();
    co_return out;
  }

  task<std::string> next_news(std::shared_ptr<dial_link> link) {
    std::function<void(ari::rest_callback)> arm = [link](ari::rest_callback done) { link->arm(std::move(done)); };
    auto news = ari_.external(std::move(arm));
    auto r = co_await news;
    co_return r ? r->body : std::string("ended");
  }

  task<void> deadline(std::shared_ptr<dial_link> link, millis after) {
    try {
      auto sleeping = chan_.wait_for(never_matches, after);
      (void)co_await sleeping;
    } catch (...) {  // the channel ended: the leg's end (or the call's) settles the wait
    }
    link->signal("timeout");
  }

  // What the channel's events told (owned with the callbacks; the actor's thread only).
  struct seen {
    std::deque<char> dtmf;            // digits not consumed yet (type-ahead)
    std::set<std::string> finished;   // recent PlaybackFinished ids
  };
  static constexpr std::size_t max_buffered_dtmf = 64;  // older typing beyond it is dropped

  ari::channel chan_;
  ari::session& ari_;
  std::shared_ptr<http_client> client_;
  std::shared_ptr<seen> seen_;
  std::deque<char>& dtmf_;
  std::set<std::string>& finished_;
};

}  // namespace

task<void> run_ari(std::shared_ptr<const endpoint> where, ari::channel chan, ari::session& ari) {
  ari_media media(chan, ari, where->client);
  std::string call_id = "ari-" + chan.id();
  auto loop = run(std::move(where), media, std::move(call_id));
  co_await loop;
}

}  // namespace astra::webhook
