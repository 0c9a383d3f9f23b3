#include "tests/ami/fake_ami_events.hpp"

#include <regex.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

namespace astra::test::ami_rules {
namespace {

struct perm {
  int num;
  const char* label;
};
// main/manager.c perms[] (without "all" and "none", handled by the callers).
constexpr perm perms[] = {{1 << 0, "system"},   {1 << 1, "call"},      {1 << 2, "log"},     {1 << 3, "verbose"},
                          {1 << 4, "command"},  {1 << 5, "agent"},     {1 << 6, "user"},    {1 << 7, "config"},
                          {1 << 8, "dtmf"},     {1 << 9, "reporting"}, {1 << 10, "cdr"},    {1 << 11, "dialplan"},
                          {1 << 12, "originate"}, {1 << 13, "agi"},    {1 << 14, "cc"},     {1 << 15, "aoc"},
                          {1 << 16, "test"},    {1 << 17, "security"}, {1 << 18, "message"}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ast_instring(list, word, ','): `word` is one of the comma-separated items.
bool in_list(std::string_view list, std::string_view word) {
  while (true) {
    auto comma = list.find(',');
    if (list.substr(0, comma) == word) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

int get_perm(std::string_view list, bool with_all) {
  int ret = 0;
  for (const auto& p : perms)
    if (in_list(list, p.label)) ret |= p.num;
  if (with_all && in_list(list, "all")) ret |= INT_MAX;
  return ret;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

enum class method { regex, exact, starts_with, ends_with, contains, none };

}  // namespace

struct filter_entry {
  std::string event_name;   // "" = any
  std::string header_name;  // "" = the whole event; else "Name:"
  method how = method::regex;
  std::string pattern;
  regex_t re{};
  bool compiled = false;
  ~filter_entry() {
    if (compiled) regfree(&re);
  }
  bool match_data(const std::string& data) const {
    switch (how) {
      case method::regex: return regexec(&re, data.c_str(), 0, nullptr, 0) == 0;
      case method::exact: return data == pattern;
      case method::starts_with: return data.rfind(pattern, 0) == 0;
      case method::ends_with: return data.size() >= pattern.size() && data.compare(data.size() - pattern.size(), pattern.size(), pattern) == 0;
      case method::contains: return data.find(pattern) != std::string::npos;
      case method::none: return true;
    }
    return false;
  }
  bool matches(const event& e) const {
    if (!event_name.empty() && event_name != e.name) return false;  // Asterisk compares a case-sensitive hash
    if (header_name.empty()) return match_data(e.text);
    std::string_view rest = e.text;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind(header_name, 0) != 0) continue;
      std::string value = trim(line.substr(header_name.size()));
      if (value.empty()) continue;
      if (match_data(value)) return true;
    }
    return false;
  }
};

std::vector<event> split_events(std::string_view bytes) {
  std::vector<event> out;
  while (!bytes.empty()) {
    auto end = bytes.find("\r\n\r\n");
    std::string_view msg = bytes.substr(0, end == std::string_view::npos ? bytes.size() : end + 4);
    bytes.remove_prefix(msg.size());
    event e;
    e.text = std::string(msg);
    std::string_view rest = msg;
    while (!rest.empty()) {
      auto nl = rest.find("\r\n");
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 2);
      if (line.rfind("Event: ", 0) == 0 && e.name.empty()) e.name = std::string(line.substr(7));
      else if (line.rfind("Privilege: ", 0) == 0) e.category = get_perm(line.substr(11), false);
    }
    if (!e.name.empty()) out.push_back(std::move(e));
  }
  return out;
}

int strings_to_mask(std::string_view mask) {
  if (mask.empty()) return -1;
  if (std::all_of(mask.begin(), mask.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::atoi(std::string(mask).c_str());
  const std::string l = lower(mask);
  if (l == "no" || l == "false" || l == "n" || l == "f" || l == "off") return 0;
  if (l == "yes" || l == "true" || l == "y" || l == "t" || l == "on") return INT_MAX;
  return get_perm(mask, true);
}

session_rules::session_rules() = default;
session_rules::~session_rules() = default;
session_rules::session_rules(session_rules&&) noexcept = default;
session_rules& session_rules::operator=(session_rules&&) noexcept = default;

std::size_t session_rules::filters() const { return include_.size() + exclude_.size(); }

std::string session_rules::add_filter(std::string_view match_criteria, std::string_view filter, bool structured) {
  constexpr auto format_error = "Filter was formatted incorrectly.  Check the syntax of the filter given.";
  auto f = std::make_shared<filter_entry>();
  std::string pattern(filter);
  bool exclude = false;
  if (!pattern.empty() && pattern[0] == '!') {
    exclude = true;
    pattern.erase(0, 1);
  }
  const bool advanced = structured && !match_criteria.empty();
  if (!advanced && pattern.empty() && structured) return format_error;  // legacy filter without a pattern
  if (advanced) {
    f->how = method::none;
    std::string temp = trim(match_criteria) + ")";  // manager_add_filter sees "(<criteria>)"
    bool found = false, name_found = false, header_found = false;
    std::size_t pos = 0;
    auto next_token = [&]() -> std::string {  // strtok_r(temp, " ,)")
      while (pos < temp.size() && std::strchr(" ,)", temp[pos])) ++pos;
      std::size_t start = pos;
      while (pos < temp.size() && !std::strchr(" ,)", temp[pos])) ++pos;
      return temp.substr(start, pos - start);
    };
    for (std::string option = next_token(); !option.empty(); option = next_token()) {
      auto paren = option.find('(');
      std::string value = paren == std::string::npos ? std::string() : trim(option.substr(paren + 1));
      if (option.rfind("action", 0) == 0) {
        if (value == "include") exclude = false;
        else if (value == "exclude") exclude = true;
        else return format_error;
      } else if (option.rfind("name", 0) == 0) {
        if (value.empty()) return format_error;
        f->event_name = value;
        name_found = true;
      } else if (option.rfind("header", 0) == 0) {
        if (value.empty()) return format_error;
        f->header_name = value.back() == ':' ? value : value + ":";
        header_found = true;
      } else if (option.rfind("method", 0) == 0) {
        if (value == "regex") f->how = method::regex;
        else if (value == "exact") f->how = method::exact;
        else if (value == "starts_with") f->how = method::starts_with;
        else if (value == "ends_with") f->how = method::ends_with;
        else if (value == "contains") f->how = method::contains;
        else if (value == "none") f->how = method::none;
        else return format_error;
      } else {
        return format_error;
      }
      found = true;
    }
    if (!found) return format_error;
    if (pattern.empty() && f->how != method::none) return format_error;
    if (!pattern.empty() && f->how == method::none) return format_error;
    if (!name_found && !header_found && f->how == method::none) return format_error;
  }
  f->pattern = pattern;
  if (f->how == method::regex) {
    // An old Asterisk compiles even an empty pattern (which matches every event).
    if (regcomp(&f->re, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0)
      return "Filter did not compile.  Check the syntax of the filter given.";
    f->compiled = true;
  }
  (exclude ? exclude_ : include_).push_back(std::move(f));
  return {};
}

bool session_rules::allows(const event& e) const {
  // An event without Privilege: (hand-made in a test) passes any mask but off.
  if (e.category == 0 ? mask == 0 : (mask & e.category) != e.category) return false;
  auto any = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& f) { return f->matches(e); });
  };
  if (include_.empty() && exclude_.empty()) return true;
  if (!include_.empty() && exclude_.empty()) return any(include_);
  if (include_.empty()) return !any(exclude_);
  return any(include_) && !any(exclude_);
}

}  // namespace astra::test::ami_rules
