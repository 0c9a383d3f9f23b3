#pragma once
// Replies Asterisk sends to FastAGI commands (LF-terminated lines):
//   "200 result=<r>[ (<data>)][ <key>=<value>...]"  final reply; data may hold spaces and ')'
//   "200 result=<r> <free text>"                    e.g. "200 result=0 Gosub complete"
//   "100 result=0 Trying..."                        provisional (GOSUB), a final reply follows
//   "510 Invalid or unknown command"
//   "511 Command Not Permitted on a dead channel or intercept routine"
//   "520 Invalid command syntax.  Proper usage not available."
//   "520-Invalid command syntax.  Proper usage follows:" <usage lines> "520 End of proper usage."
//   "HANGUP"                                        unsolicited: the channel hung up; may arrive
//                                                   between a command and its reply
// Sans-IO, incremental, bounded by protocols/agi/limits.hpp.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "protocols/agi/errors.hpp"
#include "protocols/agi/limits.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi {

struct reply {
  int code = 0;                        // 100, 200, 510, 511, 520, ...
  std::string result;                  // text after "result=" up to the next space ("" allowed)
  std::optional<std::string> data;     // inside "(...)", verbatim
  std::vector<std::pair<std::string, std::string>> extras;  // endpos=..., results=..., text0="..." (quotes removed)
  std::string text;                    // free text after the code/result when it is not (data)/key=value
                                       // ("Gosub complete", "Invalid or unknown command")
  std::vector<std::string> usage;      // 520 multi-line: the usage lines between the first and last line
  std::string raw;                     // the reply's bytes without the final LF (lines joined by '\n')

  // result as an integer when it is one ("-1", "0", "49"), else nullopt ("" or "abc").
  std::optional<long> result_int() const;
  // Value of the first extra named `key`.
  std::optional<std::string_view> extra(std::string_view key) const;
};

// Parses one complete reply line (no LF). Exposed for tests and for single-line use;
// "HANGUP" and the multi-line 520 form are handled by reply_parser only.
astra::result<reply> parse_reply_line(std::string_view line);

struct reply_event {
  enum kind_t { final_reply, provisional /* 1xx */, hangup_notice /* "HANGUP" */ } kind;
  reply value;  // for hangup_notice: code 0, raw "HANGUP"
};

// Incremental reply parser.
// Contract: feed() consumes bytes until one event is complete (then stops so that at most one
// event is pending) or the input ends; it returns the bytes consumed. next() hands out the
// pending event, or nullopt when more bytes are needed, or an error once: after an error the
// parser is finished (error() stays set, feed() discards its input, next() returns nullopt), so
// the call must end. Typical loop:
//   while (!in.empty()) { in.remove_prefix(p.feed(in)); while (auto e = p.next()) handle(*e); }
// A trailing CR before LF is tolerated and removed. Errors: line_too_long, reply_too_large,
// malformed_reply.
class reply_parser {
 public:
  std::size_t feed(std::string_view bytes);
  std::optional<astra::result<reply_event>> next();
  // True when bytes of an unfinished reply are buffered (e.g. for "peer closed mid-reply").
  bool mid_reply() const noexcept { return !partial_.empty() || usage_reply_ != nullptr; }
  std::error_code error() const noexcept { return error_; }

 private:
  void finish_line(std::string_view line);
  void fail(agi_errc code, std::string detail = {});

  std::string partial_;
  std::size_t usage_bytes_ = 0;
  std::unique_ptr<reply> usage_reply_;  // only while inside a multi-line 520 (keeps the parser small)
  std::optional<reply_event> pending_;
  std::error_code error_;
  std::string error_detail_;
  bool error_reported_ = false;
};

}  // namespace astra::agi
