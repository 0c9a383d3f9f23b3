// A fake AMI server that floods every logged-in client with the recorded event-burst
// events (tests/data/asterisk/fixtures/ami/event-burst.jsonl) — for `astra ami watch`
// benchmarks. Accepts admin/amp111 (plain or MD5). Prints "port N" and runs until
// stdin closes (or SIGTERM).
//   bench_ami_flood_server [--port-file PATH] [--repeat N]   (default repeat 100000)
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "tests/ami/fake_ami_server.hpp"

int main(int argc, char** argv) {
  std::size_t repeat = 100000;
  const char* port_file = nullptr;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::stoul(argv[i + 1]);
    if (std::strcmp(argv[i], "--port-file") == 0) port_file = argv[i + 1];
  }
  astra::test::fake_ami_options opts;
  opts.burst = astra::test::event_burst_bytes();
  opts.burst_repeat = repeat;
  astra::test::fake_ami_server server(opts);
  std::printf("port %u\nevents_per_burst %zu\n", server.port(), astra::test::count_events(opts.burst));
  std::fflush(stdout);
  if (port_file) {
    if (std::FILE* f = std::fopen(port_file, "w")) {
      std::fprintf(f, "%u\n", server.port());
      std::fclose(f);
    }
  }
  char buf[256];
  while (::read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
