// The AMI session from actor code: spawn the session actor, wait for its link_event::up,
// then request/then Ping and CoreShowChannels (ami::request -> ami::reply).
//   ami_actor_api [--host H] [--port P] [--user U] [--secret S] [--md5]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <caf/all.hpp>

#include "actors/ami/session.hpp"
#include "actors/common/io_runtime.hpp"

using namespace std::chrono_literals;
namespace ami = astra::ami;

namespace {

void print_reply(const char* what, const ami::reply& r) {
  if (!r.ok()) {
    std::printf("%s failed: %s\n", what, r.error.message().c_str());
    return;
  }
  std::printf("%s: Response: %s (ActionID %s)\n", what, std::string(r.response->name()).c_str(), r.action_id.c_str());
  for (std::size_t i = 0; i < r.response->size(); ++i)
    std::printf("  %s: %s\n", std::string(r.response->key(i)).c_str(), std::string(r.response->value(i)).c_str());
  for (const auto& e : r.events)
    std::printf("  event %s %s\n", std::string(e->name()).c_str(), std::string(e->get("Channel").value_or("")).c_str());
}

struct demo_state {
  int exit_code = 1;
  bool started = false;
};

// Subscribes to link changes; once logged in, runs the two requests in sequence.
caf::behavior demo(caf::stateful_actor<demo_state>* self, caf::actor session, int* exit_code) {
  self->send(session, ami::subscribe_request{ami::event_filter::links_only(), 16, "demo"});
  auto finish = [self, session, exit_code](int code) {
    *exit_code = code;
    self->send(session, ami::stop_request{});
    self->quit();
  };
  return {
    [self, session, finish](ami::link_event& ev) {
      if (ev.state == ami::link_event::kind::down) {
        std::printf("link down: %s\n", ev.reason.message().c_str());
        if (ev.final && !self->state.started) finish(1);
        return;
      }
      if (self->state.started) return;
      self->state.started = true;
      std::printf("logged in to %s\n", ev.session.c_str());
      self->request(session, 15s, ami::request{ami::actions::ping()})
          .then(
              [self, session, finish](ami::reply& pong) {
                print_reply("Ping", pong);
                self->request(session, 15s, ami::request{ami::actions::core_show_channels()})
                    .then(
                        [finish, ok = pong.ok()](ami::reply& channels) {
                          print_reply("CoreShowChannels", channels);
                          finish(ok && channels.ok() ? 0 : 1);
                        },
                        [finish](caf::error& e) {
                          std::printf("CoreShowChannels: %s\n", caf::to_string(e).c_str());
                          finish(1);
                        });
              },
              [finish](caf::error& e) {
                std::printf("Ping: %s\n", caf::to_string(e).c_str());
                finish(1);
              });
    },
    [](ami::event_batch&) {},
  };
}

}  // namespace

int main(int argc, char** argv) {
  ami::session_config cfg;
  cfg.name = "example";
  if (const char* s = std::getenv("ASTRA_AMI_SECRET")) cfg.secret = s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host") cfg.host = next();
    else if (a == "--port") cfg.port = static_cast<std::uint16_t>(std::stoi(next()));
    else if (a == "--user") cfg.username = next();
    else if (a == "--secret") cfg.secret = next();
    else if (a == "--md5") cfg.md5 = true;
    else {
      std::fprintf(stderr, "usage: ami_actor_api [--host H] [--port P] [--user U] [--secret S] [--md5]\n");
      return 2;
    }
  }
  cfg.events = "off";
  cfg.reconnect = false;  // a demo: one attempt, then report
  int exit_code = 1;
  {
    astra::io_runtime io{1};
    caf::actor_system_config sys_cfg;
    caf::actor_system system{sys_cfg};
    auto session = ami::spawn_session(system, io, cfg);
    system.spawn(demo, session, &exit_code);
    system.await_all_actors_done();
  }
  return exit_code;
}
