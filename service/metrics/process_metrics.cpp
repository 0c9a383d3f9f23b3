// Process metrics from /proc/self, as the Prometheus client libraries name them.
#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "service/metrics/metrics.hpp"

namespace astra::metrics {

namespace {

// Fields of /proc/self/stat after the ")" that closes the command name; field 3 (state)
// is index 0 here.
bool read_stat_fields(std::vector<std::string>& fields) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields.size() > 20;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = -1;
      in >> v;
      return v;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return -1;
}

double nan_if_negative(double v) { return v < 0 ? std::numeric_limits<double>::quiet_NaN() : v; }

}  // namespace

process_reading read_process() {
  process_reading r;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::vector<std::string> fields;
  if (read_stat_fields(fields) && ticks > 0) {
    // utime = field 14, stime = field 15, starttime = field 22 (1-based, man 5 proc).
    double utime = std::strtod(fields[14 - 3].c_str(), nullptr);
    double stime = std::strtod(fields[15 - 3].c_str(), nullptr);
    double start = std::strtod(fields[22 - 3].c_str(), nullptr);
    r.cpu_seconds = (utime + stime) / ticks;
    double btime = boot_time_seconds();
    if (btime >= 0) r.start_time_seconds = btime + start / ticks;
  }
  {
    std::ifstream statm("/proc/self/statm");
    double size = 0, resident = 0;
    if (statm >> size >> resident) r.resident_memory_bytes = resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    double n = 0;
    while (auto* ent = ::readdir(dir))
      if (ent->d_name[0] != '.') ++n;
    ::closedir(dir);
    r.open_fds = n - 1;  // minus the descriptor opendir itself holds
  }
  return r;
}

void register_process_metrics(registry& reg) {
  const double start = nan_if_negative(read_process().start_time_seconds);
  reg.add_callback("process_resident_memory_bytes", "Resident memory size in bytes.", metric_type::gauge,
                   [] { return nan_if_negative(read_process().resident_memory_bytes); });
  reg.add_callback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   metric_type::counter, [] { return nan_if_negative(read_process().cpu_seconds); });
  reg.add_callback("process_open_fds", "Number of open file descriptors.", metric_type::gauge,
                   [] { return nan_if_negative(read_process().open_fds); });
  reg.add_callback("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                   metric_type::gauge, [start] { return start; });
}

}  // namespace astra::metrics
