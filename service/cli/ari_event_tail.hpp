#pragma once
// The /ari/events WebSocket read for `astra ari watch` over plain TCP (http:// URLs): one
// thread (the caller's), no strand, no per-frame coroutine or copy. The socket is read in large
// chunks; every complete data frame of a chunk is handed to the sink as a view into the read
// buffer, one call per chunk, so the caller can write them all under one lock.
//
// Contract (the same as actors/ari/event_stream.hpp for one connection without reconnect):
//  - Connects to ws://host/<prefix>/ari/events?app=a,b[&subscribeAll=true][&api_key=...] with
//    Basic auth (or api_key), within config.connect_timeout (resolve, connect, upgrade); a
//    non-101 answer fails with ari_errc::upgrade_refused "<status> <message>".
//  - Data frames (text or binary, fragmented or not, at most max_event_frame_bytes) reach the
//    sink in order; RESTResponse frames are left out (the watcher sends no request). Unlike
//    Beast's reader, a text frame that is not valid UTF-8 is passed on (the watcher prints it
//    as a JSON string) instead of closing the socket.
//  - Pings are answered; a close frame from Asterisk is answered and ends the tail with
//    ari_errc::disconnected "closed by Asterisk (code N)".
//  - Dead peer: after dead_peer_timeout/2 of silence a ping is sent; nothing received for
//    dead_peer_timeout ends the tail with ari_errc::timeout (checked every dead_peer_timeout/4).
//  - run() returns when the sink returns false or `until` passes (no failure: std::nullopt),
//    or with the failure that ended the stream. No sink call happens after `until`.
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "actors/ari/config.hpp"

namespace astra::cli {

// Frames of one read, in order; valid during the call only. False: stop reading.
using ari_frame_sink = std::function<bool(std::span<const std::string_view> frames)>;

std::optional<failure> tail_ari_events(const ari::client_config& config, const ari::endpoint& ep,
                                       std::optional<std::chrono::steady_clock::time_point> until,
                                       const ari_frame_sink& sink);

}  // namespace astra::cli
