#include "collectors/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "collectors/families.h"
#include "procfs/proc_stat.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

double CountOpenFds(const std::string& fd_dir) {
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) return -1;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir() itself holds
}

}  // namespace

absl::Status ProcessCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  // Our own pid, not "self": procfs may be the host's /proc mounted elsewhere.
  std::string self = procfs_ + "/" + std::to_string(getpid());
  auto text = ReadFileToString(self + "/stat");
  if (!text.ok()) return text.status();
  auto stat = ParseProcStat(*text);
  if (!stat.ok()) return stat.status();
  auto boot_text = ReadFileToString(procfs_ + "/stat");
  if (!boot_text.ok()) return boot_text.status();
  auto boot_time = ParseBootTime(*boot_text);
  if (!boot_time.ok()) return boot_time.status();

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  using prometheus::MetricType;
  auto add = [&out](const char* name, const char* help, MetricType type, double value) {
    auto family = MakeFamily(name, help, type);
    AddSample(family, {}, value);
    out.push_back(std::move(family));
  };
  add("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
      MetricType::Counter, (stat->utime_ticks + stat->stime_ticks) / ticks);
  add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, *boot_time + stat->starttime_ticks / ticks);
  add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      stat->rss_pages * page_size);
  add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      static_cast<double>(stat->vsize_bytes));
  if (double fds = CountOpenFds(self + "/fd"); fds >= 0) {
    add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
        static_cast<double>(limit.rlim_cur));
  }
  return absl::OkStatus();
}

}  // namespace diskidle
