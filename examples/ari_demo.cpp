// ari_demo: the ARI client as a user writes it.
//
//   build/bin/ari_demo [--url http://127.0.0.1:8088] [--user asterisk] [--password P]
//                      [--app astra-test] [--rest-over-websocket] [--insecure]
//
// For each channel entering the Stasis application (handled concurrently, one channel actor
// each): answer; set the channel variable ASTRA_ARI_DEMO=answered; create a mixing bridge;
// add the channel; play sound:beep on the bridge; when that playback finishes
// (PlaybackFinished), hang the channel up; when the channel leaves, destroy the bridge.
// Runs until SIGINT/SIGTERM. Password: --password, else env ASTRA_ARI_PASSWORD, else "asterisk".
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ari/client.hpp"
#include "actors/common/io_runtime.hpp"

namespace ari = astra::ari;

namespace {

void say(const std::string& channel_id, const std::string& what) {
  std::printf("call %s: %s\n", channel_id.c_str(), what.c_str());
  std::fflush(stdout);
}

template <class R>
bool ok_or_say(const std::string& channel_id, const char* step, const R& r) {
  if (r.ok()) return true;
  say(channel_id, std::string(step) + " failed: " + r.error().message());
  return false;
}

// One call, inside its channel actor: every co_await resumes there.
astra::task<void> handle_call(ari::channel chan, ari::session& ari) {
  const std::string id = chan.id();
  say(id, "entered the application");
  if (!ok_or_say(id, "answer", co_await chan.answer())) co_return;
  if (!ok_or_say(id, "set ASTRA_ARI_DEMO", co_await chan.set_var("ASTRA_ARI_DEMO", "answered"))) co_return;
  auto created = co_await ari.create_bridge("mixing");
  if (!ok_or_say(id, "create bridge", created)) co_return;
  ari::bridge bridge = *created;
  // When the channel leaves, destroy the bridge (the actor waits for the reply, then stops).
  chan.on_end([bridge, id](const astra::failure&) mutable {
    bridge.destroy().detach([id, bridge_id = bridge.id()](astra::result<void> r) {
      if (r) say(id, "left; bridge " + bridge_id + " destroyed");
      else say(id, "left; destroying bridge " + bridge_id + " failed: " + r.error().message());
    });
  });
  if (!chan.active()) {  // left while the bridge was being created: on_end came too late
    bridge.destroy().detach();
    co_return;
  }
  if (!ok_or_say(id, "add to bridge", co_await bridge.add(id))) co_return;
  auto playback = co_await bridge.play("sound:beep");
  if (!ok_or_say(id, "play", playback)) co_return;
  say(id, "answered, bridged into " + bridge.id() + ", playing " + playback->id);
  if (!ok_or_say(id, "wait for PlaybackFinished", co_await chan.wait_playback(playback->id))) co_return;
  if (ok_or_say(id, "hangup", co_await chan.hangup())) say(id, "playback finished; hung up");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ARI demo: answer, bridge, beep, hang up"};
  ari::client_config cfg;
  std::string password;
  std::string application = "astra-test";
  bool insecure = false;
  app.add_option("--url", cfg.url, "ARI base URL")->capture_default_str();
  app.add_option("--user", cfg.user, "ARI user")->capture_default_str();
  app.add_option("--password", password, "ARI password (env ASTRA_ARI_PASSWORD; default asterisk)");
  app.add_option("--app", application, "Stasis application")->capture_default_str();
  app.add_flag("--rest-over-websocket", cfg.rest_over_websocket, "Send REST calls over the event WebSocket (Asterisk 22.4+)");
  app.add_flag("--insecure", insecure, "Do not verify the TLS certificate");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (password.empty()) {
    const char* env = std::getenv("ASTRA_ARI_PASSWORD");
    password = env && *env ? env : "asterisk";
  }
  cfg.password = password;
  cfg.apps = {application};
  cfg.verify_tls = !insecure;

  // SIGINT/SIGTERM are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Declared before the actor system: actors' states hold Asio objects, so the io_context
  // must outlive ~actor_system (which waits for every actor).
  astra::io_runtime io(2);
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
  ari::client_handlers handlers;
  handlers.on_stasis_start = handle_call;
  ari::client_hooks hooks;
  hooks.connected = [&](bool up) {
    std::printf("ari_demo: %s %s (app %s)\n", up ? "connected to" : "disconnected from", cfg.url.c_str(),
                application.c_str());
    std::fflush(stdout);
  };
  hooks.disconnected = [](const astra::failure& why, std::chrono::milliseconds retry) {
    std::fprintf(stderr, "ari_demo: event socket: %s (retry in %lld ms)\n", why.message().c_str(),
                 static_cast<long long>(retry.count()));
  };
  hooks.application_replaced = [](std::string_view app_name) {
    std::fprintf(stderr, "ari_demo: application %.*s was replaced by another client\n",
                 static_cast<int>(app_name.size()), app_name.data());
  };
  auto client = ari::client::start(system, io.context(), cfg, handlers, hooks);
  if (!client) {
    std::fprintf(stderr, "ari_demo: %s\n", client.error().message().c_str());
    return 2;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  auto stats = (*client)->stats();
  std::printf("ari_demo: signal %d, stopping (events %llu, live channel actors %zu, bridge actors %zu)\n", sig,
              static_cast<unsigned long long>(stats.events), stats.channel_actors, stats.bridge_actors);
  std::fflush(stdout);
  (*client)->stop();
  io.stop();
  return 0;
}
