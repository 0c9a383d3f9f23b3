#pragma once
// The stock handlers of `astra run`: FastAGI demo, playback, hangup, wait; ARI demo, track.
// astra::service registers them in its constructor through its own public API, so every
// service built on it runs the configuration files of `astra run` unchanged.
namespace astra {
class service;
namespace stock {
void register_stock_handlers(service& svc);
}
}  // namespace astra
