#include "protocols/agi/errors.hpp"

#include <string>

namespace astra::agi {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "agi"; }
  std::string message(int code) const override {
    switch (static_cast<agi_errc>(code)) {
      case agi_errc::line_too_long: return "AGI line too long";
      case agi_errc::environment_too_large: return "AGI environment block too large";
      case agi_errc::too_many_variables: return "too many variables in AGI environment block";
      case agi_errc::malformed_environment: return "malformed AGI environment block";
      case agi_errc::malformed_reply: return "malformed AGI reply";
      case agi_errc::invalid_argument: return "CR, LF or NUL in AGI command argument";
      case agi_errc::usage_error: return "AGI command usage error (520)";
      case agi_errc::invalid_command: return "invalid or unknown AGI command (510)";
      case agi_errc::hung_up: return "channel hung up";
      case agi_errc::timeout: return "AGI command timed out";
      case agi_errc::disconnected: return "AGI connection closed";
      case agi_errc::application_not_found: return "application not found (EXEC result -2)";
      case agi_errc::handler_failed: return "AGI handler failed";
      case agi_errc::refused: return "AGI call refused";
      case agi_errc::no_route: return "no route for AGI request";
      case agi_errc::shutting_down: return "AGI server shutting down";
      case agi_errc::command_failed: return "AGI command failed (result -1)";
      case agi_errc::too_many_arguments: return "too many words in AGI command line";
      case agi_errc::reply_too_large: return "AGI reply too large";
    }
    return "unknown AGI error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& agi_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(agi_errc e) noexcept { return {static_cast<int>(e), agi_category()}; }

}  // namespace astra::agi
