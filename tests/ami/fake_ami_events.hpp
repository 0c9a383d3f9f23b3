#pragma once
// Asterisk's per-session event rules for the fake AMI server (tests/benchmarks only),
// ported from main/manager.c (Asterisk 22): the Events: mask (strings_to_mask, checked as
// (mask & class) == class) and the Filter rules (should_send_event / filter_cmp_fn /
// manager_add_filter), with POSIX regcomp(REG_EXTENDED | REG_NOSUB) like Asterisk.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace astra::test::ami_rules {

// One event of a stream: its name, class bits (from Privilege:, "all" left out; 0 when the
// message has none, which then passes any mask but off) and text (the whole message,
// terminating blank line included).
struct event {
  std::string name;
  int category = 0;
  std::string text;
};
std::vector<event> split_events(std::string_view bytes);

// Asterisk's strings_to_mask(): digits -> the number, false words -> 0, true words -> every
// class, else the listed class labels.
int strings_to_mask(std::string_view mask);

struct filter_entry;

class session_rules {
 public:
  session_rules();
  ~session_rules();
  session_rules(session_rules&&) noexcept;
  session_rules& operator=(session_rules&&) noexcept;

  int mask = 0x7fffffff;  // Login without Events: -> every class
  // Action: Filter, Operation: Add. `structured` = this Asterisk reads MatchCriteria.
  // Returns "" when added, else the Message: of Asterisk's error answer.
  std::string add_filter(std::string_view match_criteria, std::string_view filter, bool structured);
  bool allows(const event& e) const;
  std::size_t filters() const;

 private:
  std::vector<std::shared_ptr<filter_entry>> include_, exclude_;
};

}  // namespace astra::test::ami_rules
