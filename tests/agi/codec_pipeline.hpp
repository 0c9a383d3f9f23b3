#pragma once
// Test helper: the codec pipeline a FastAGI server runs on Asterisk's bytes
// (environment_parser, then reply_parser on the rest), fed piece by piece.
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocols/agi/environment.hpp"
#include "protocols/agi/reply.hpp"

namespace astra::agi::test {

struct pipeline_output {
  environment env;
  bool env_done = false;
  std::error_code env_error;
  std::vector<reply_event> events;
  std::error_code reply_error;
};

inline std::string describe(const reply_event& e) {
  std::string s = e.kind == reply_event::final_reply ? "F" : e.kind == reply_event::provisional ? "P" : "H";
  s += "|" + std::to_string(e.value.code) + "|" + e.value.result + "|" + (e.value.data ? "(" + *e.value.data + ")" : "-");
  for (const auto& [k, v] : e.value.extras) s += "|" + k + "=" + v;
  s += "|" + e.value.text + "|" + std::to_string(e.value.usage.size()) + "|" + e.value.raw;
  return s;
}

class pipeline {
 public:
  void feed(std::string_view bytes) {
    if (!env_.done() && !env_.error()) {
      bytes.remove_prefix(env_.feed(bytes));
      if (!env_.done()) return;
      if (!taken_) {
        out_.env = env_.take();
        out_.env_done = true;
        taken_ = true;
      }
    }
    if (env_.error()) return;
    while (!bytes.empty()) {
      std::size_t used = replies_.feed(bytes);
      bytes.remove_prefix(used);
      drain();
      if (used == 0 && replies_.error()) break;
    }
    drain();
  }
  pipeline_output finish() {
    drain();
    out_.env_error = env_.error();
    return std::move(out_);
  }

 private:
  void drain() {
    while (auto e = replies_.next()) {
      if (!*e) {
        out_.reply_error = e->code();
        continue;
      }
      out_.events.push_back(std::move(e->value()));
    }
  }
  environment_parser env_;
  reply_parser replies_;
  bool taken_ = false;
  pipeline_output out_;
};

inline pipeline_output run_pieces(const std::vector<std::string_view>& pieces) {
  pipeline p;
  for (auto piece : pieces) p.feed(piece);
  return p.finish();
}

}  // namespace astra::agi::test
