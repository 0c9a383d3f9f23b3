// libFuzzer target: reply_parser + every decoder on every reply, differential between whole
// input and input split at an offset chosen by the data; plus the command writer/tokenizer
// round trip on the input used as one argument. Aborts on any divergence.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/command.hpp"
#include "protocols/agi/reply.hpp"

namespace {

using namespace astra::agi;

std::string describe(const reply_event& e) {
  std::string s = std::to_string(static_cast<int>(e.kind)) + "|" + std::to_string(e.value.code) + "|" +
                  e.value.result + "|" + (e.value.data ? "(" + *e.value.data + ")" : "-");
  for (const auto& [k, v] : e.value.extras) s += "|" + k + "=" + v;
  s += "|" + e.value.text + "|" + std::to_string(e.value.usage.size()) + "|" + e.value.raw;
  return s;
}

void decode_everything(const reply& r) {
  (void)check_reply(r);
  (void)decode_result(r);
  (void)decode_status(r);
  (void)decode_flag(r);
  (void)decode_get_data(r);
  (void)decode_stream_file(r);
  (void)decode_digit(r);
  (void)decode_receive_char(r);
  (void)decode_receive_text(r);
  (void)decode_value(r);
  (void)decode_channel_status(r);
  (void)decode_exec(r);
  (void)decode_record_file(r);
  (void)decode_speech_recognize(r);
}

std::vector<std::string> run(std::string_view a, std::string_view b, std::error_code& error) {
  reply_parser p;
  std::vector<std::string> out;
  for (auto piece : {a, b}) {
    while (!piece.empty()) {
      std::size_t used = p.feed(piece);
      if (used > piece.size()) std::abort();
      piece.remove_prefix(used);
      bool any = false;
      while (auto e = p.next()) {
        any = true;
        if (!*e) {
          error = e->code();
          continue;
        }
        if (e->value().value.raw.size() > max_line_bytes + max_reply_bytes + 1) std::abort();
        decode_everything(e->value().value);
        out.push_back(describe(e->value()));
      }
      if (used == 0 && !any) std::abort();  // no progress
    }
  }
  if (p.next()) std::abort();  // an error is reported once
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::error_code whole_error, split_error;
  auto whole = run(in, {}, whole_error);
  std::size_t split = size ? data[0] % (size + 1) : 0;
  auto parts = run(in.substr(0, split), in.substr(split), split_error);
  if (whole != parts || whole_error != split_error) std::abort();

  auto line = format_command("SET VARIABLE", {std::string_view("X"), in});
  if (line.ok()) {
    auto tokens = tokenize_command(*line);
    if (tokens.size() != 4 || tokens[3].value != in) std::abort();
  } else if (in.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
             line.code() != agi_errc::line_too_long) {
    std::abort();
  }
  if (size < 200) {
    auto parsed = parse_command_line(in);
    (void)parsed;
  }
  return 0;
}
