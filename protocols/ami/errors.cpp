#include "protocols/ami/errors.hpp"

#include <string>

namespace astra::ami {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ami"; }
  std::string message(int code) const override {
    switch (static_cast<ami_errc>(code)) {
      case ami_errc::line_too_long: return "AMI line too long";
      case ami_errc::too_many_headers: return "too many headers in AMI message";
      case ami_errc::message_too_large: return "AMI message too large";
      case ami_errc::buffer_full: return "AMI parser buffer full";
      case ami_errc::malformed_line: return "malformed AMI line";
      case ami_errc::truncated: return "AMI stream closed in the middle of a message";
      case ami_errc::timeout: return "AMI request timed out";
      case ami_errc::disconnected: return "AMI connection lost";
      case ami_errc::not_logged_in: return "not logged in to AMI";
      case ami_errc::rejected: return "AMI action rejected by Asterisk";
      case ami_errc::login_failed: return "AMI login failed";
      case ami_errc::invalid_action: return "invalid AMI action";
      case ami_errc::header_injection: return "CR or LF in AMI header (header injection refused)";
      case ami_errc::queue_full: return "AMI queue full";
      case ami_errc::action_too_large: return "AMI action exceeds what Asterisk reads";
      case ami_errc::response_too_large: return "AMI response exceeds a read limit";
      case ami_errc::event_lost: return "AMI event lost";
      case ami_errc::tls_failed: return "AMI TLS failed";
    }
    return "unknown AMI error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& ami_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(ami_errc e) noexcept { return {static_cast<int>(e), ami_category()}; }

}  // namespace astra::ami
