// The AMI session from plain code: ami::client with a future (Ping) and a callback
// (CoreShowChannels); no actor code needed.
//   ami_plain_api [--host H] [--port P] [--user U] [--secret S] [--md5]
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ami/client.hpp"
#include "actors/common/io_runtime.hpp"

using namespace std::chrono_literals;
namespace ami = astra::ami;

static void print_reply(const char* what, const ami::reply& r) {
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
      std::fprintf(stderr, "usage: ami_plain_api [--host H] [--port P] [--user U] [--secret S] [--md5]\n");
      return 2;
    }
  }
  cfg.events = "off";
  cfg.reconnect = false;

  astra::io_runtime io{1};  // Asio threads (sockets); must outlive the actor system's actors
  caf::actor_system_config sys_cfg;
  caf::actor_system system{sys_cfg};
  ami::client client(system, io, cfg);

  if (auto up = client.wait_until_up(10s); !up) {
    std::printf("not logged in: %s\n", up.error().message().c_str());
    return 1;
  }
  std::printf("logged in to %s:%u\n", cfg.host.c_str(), cfg.port);

  // Future style.
  ami::reply pong = client.send(ami::actions::ping()).get();
  print_reply("Ping", pong);

  // Callback style (runs on a CAF worker thread).
  std::promise<bool> done;
  client.send(ami::actions::core_show_channels(), [&done](ami::reply r) {
    print_reply("CoreShowChannels", r);
    done.set_value(r.ok());
  });
  bool channels_ok = done.get_future().get();
  client.stop();
  return pong.ok() && channels_ok ? 0 : 1;
}
