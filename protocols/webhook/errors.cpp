#include "protocols/webhook/errors.hpp"

#include <string>

namespace astra::webhook {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "webhook"; }
  std::string message(int code) const override {
    switch (static_cast<webhook_errc>(code)) {
      case webhook_errc::not_json: return "webhook reply is not JSON";
      case webhook_errc::bad_reply: return "webhook reply is not {\"verbs\": [...]}";
      case webhook_errc::too_many_verbs: return "webhook reply has too many verbs";
      case webhook_errc::bad_verb: return "webhook verb is not an object with one key";
      case webhook_errc::unknown_verb: return "unknown webhook verb";
      case webhook_errc::bad_argument: return "bad webhook verb argument";
      case webhook_errc::timeout: return "webhook request timed out";
      case webhook_errc::connection_failed: return "webhook connection failed";
      case webhook_errc::bad_status: return "webhook answered a non-2xx status";
      case webhook_errc::body_too_large: return "webhook response body too large";
    }
    return "unknown webhook error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& webhook_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(webhook_errc e) noexcept { return {static_cast<int>(e), webhook_category()}; }

std::string_view reason_label(webhook_errc e) noexcept {
  switch (e) {
    case webhook_errc::not_json: return "not_json";
    case webhook_errc::bad_reply: return "bad_reply";
    case webhook_errc::too_many_verbs: return "too_many_verbs";
    case webhook_errc::bad_verb: return "bad_verb";
    case webhook_errc::unknown_verb: return "unknown_verb";
    case webhook_errc::bad_argument: return "bad_argument";
    case webhook_errc::timeout: return "timeout";
    case webhook_errc::connection_failed: return "connection_failed";
    case webhook_errc::bad_status: return "bad_status";
    case webhook_errc::body_too_large: return "body_too_large";
  }
  return "other";
}

}  // namespace astra::webhook
