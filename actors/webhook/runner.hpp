#pragma once
// The webhook verb loop of one call (docs/webhooks.md), independent of the transport: it
// POSTs call.start, runs the verbs the app answers through a call_media (FastAGI or ARI),
// POSTs verb.result to a verb's `action` and continues with the reply, follows `redirect`,
// runs the fallback verbs on any failure, and sends call.end once however the call ended.
//
// Thread affinity: run() is a coroutine inside the call's actor; every call_media method
// resumes there. The hooks may be called from that actor and (call.end) from Asio threads.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "actors/common/task.hpp"
#include "actors/webhook/http_client.hpp"
#include "protocols/webhook/verbs.hpp"

namespace astra::webhook {

// Outcomes of media verbs (what verb.result reports).
struct play_outcome {
  std::string digit;  // the interrupt digit pressed ("" when the playback ran to its end)
};
struct record_outcome {
  std::string file;
  std::int64_t duration_ms = 0;
  std::string reason;  // "silence", "max_duration", "dtmf", "hangup"
};
struct dial_outcome {
  std::string status;  // ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL
  std::int64_t duration_ms = 0;  // answered time
};

// What a call offers the verb loop. Errors are values; a hang-up ends the loop by throwing
// astra::call_ended from inside the call (straight-line handlers).
class call_media {
 public:
  virtual ~call_media() = default;
  // The `call` object of request bodies (id, source, server, route/app, params, args, caller,
  // channel, uniqueid, linkedid, language and the transport's own block).
  virtual void describe(nlohmann::json& call) const = 0;
  virtual task<result<void>> answer() = 0;
  virtual task<result<play_outcome>> play(std::string file, std::string interrupt_digits) = 0;
  virtual task<result<play_outcome>> say(webhook::say what) = 0;
  // The next DTMF digit within `timeout` ("" when none came).
  virtual task<result<std::string>> wait_digit(millis timeout) = 0;
  virtual task<result<record_outcome>> record(webhook::record what) = 0;
  virtual task<result<void>> set_variable(std::string name, std::string value) = 0;
  virtual task<result<std::string>> get_variable(std::string name) = 0;
  virtual task<result<dial_outcome>> dial(webhook::dial what) = 0;
  virtual task<result<void>> pause(millis duration) = 0;
  // Hands the call back to the dialplan (FastAGI: sets the continuation and ends the AGI
  // session without hanging up; ARI: continue).
  virtual task<result<void>> continue_in_dialplan(webhook::continue_ where) = 0;
  virtual task<result<void>> hangup(std::string cause) = 0;
  // POSTs a request; resumes inside the call's actor with the reply.
  virtual task<result<http_response>> post(http_request request) = 0;
};

// Configuration of one route / app (docs/configuration.md, agi.routes[].webhook).
struct settings {
  std::string url;     // call.start goes here
  std::string secret;  // HMAC key ("" = unsigned)
  std::chrono::milliseconds timeout{5'000};  // per webhook request
  std::vector<verb> fallback;  // run on any failure; empty = hang up
};

// Observers for metrics and logs; every member optional, thread-safe.
struct hooks {
  // Every request: event ("call.start", "verb.result", "redirect", "call.end"), HTTP status
  // (0: no reply), seconds taken.
  std::function<void(std::string_view event, int status, double seconds)> request;
  // Every failure that ran the fallback (or, for call.end, was only counted): reason label.
  std::function<void(std::string_view reason)> failure;
  // Every verb run: outcome "ok", "failed", "hangup".
  std::function<void(std::string_view verb, std::string_view outcome)> verb;
};

// The shared part of a route's webhook: its settings, HTTP client and hooks. Immutable.
struct endpoint {
  settings config;
  std::shared_ptr<http_client> client;
  hooks observe;
  // How call.end is sent (fire and forget, from the call's end; any thread). Unset: client->post.
  std::function<void(http_request, http_callback)> send_detached;
};

// Runs the whole call. `call_id` names the call in logs and bodies. Returns when the call
// ended (the list ran out: hung up; continue; hangup; a hang-up by the caller); call.end is
// sent by then or, if the actor's frames are destroyed first (the call was cut), at their
// destruction.
task<void> run(std::shared_ptr<const endpoint> where, call_media& media, std::string call_id);

}  // namespace astra::webhook
