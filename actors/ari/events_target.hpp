#pragma once
// The request target of the ARI event WebSocket (/ari/events?app=...&subscribeAll=...), shared
// by the client's event stream and `astra ari watch`'s direct reader. Light: no Beast here.
#include <string>

#include "actors/ari/config.hpp"

namespace astra::ari {

// "<prefix>/ari/events?app=a,b[&subscribeAll=true][&api_key=user:password]": the app list
// keeps its commas literal (Asterisk splits it before decoding).
std::string events_target(const client_config& cfg, const endpoint& ep);

}  // namespace astra::ari
