// seed_ami_client: TSAMI's built-in actions example on astra's AMI client.
//   build/bin/seed_ami_client [--host H] [--port P] [--user U] [--secret S | env ASTRA_AMI_SECRET]
// Logs in, runs CoreShowChannels, prints "Active channels: N" and one line per channel, logs
// off; exit 0, or 2 with a one-line reason when the connection or the login fails.
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ami/client.hpp"
#include "actors/common/io_runtime.hpp"

using namespace std::chrono_literals;
namespace ami = astra::ami;

int main(int argc, char** argv) {
  ami::session_config config;
  config.username = "admin";
  config.events = "off";
  config.reconnect = false;
  if (const char* secret = std::getenv("ASTRA_AMI_SECRET")) config.secret = secret;
  CLI::App app{"astra AMI client example: list the active channels"};
  app.add_option("--host", config.host, "AMI host");
  app.add_option("--port", config.port, "AMI port");
  app.add_option("--user", config.username, "AMI user");
  app.add_option("--secret", config.secret, "AMI secret (default $ASTRA_AMI_SECRET)");
  CLI11_PARSE(app, argc, argv);

  astra::io_runtime io{1};
  caf::actor_system_config caf_config;
  caf::actor_system system{caf_config};
  ami::client client(system, io, config);
  if (auto up = client.wait_until_up(10s); !up) {
    std::fprintf(stderr, "seed_ami_client: %s\n", up.error().message().c_str());
    return 2;
  }
  auto channels = client.send(ami::actions::core_show_channels()).get();
  if (!channels.ok()) {
    std::fprintf(stderr, "seed_ami_client: CoreShowChannels: %s\n", channels.error.message().c_str());
    return 2;
  }
  std::size_t count = 0;
  for (const auto& e : channels.events) count += e->name() == "CoreShowChannel";
  std::printf("Active channels: %zu\n", count);
  for (const auto& e : channels.events)
    if (e->name() == "CoreShowChannel")
      std::printf("Channel: %.*s - State: %.*s\n", static_cast<int>(e->get("Channel").value_or("").size()),
                  e->get("Channel").value_or("").data(), static_cast<int>(e->get("ChannelStateDesc").value_or("").size()),
                  e->get("ChannelStateDesc").value_or("").data());
  (void)client.send(ami::actions::logoff(), 2s).get();
  return 0;
}
