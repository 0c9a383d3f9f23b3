// libFuzzer target for the generated ARI event decoder (protocols/ari).
// Invariants: decode_event never crashes on any bytes; whatever decodes re-encodes to JSON
// that decodes again, and a second encode is byte-identical to the first (the round trip
// is a fixed point after one pass); routing accessors stay callable on every decoded event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocols/ari/ari.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto first = astra::ari::decode_event(input);
  if (!first.ok()) return 0;
  (void)first->type_name();
  (void)first->channel_id();
  (void)first->bridge_id();
  (void)first->playback_id();
  std::string encoded = astra::ari::encode_event(*first);
  auto second = astra::ari::decode_event(encoded);
  if (!second.ok()) std::abort();
  if (second->type() != first->type()) std::abort();
  if (astra::ari::encode_event(*second) != encoded) std::abort();
  return 0;
}
