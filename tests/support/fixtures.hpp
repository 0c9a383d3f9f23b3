#pragma once
// Loader for the recorded Asterisk traffic in tests/data/asterisk/fixtures/*.jsonl.
// Each line is one socket read or write: {"dir": "...", "data": "..."} plus, for ARI
// `rest` records, the HTTP exchange fields kept as raw JSON text in `json`.
#include <string>
#include <vector>

namespace astra::test {

struct recorded_chunk {
  std::string dir;   // "in", "out", "rest", "ws-in", ... (see tests/data/asterisk/README.md)
  std::string data;  // exact bytes, empty for a close marker
  std::string json;  // the whole record as JSON text
};

// Absolute path of a fixture, e.g. fixture_path("ami/login-ping-core.jsonl").
std::string fixture_path(const std::string& relative);

// Every record of a fixture file in order. Throws std::runtime_error if unreadable (tests only).
std::vector<recorded_chunk> load_fixture(const std::string& relative);

// Concatenated `data` of the records whose dir equals `dir`.
std::string concat_direction(const std::vector<recorded_chunk>& chunks, const std::string& dir);

// Names (relative to fixtures/) of every *.jsonl under fixtures/<folder>, sorted.
std::vector<std::string> list_fixtures(const std::string& folder);

}  // namespace astra::test
