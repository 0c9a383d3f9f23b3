// libFuzzer target: environment_parser (then reply_parser on the rest), differential between
// whole input and input split at an offset chosen by the data. Aborts on any divergence.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocols/agi/environment.hpp"
#include "protocols/agi/limits.hpp"

namespace {

struct outcome {
  bool done = false;
  std::error_code error;
  std::size_t consumed = 0;
  astra::agi::environment env;
};

outcome run(std::string_view a, std::string_view b) {
  astra::agi::environment_parser p;
  outcome o;
  for (auto piece : {a, b}) {
    std::size_t used = p.feed(piece);
    if (used > piece.size()) std::abort();
    o.consumed += used;
    if ((p.done() || p.error()) && p.feed(piece.substr(used)) != 0) std::abort();  // stops
    if (used < piece.size()) break;
  }
  o.done = p.done();
  o.error = p.error();
  if (p.consumed_bytes() != o.consumed || p.consumed_bytes() > astra::agi::max_environment_bytes) std::abort();
  if (o.done) o.env = p.take();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto whole = run(in, {});
  std::size_t split = size ? data[0] % (size + 1) : 0;
  auto parts = run(in.substr(0, split), in.substr(split));
  if (whole.done != parts.done || whole.error != parts.error || whole.consumed != parts.consumed) std::abort();
  if (whole.done) {
    if (whole.error) std::abort();
    if (whole.env.variables != parts.env.variables || whole.env.args != parts.env.args ||
        whole.env.query != parts.env.query || whole.env.script_path != parts.env.script_path)
      std::abort();
    if (whole.env.variables.empty() || whole.env.variables.size() > astra::agi::max_variables) std::abort();
    if (whole.env.script_path.empty() || whole.env.script_path.front() != '/') std::abort();
    (void)whole.env.channel();
    (void)whole.env.params("x");
  }
  return 0;
}
