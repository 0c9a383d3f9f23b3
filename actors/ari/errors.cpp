#include "actors/ari/errors.hpp"

namespace astra::ari {
namespace {

class ari_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ari"; }
  std::string message(int value) const override {
    switch (static_cast<ari_errc>(value)) {
      case ari_errc::invalid_url: return "invalid ARI URL";
      case ari_errc::resolve_failed: return "cannot resolve ARI host";
      case ari_errc::connect_failed: return "cannot connect to ARI";
      case ari_errc::tls_failed: return "TLS handshake with ARI failed";
      case ari_errc::timeout: return "ARI request deadline exceeded";
      case ari_errc::disconnected: return "ARI connection closed";
      case ari_errc::bad_response: return "malformed ARI reply";
      case ari_errc::response_too_large: return "ARI reply too large";
      case ari_errc::queue_full: return "ARI request queue full";
      case ari_errc::upgrade_refused: return "ARI WebSocket upgrade refused";
      case ari_errc::not_connected: return "ARI event WebSocket not connected";
      case ari_errc::unsupported: return "REST over WebSocket not supported by this Asterisk";
      case ari_errc::cancelled: return "ARI client stopped";
      case ari_errc::invalid_argument: return "invalid ARI request argument";
      case ari_errc::application_replaced: return "ARI application replaced by another client";
      case ari_errc::channel_gone: return "ARI channel gone";
    }
    return "unknown ARI error";
  }
};

}  // namespace

const std::error_category& ari_category() noexcept {
  static const ari_category_impl instance;
  return instance;
}

}  // namespace astra::ari
