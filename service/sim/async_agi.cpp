// AsyncAGI calls of astra-sim's AMI server (--async-agi-cps): like a dialplan
// `AGI(agi:async,ROUTE,first arg,second)`, each call is announced to every event-enabled AMI
// session with AsyncAGIStart (the URL-encoded agi_* block in Env, as recorded from Asterisk 22.11
// in fixtures/ami/async-agi.jsonl); each Action: AGI is acknowledged at once ("Added AGI command
// to queue") and answered later with an AsyncAGIExec (URL-encoded Result, the action's
// CommandID as CommandId); ASYNCAGI BREAK and HANGUP end the call with AsyncAGIEnd, an unknown
// channel gets "Response: Error ... does not exist." (all as recorded). A call that gets no
// command for --agi-idle-timeout-ms ends as if the caller hung up (counted as timed out).
// Thread affinity: the io_context thread only.
#include "service/sim/sim.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace astra::sim {
namespace {

std::string url_encode(std::string_view text) {  // ast_uri_encode with ast_uri_http
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::vector<std::string> words(std::string_view line) {  // res_agi parse_args (quotes group)
  std::vector<std::string> out;
  std::string cur;
  bool in_arg = false, quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      in_arg = true;
    } else if (c == ' ' && !quoted) {
      if (in_arg) out.push_back(cur);
      cur.clear();
      in_arg = false;
    } else {
      cur += c;
      in_arg = true;
    }
  }
  if (in_arg) out.push_back(cur);
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct async_call {
  std::string channel, uniqueid;
  std::map<std::string, std::string> vars;
  clock::time_point busy_until{};     // commands run one after the other, like Asterisk's queue
  clock::time_point last_command{};   // for the idle timeout
  bool ended = false;
};

class generator {
 public:
  generator(context& ctx, std::function<void(const std::string&)> emit, std::function<bool()> listening)
      : ctx_(ctx), emit_(std::move(emit)), listening_(std::move(listening)), tick_(ctx.io), sweep_(ctx.io) {}

  void start() {
    ctx_.stop_handlers.push_back([this] {
      tick_.cancel();
      sweep_.cancel();
    });
    schedule_next();
    schedule_sweep();
  }

  std::string action(const std::string& channel, const std::string& command, const std::string& command_id,
                     const std::string* action_id) {
    const std::string idline = action_id ? "ActionID: " + *action_id + "\r\n" : "";
    auto it = calls_.find(channel);
    if (it == calls_.end() || it->second.ended)
      return "Response: Error\r\n" + idline + "Message: Channel " + channel + " does not exist.\r\n\r\n";
    ++ctx_.stats.async_commands;
    auto& call = it->second;
    const auto now = clock::now();
    call.last_command = now;
    auto [result, delay, ends] = answer(call, words(command));
    const auto at = std::max(now, call.busy_until) + delay;
    call.busy_until = at;
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, at);
    timer->async_wait([this, timer, channel, command_id, result = std::move(result), ends = ends](auto ec) {
      if (ec || ctx_.stopping) return;
      auto c = calls_.find(channel);
      if (c == calls_.end() || c->second.ended) return;
      emit_(event(c->second, "AsyncAGIExec", "Result: " + url_encode(result) + "\r\nCommandId: " + command_id + "\r\n"));
      if (ends) end(c->second, false);
    });
    return "Response: Success\r\n" + idline + "Message: Added AGI command to queue\r\n\r\n";
  }

 private:
  struct outcome {
    std::string result;       // the reply text, LF included
    clock::duration delay;    // how long Asterisk takes to run the command
    bool ends;                // the channel leaves AGI after it
  };

  clock::duration scaled(double ms) const {
    return std::chrono::microseconds(static_cast<long long>(ms * 1000 * ctx_.opt.media_scale));
  }

  outcome answer(async_call& call, const std::vector<std::string>& w) {
    auto word = [&](std::size_t i) { return i < w.size() ? lower(w[i]) : std::string(); };
    const std::string first = word(0), second = word(1);
    if (first == "answer") return {"200 result=0\n", {}, false};
    if (first == "asyncagi" && second == "break") return {"200 result=0\n", {}, true};
    if (first == "hangup") return {"200 result=1\n", {}, true};
    if (first == "noop" || first == "verbose") return {"200 result=0\n", {}, false};
    if (first == "set" && second == "variable" && w.size() >= 4) {
      call.vars[w[2]] = w[3];
      return {"200 result=1\n", {}, false};
    }
    if (first == "get" && (second == "variable" || second == "full") && w.size() >= 3) {
      const std::string& name = w.back();
      auto v = call.vars.find(name);
      if (v != call.vars.end()) return {"200 result=1 (" + v->second + ")\n", {}, false};
      if (name == "CALLERID(num)") return {"200 result=1 ()\n", {}, false};  // as recorded (no caller id)
      return {"200 result=0\n", {}, false};
    }
    if (first == "stream" || first == "control") return {"200 result=0 endpos=3520\n", scaled(440), false};
    if (first == "say") return {"200 result=0\n", scaled(300), false};
    if (first == "wait" && second == "for" && w.size() >= 4) {
      if (!ctx_.opt.dtmf.empty()) return {"200 result=" + std::to_string(int(ctx_.opt.dtmf[0])) + "\n", scaled(200), false};
      long ms = std::strtol(w[3].c_str(), nullptr, 10);
      return {"200 result=0\n", scaled(ms < 0 ? 1000.0 : double(ms)), false};
    }
    if (first == "get" && second == "data") {
      long ms = w.size() >= 4 ? std::strtol(w[3].c_str(), nullptr, 10) : 2000;
      if (!ctx_.opt.dtmf.empty()) return {"200 result=" + ctx_.opt.dtmf + "\n", scaled(440), false};
      return {"200 result= (timeout)\n", scaled(440 + double(ms)), false};
    }
    if (first == "channel" && second == "status") return {"200 result=6\n", {}, false};
    if (first == "exec" || first == "database" || first == "set" || first == "send") return {"200 result=0\n", {}, false};
    return {"510 Invalid or unknown command\n", {}, false};
  }

  std::string event(const async_call& c, std::string_view name, const std::string& extra) const {
    return "Event: " + std::string(name) + "\r\nPrivilege: agi,all\r\nChannel: " + c.channel +
           "\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n"
           "ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n"
           "Context: default\r\nExten: async\r\nPriority: 2\r\nUniqueid: " +
           c.uniqueid + "\r\nLinkedid: " + c.uniqueid + "\r\n" + extra + "\r\n";
  }

  void end(async_call& c, bool timed_out) {
    if (c.ended) return;
    c.ended = true;
    emit_(event(c, "AsyncAGIEnd", ""));
    ++ctx_.stats.async_calls_ended;
    if (timed_out) ++ctx_.stats.async_calls_timed_out;
    --ctx_.stats.async_calls_active;
    // Kept a little while so that late actions get the recorded "does not exist" answer.
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, std::chrono::seconds(5));
    timer->async_wait([this, timer, name = c.channel](auto) { calls_.erase(name); });
  }

  void start_call() {
    const auto& o = ctx_.opt;
    if (o.calls && ctx_.stats.async_calls_started >= o.calls) return;
    if (ctx_.stats.async_calls_active >= o.concurrency) return;
    if (!listening_()) return;  // nobody would see the AsyncAGIStart
    char name[64];
    std::snprintf(name, sizeof name, "Local/async@default-%08llx;2", static_cast<unsigned long long>(++seq_));
    async_call c;
    c.channel = name;
    c.uniqueid = std::to_string(static_cast<long long>(epoch_seconds())) + "." + std::to_string(seq_);
    c.last_command = clock::now();
    std::string env = "agi_request: async\nagi_channel: " + c.channel +
                      "\nagi_language: en\nagi_type: Local\nagi_uniqueid: " + c.uniqueid +
                      "\nagi_version: 22.11.0-rc1\nagi_callerid: unknown\nagi_calleridname: unknown\n"
                      "agi_callingpres: 67\nagi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\n"
                      "agi_dnid: unknown\nagi_rdnis: unknown\nagi_context: default\nagi_extension: async\n"
                      "agi_priority: 2\nagi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 139919288891072\n"
                      "agi_arg_1: " + o.async_agi_route + "\n";
    for (std::size_t i = 0; i < o.agi_args.size(); ++i)
      env += "agi_arg_" + std::to_string(i + 2) + ": " + o.agi_args[i] + "\n";
    env += "\n";
    ++ctx_.stats.async_calls_started;
    ++ctx_.stats.async_calls_active;
    auto& stored = calls_[c.channel] = std::move(c);
    emit_(event(stored, "AsyncAGIStart", "Env: " + url_encode(env) + "\r\n"));
  }

  void schedule_next() {
    tick_.expires_after(std::chrono::microseconds(static_cast<long long>(1e6 / ctx_.opt.async_agi_cps)));
    tick_.async_wait([this](auto ec) {
      if (ec || ctx_.stopping) return;
      start_call();
      schedule_next();
    });
  }

  void schedule_sweep() {  // the idle timeout
    sweep_.expires_after(std::chrono::milliseconds(200));
    sweep_.async_wait([this](auto ec) {
      if (ec || ctx_.stopping) return;
      const auto now = clock::now();
      for (auto& [name, c] : calls_)
        if (!c.ended && now >= std::max(c.busy_until, c.last_command) + ctx_.opt.agi_idle_timeout) end(c, true);
      schedule_sweep();
    });
  }

  context& ctx_;
  std::function<void(const std::string&)> emit_;
  std::function<bool()> listening_;
  asio::steady_timer tick_, sweep_;
  std::map<std::string, async_call> calls_;
  std::uint64_t seq_ = 0;
};

std::unique_ptr<generator> g_async;

}  // namespace

void start_async_agi(context& ctx, std::function<void(const std::string& event)> emit,
                     std::function<bool()> listening) {
  g_async = std::make_unique<generator>(ctx, std::move(emit), std::move(listening));
  g_async->start();
}

std::string async_agi_action(const std::string& channel, const std::string& command, const std::string& command_id,
                             const std::string* action_id) {
  if (!g_async) {
    const std::string idline = action_id ? "ActionID: " + *action_id + "\r\n" : "";
    return "Response: Error\r\n" + idline + "Message: Channel " + channel + " does not exist.\r\n\r\n";
  }
  return g_async->action(channel, command, command_id, action_id);
}

void destroy_async_agi() { g_async.reset(); }

}  // namespace astra::sim
