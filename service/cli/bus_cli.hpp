#pragma once
// The bus side of the `astra` CLI (issue 14): `astra bus watch` and the `--nats URL --server
// NAME` forms of `astra ami send` / `astra ari call`, which go through the replica holding the
// server (request/reply on <prefix>.<server>.ami.action / .ari.request) instead of connecting
// to Asterisk.
#include <cstdio>

namespace astra::cli {

// Registered as variants of `ami` and `ari` (registry.hpp) for argument lists with --nats.
// True when argv asks for the bus form (a --nats option is present).
bool wants_bus(int argc, char** argv);
// `astra ami send --nats URL --server NAME [--prefix P] [--timeout S] ACTION [Key=Value ...]`:
// prints the holder's reply (the JSON `astra ami send` prints); exit 0 ok, 1 Asterisk error,
// 2 usage / no replica holds the server (no responders) / timeout / astra error.
int bus_ami_send(int argc, char** argv, std::FILE* out, std::FILE* err);
// `astra ari call --nats URL --server NAME [--prefix P] [--timeout S] METHOD PATH [JSON]`:
// prints {"status": N, "body": ...}; exit 0 (2xx), 1 (other status), 2 (as above).
int bus_ari_call(int argc, char** argv, std::FILE* out, std::FILE* err);

}  // namespace astra::cli
