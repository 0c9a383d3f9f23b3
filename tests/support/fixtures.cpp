#include "tests/support/fixtures.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace astra::test {

std::string fixture_path(const std::string& relative) {
  return std::string(ASTRA_TEST_DATA_DIR) + "/asterisk/fixtures/" + relative;
}

std::vector<recorded_chunk> load_fixture(const std::string& relative) {
  std::ifstream in(fixture_path(relative));
  if (!in) throw std::runtime_error("cannot open fixture " + fixture_path(relative));
  std::vector<recorded_chunk> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    recorded_chunk c;
    c.dir = j.value("dir", "");
    if (j.contains("data") && j["data"].is_string()) c.data = j["data"].get<std::string>();
    c.json = line;
    out.push_back(std::move(c));
  }
  return out;
}

std::string concat_direction(const std::vector<recorded_chunk>& chunks, const std::string& dir) {
  std::string all;
  for (const auto& c : chunks)
    if (c.dir == dir) all += c.data;
  return all;
}

std::vector<std::string> list_fixtures(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(fixture_path(folder)))
    if (e.path().extension() == ".jsonl") names.push_back(folder + "/" + e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace astra::test
