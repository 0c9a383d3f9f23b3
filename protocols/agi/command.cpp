#include "protocols/agi/command.hpp"

#include <algorithm>

#include "protocols/agi/command_detail.hpp"

namespace astra::agi {
namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool has_line_break(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::size_t count_words(std::string_view verb) noexcept {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : verb) {
    bool space = c == ' ' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

template <class Args, class ValueOf, class QuoteOf>
astra::result<std::string> format_impl(std::string_view verb, const Args& args, ValueOf value_of, QuoteOf quote_of) {
  if (verb.empty() || count_words(verb) == 0)
    return {make_error_code(agi_errc::invalid_argument), "empty command verb"};
  if (has_line_break(verb)) return {make_error_code(agi_errc::invalid_argument), "CR/LF/NUL in command verb"};
  std::size_t words = count_words(verb) + std::size(args);
  if (words > max_command_words)
    return {make_error_code(agi_errc::too_many_arguments),
            std::to_string(words) + " words, Asterisk keeps " + std::to_string(max_command_words)};
  std::string line(verb);
  std::size_t index = 0;
  for (const auto& a : args) {
    std::string_view value = value_of(a);
    if (has_line_break(value))
      return {make_error_code(agi_errc::invalid_argument),
              "argument " + std::to_string(index + 1) + " of " + std::string(verb) + " contains CR, LF or NUL"};
    line.push_back(' ');
    append_argument(line, value, quote_of(a));
    ++index;
  }
  line.push_back('\n');
  if (line.size() > max_command_line_bytes)
    return {make_error_code(agi_errc::line_too_long),
            std::to_string(line.size()) + " bytes, Asterisk reads at most " + std::to_string(max_command_line_bytes)};
  return line;
}

}  // namespace

bool needs_quotes(std::string_view value) noexcept {
  return value.empty() || value.find_first_of(" \t\"\\,$|{}[]';") != std::string_view::npos;
}

void append_argument(std::string& out, std::string_view value, bool always_quote) {
  if (!always_quote && !needs_quotes(value)) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

astra::result<std::string> format_command(std::string_view verb, std::span<const std::string> args) {
  return format_impl(verb, args, [](const std::string& s) { return std::string_view(s); },
                     [](const std::string&) { return false; });
}

astra::result<std::string> format_command(std::string_view verb, std::span<const command_arg> args) {
  return format_impl(verb, args, [](const command_arg& a) { return std::string_view(a.value); },
                     [](const command_arg& a) { return a.always_quote; });
}

astra::result<std::string> format_command(std::string_view verb, std::initializer_list<std::string_view> args) {
  return format_impl(verb, args, [](std::string_view s) { return s; }, [](std::string_view) { return false; });
}

std::vector<command_token> tokenize_command(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  std::vector<command_token> out;
  bool quoted = false, escaped = false, whitespace = true;
  auto start_word = [&] {
    if (whitespace) {
      out.emplace_back();
      whitespace = false;
    }
  };
  for (char c : line) {
    switch (c) {
      case '"':
        if (escaped) goto normal;
        quoted = !quoted;
        if (quoted && whitespace) start_word();
        if (!out.empty()) out.back().quoted = true;
        escaped = false;
        break;
      case ' ':
      case '\t':
        if (!quoted && !escaped) {
          whitespace = true;
          break;
        }
        goto normal;
      case '\\':
        if (escaped) goto normal;
        escaped = true;
        break;
      default:
      normal:
        start_word();
        out.back().value.push_back(c);
        escaped = false;
    }
  }
  return out;
}

const command_spec* find_command(std::string_view name) noexcept {
  for (const auto& spec : all_commands())
    if (iequals(spec.name, name)) return &spec;
  return nullptr;
}

const command_spec* match_command(std::span<const command_token> tokens) noexcept {
  const command_spec* best = nullptr;
  for (const auto& spec : all_commands()) {
    if (spec.words > tokens.size() || (best && best->words >= spec.words)) continue;
    std::string_view name = spec.name;
    bool match = true;
    for (std::size_t w = 0; w < spec.words && match; ++w) {
      auto space = name.find(' ');
      match = iequals(name.substr(0, space), tokens[w].value);
      name = space == std::string_view::npos ? std::string_view{} : name.substr(space + 1);
    }
    if (match) best = &spec;
  }
  return best;
}

parsed_command parse_command_line(std::string_view line) {
  auto tokens = tokenize_command(line);
  parsed_command out;
  out.spec = match_command(tokens);
  std::size_t verb_words = out.spec ? out.spec->words : std::min<std::size_t>(1, tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i < verb_words) {
      if (i) out.verb.push_back(' ');
      out.verb += tokens[i].value;
    } else {
      out.args.push_back(command_arg{std::move(tokens[i].value), tokens[i].quoted});
    }
  }
  return out;
}

namespace detail {

astra::result<std::string> build(std::string_view verb, std::initializer_list<slot> slots) {
  std::size_t given = 0, index = 0;
  for (const auto& s : slots) {
    ++index;
    if (s.arg) given = index;
  }
  std::vector<command_arg> args;
  args.reserve(given);
  index = 0;
  for (const auto& s : slots) {
    if (index++ == given) break;
    if (s.arg) {
      args.push_back(*s.arg);
    } else if (s.placeholder) {
      args.push_back(command_arg{std::string(s.placeholder), false});
    }
  }
  return format_command(verb, std::span<const command_arg>(args));
}

}  // namespace detail
}  // namespace astra::agi
