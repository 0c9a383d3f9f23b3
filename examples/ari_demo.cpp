// ari_demo: a Stasis application on astra::service (the supervised runtime of `astra run`:
// reconnects with backoff, JSON logs, admin HTTP with /metrics, drain on SIGTERM).
//
//   build/bin/ari_demo [--url http://127.0.0.1:8088] [--user asterisk] [--password P]
//                      [--app astra-test] [--rest-over-websocket] [--insecure]
//
// For each channel entering the Stasis application (handled concurrently, one channel actor
// each): answer; set the channel variable ASTRA_ARI_DEMO=answered; create a mixing bridge;
// add the channel; play sound:beep on the bridge; when that playback finishes
// (PlaybackFinished), hang the channel up; when the channel leaves, destroy the bridge.
// A caller hanging up ends the handler at the step it was on (straight-line handlers).
// Runs until SIGINT/SIGTERM. Password: --password, else env ASTRA_ARI_PASSWORD, else "asterisk".
// The admin HTTP listens on 127.0.0.1 on a free port unless ASTRA_ADMIN_LISTEN says otherwise.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include <astra/service.hpp>

namespace ari = astra::ari;

void say(const std::string& channel_id, const std::string& what) {
  std::printf("call %s: %s\n", channel_id.c_str(), what.c_str());
  std::fflush(stdout);
}

// One call, inside its channel actor: every co_await resumes there.
astra::task<void> handle_call(ari::channel chan, ari::session& ari) {
  const std::string id = chan.id();
  say(id, "entered the application");
  co_await chan.answer();
  co_await chan.set_var("ASTRA_ARI_DEMO", "answered");
  ari::bridge bridge = (co_await ari.create_bridge("mixing")).value();
  chan.on_end([bridge, id](const astra::failure&) mutable {  // the channel left: destroy the bridge
    bridge.destroy().detach([id, bridge_id = bridge.id()](astra::result<void> r) {
      say(id, r ? "left; bridge " + bridge_id + " destroyed" : "left; destroying bridge " + bridge_id + " failed");
    });
  });
  if (!chan.active()) {  // left while the bridge was being created: on_end came too late
    bridge.destroy().detach();
    co_return;
  }
  co_await bridge.add(id);
  auto playback = (co_await bridge.play("sound:beep")).value();
  say(id, "answered, bridged into " + bridge.id() + ", playing " + playback.id);
  co_await chan.wait_playback(playback.id);
  co_await chan.hangup();
  say(id, "playback finished; hung up");
}

// YAML single-quoted scalar: any text, quotes doubled.
std::string yaml_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

int main(int argc, char** argv) {
  CLI::App app{"ARI demo: answer, bridge, beep, hang up"};
  std::string url = "http://127.0.0.1:8088", user = "asterisk", password, application = "astra-test";
  bool rest_over_websocket = false, insecure = false;
  app.add_option("--url", url, "ARI base URL")->capture_default_str();
  app.add_option("--user", user, "ARI user")->capture_default_str();
  app.add_option("--password", password, "ARI password (env ASTRA_ARI_PASSWORD; default asterisk)");
  app.add_option("--app", application, "Stasis application")->capture_default_str();
  app.add_flag("--rest-over-websocket", rest_over_websocket, "Send REST calls over the event WebSocket (Asterisk 22.4+)");
  app.add_flag("--insecure", insecure, "Do not verify the TLS certificate");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (password.empty()) {
    const char* env = std::getenv("ASTRA_ARI_PASSWORD");
    password = env && *env ? env : "asterisk";
  }

  astra::service svc{1, argv};  // the demo's own options only: no --config
  svc.default_config("agi: {enabled: false}\nadmin: {listen: '127.0.0.1:0'}\nservers:\n"
                     "  - name: ari_demo\n    ari:\n      url: " + yaml_quoted(url) + "\n      username: " + yaml_quoted(user) +
                     "\n      password: " + yaml_quoted(password) + "\n      app: " + yaml_quoted(application) +
                     "\n      handler: ari_demo\n      rest_over_websocket: " + (rest_over_websocket ? "true" : "false") +
                     "\n      verify_tls: " + (insecure ? "false" : "true") + "\n");
  svc.named_ari_handler("ari_demo", handle_call);
  svc.on_link([url, application](std::string_view, std::string_view, bool up) {
    std::printf("ari_demo: %s %s (app %s)\n", up ? "connected to" : "disconnected from", url.c_str(), application.c_str());
    std::fflush(stdout);
  });
  svc.on_draining([](const astra::service_draining& d) {
    std::printf("ari_demo: %s, stopping\n", d.signal.c_str());
    std::fflush(stdout);
  });
  return svc.run();
}
