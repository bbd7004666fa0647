// The kernel's own accounting of our BPF programs (bpf_prog_info.run_time_ns
// and run_cnt), counted only while sysctl kernel.bpf_stats_enabled=1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct bpf_object;

namespace diskidle {

struct ProgramRunStats {
  std::string name;
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

// Every program of `obj` that is loaded (one of each tp_btf/raw_tp twin, none
// of a group that is off), in the object's order, except the one whose fd is
// `skip_fd`. A program the kernel will not describe is left out.
std::vector<ProgramRunStats> LoadedProgramStats(const bpf_object* obj, int skip_fd = -1);

}  // namespace diskidle
