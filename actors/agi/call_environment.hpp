#pragma once
// The agi_* block of a running call, stored compactly (one text buffer plus an index: about
// half the memory of protocols/agi's environment, which matters at 10,000 concurrent calls).
// Same accessors as astra::agi::environment. Immutable; string_views stay valid while the call
// lives.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/environment.hpp"

namespace astra::agi {

class call_environment {
 public:
  call_environment() = default;
  explicit call_environment(const environment& env);

  // Value of "agi_<name>" given "agi_<name>" or "<name>"; the first one if repeated.
  std::optional<std::string_view> get(std::string_view key) const;
  // Every agi_* line in arrival order, keys without the "agi_" prefix ("channel").
  std::vector<std::pair<std::string_view, std::string_view>> variables() const;
  // agi_arg_1..N in order.
  std::vector<std::string_view> args() const;
  std::size_t arg_count() const noexcept { return arg_count_; }

  // Query parameters of agi_network_script, percent-decoded, repeated keys kept.
  std::optional<std::string_view> param(std::string_view key) const;
  std::vector<std::string_view> params(std::string_view key) const;
  std::vector<std::pair<std::string_view, std::string_view>> query() const;

  std::string_view script_path() const noexcept { return view(script_path_); }  // "/ivr/menu"
  std::string_view query_string() const noexcept { return view(query_string_); }
  std::string_view request() const noexcept { return view(request_); }           // agi_request
  std::string_view script() const noexcept { return view(script_); }             // agi_network_script

  std::string_view channel() const { return get("agi_channel").value_or(""); }
  std::string_view uniqueid() const { return get("agi_uniqueid").value_or(""); }
  std::string_view caller_id() const { return get("agi_callerid").value_or(""); }
  std::string_view caller_id_name() const { return get("agi_calleridname").value_or(""); }
  std::string_view language() const { return get("agi_language").value_or(""); }
  std::string_view type() const { return get("agi_type").value_or(""); }
  std::string_view context() const { return get("agi_context").value_or(""); }
  std::string_view extension() const { return get("agi_extension").value_or(""); }
  std::string_view priority() const { return get("agi_priority").value_or(""); }
  std::string_view dnid() const { return get("agi_dnid").value_or(""); }
  std::string_view rdnis() const { return get("agi_rdnis").value_or(""); }
  std::string_view account_code() const { return get("agi_accountcode").value_or(""); }
  std::string_view version() const { return get("agi_version").value_or(""); }
  std::string_view thread_id() const { return get("agi_threadid").value_or(""); }
  bool enhanced() const { return get("agi_enhanced").value_or("") == "1.0"; }

 private:
  struct span {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  enum class kind : std::uint8_t { variable, argument, parameter };
  // text_ holds the entries back to back (key then value); offsets are implicit (running sum),
  // so an entry costs 5 bytes. Variable keys are stored without their "agi_" prefix.
  struct entry {
    std::uint16_t key_length;    // lines are at most max_line_bytes (8192)
    std::uint16_t value_length;
    kind what;
  };
  // Calls fn(kind, key, value) for each entry in order until it returns true.
  template <class F>
  void scan(F&& fn) const;

  std::string_view view(span s) const noexcept { return std::string_view(text_).substr(s.offset, s.length); }
  span add(std::string_view s);

  std::string text_;
  std::vector<entry> entries_;
  span script_path_, query_string_, request_, script_;
  std::uint32_t arg_count_ = 0;
};

}  // namespace astra::agi
