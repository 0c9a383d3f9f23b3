#pragma once
// Runs `astra ami ...` in-process (astra::cli::ami_main) and captures its exit code, stdout and
// stderr. For tests that link service/cli/ami_cli.cpp.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace astra::cli {
int ami_main(int argc, char** argv, std::FILE* out, std::FILE* err);
}

namespace astra::test {

struct cli_result {
  int code;
  std::string out;
  std::string err;
};

// Reads a tmpfile written by the CLI from its start, then closes it.
inline std::string slurp(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

// `args` follow "astra ami" (e.g. {"send", "--host", ..., "Ping"}).
inline cli_result run_ami_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "astra ami");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out);
  REQUIRE(err);
  int code = astra::cli::ami_main(static_cast<int>(argv.size() - 1), argv.data(), out, err);
  return {code, slurp(out), slurp(err)};
}

}  // namespace astra::test
