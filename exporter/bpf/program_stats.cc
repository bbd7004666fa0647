#include "bpf/program_stats.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

namespace diskidle {

std::vector<ProgramRunStats> LoadedProgramStats(const bpf_object* obj, int skip_fd) {
  std::vector<ProgramRunStats> stats;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    const int fd = bpf_program__fd(prog);
    if (fd < 0 || fd == skip_fd) continue;  // not loaded (other mode, off, missing), or skipped
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    stats.push_back({bpf_program__name(prog), info.run_time_ns, info.run_cnt});
  }
  return stats;
}

}  // namespace diskidle
