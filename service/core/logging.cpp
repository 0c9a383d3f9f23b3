#include "service/core/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "protocols/common/json_string.hpp"

namespace astra::runtime {

namespace {

// Separates a message from its JSON members inside one spdlog payload.
constexpr char fields_separator = '\x1f';

std::string utc_timestamp(std::chrono::system_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string_view level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto line = format_json_line(utc_timestamp(msg.time), level_name(msg.level),
                                 std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                                 std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }
};

class text_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string line = utc_timestamp(msg.time) + " [" + std::string(level_name(msg.level)) + "] ";
    if (auto sep = payload.find(fields_separator); sep != std::string_view::npos) {
      line += payload.substr(0, sep);
      line += " {";
      line += payload.substr(sep + 1);
      line += "}";
    } else {
      line += payload;
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<text_formatter>(); }
};

}  // namespace

std::string json_quote(std::string_view s) {
  // Shared with `astra ami`: valid UTF-8 kept, invalid bytes read as Latin-1, controls escaped.
  std::string out;
  json_text::append_json_string(out, s);
  return out;
}

std::string format_json_line(std::string_view ts, std::string_view level, std::string_view logger,
                             std::string_view payload) {
  std::string_view message = payload, members;
  if (auto sep = payload.find(fields_separator); sep != std::string_view::npos) {
    message = payload.substr(0, sep);
    members = payload.substr(sep + 1);
  }
  std::string line = "{\"ts\":" + json_quote(ts) + ",\"level\":" + json_quote(level) + ",\"logger\":" +
                     json_quote(logger.empty() ? "astra" : logger) + ",\"msg\":" + json_quote(message);
  if (!members.empty()) {
    line += ',';
    line += members;
  }
  line += "}\n";
  return line;
}

std::string log_fields(std::string_view message, std::string_view json_members) {
  std::string out(message);
  if (!json_members.empty()) {
    out += fields_separator;
    out += json_members;
  }
  return out;
}

void setup_logging(log_style style, std::string_view level) {
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  if (style == log_style::json) sink->set_formatter(std::make_unique<json_formatter>());
  else sink->set_formatter(std::make_unique<text_formatter>());
  auto logger = std::make_shared<spdlog::logger>("astra", std::move(sink));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::trace);  // one line per record, visible at once (pipes, containers)
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace astra::runtime
