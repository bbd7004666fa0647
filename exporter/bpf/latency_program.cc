#include "bpf/latency_program.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bpf/loader_support.h"
#include "bpf/map_helpers.h"
#include "bpf/program_stats.h"
#include "config/host_paths.h"
#include "disk_latency.skel.h"

namespace diskidle {
namespace {

}  // namespace

void LatencyProgram::SkeletonDeleter::operator()(disk_latency* skel) const {
  disk_latency__destroy(skel);  // detaches links, closes maps and programs
}

LatencyProgram::~LatencyProgram() = default;

absl::StatusOr<std::unique_ptr<LatencyProgram>> LatencyProgram::Load(
    AttachMode attach, const std::string& btf_path) {
  QuietLibbpf();
  if (absl::Status s = CheckBpfPrivileges(); !s.ok()) return s;
  if (absl::Status s = CheckKernelBtf(btf_path); !s.ok()) return s;
  const std::vector<AttachMode> modes =
      AttachModesToTry(attach, KernelBtfHasTracepoint(btf_path, "block_rq_complete"));

  absl::Status last_error = absl::UnknownError("no attach mode tried");
  for (AttachMode mode : modes) {
    auto program = std::unique_ptr<LatencyProgram>(new LatencyProgram());
    // Kernel BTF named explicitly, as in BioProgram::Load (CAP_BPF without
    // CAP_SYS_ADMIN cannot enumerate module BTFs).
    bpf_object_open_opts open_opts{};
    open_opts.sz = sizeof(open_opts);
    open_opts.btf_custom_path = btf_path.c_str();
    program->skel_.reset(disk_latency__open_opts(&open_opts));
    if (!program->skel_) {
      return absl::InternalError(absl::StrCat("open BPF object disk_latency: ", ErrnoText(errno)));
    }
    disk_latency* skel = program->skel_.get();
    const bool use_btf = mode == AttachMode::kTpBtf;
    bpf_program__set_autoload(skel->progs.disk_lat_btf, use_btf);
    bpf_program__set_autoload(skel->progs.disk_lat_raw, !use_btf);
    if (int err = disk_latency__load(skel); err != 0) {
      last_error = absl::FailedPreconditionError(
          absl::StrCat("load BPF program (", AttachModeName(mode),
                       "/block_rq_complete): ", ErrnoText(err),
                       " (set DISKIDLE_LIBBPF_DEBUG=1 for the verifier log)"));
      continue;
    }
    if (int err = disk_latency__attach(skel); err != 0) {
      last_error = absl::FailedPreconditionError(
          absl::StrCat("attach ", AttachModeName(mode), "/block_rq_complete: ", ErrnoText(err)));
      continue;
    }
    program->attach_mode_ = mode;
    program->num_cpus_ = libbpf_num_possible_cpus();
    if (program->num_cpus_ <= 0) {
      return absl::InternalError("cannot read the number of possible CPUs");
    }
    return program;
  }
  return last_error;
}

absl::StatusOr<LatencySnapshot> LatencyProgram::Snapshot() {
  LatencySnapshot snap;
  // Each CPU's values only grow, so a sum read after another is never smaller
  // (no consistent cut across CPUs is needed for counters to stay monotonic).
  auto add = [](const latency_key& key, const latency_value& value, LatencyHistogram& h) {
    h.dev = key.dev;
    h.op = key.op;
    for (int b = 0; b < DISKIDLE_LATENCY_BUCKETS; ++b) h.buckets[b] += value.buckets[b];
    h.sum_ns += value.sum_ns;
  };
  int fd = bpf_map__fd(skel_->maps.latency);
  constexpr size_t kStride = (sizeof(latency_value) + 7) & ~size_t{7};
  bool batched = ForEachEntryBatched<latency_key>(
      fd, kStride * static_cast<size_t>(num_cpus_), [&](const latency_key& key, const char* raw) {
        LatencyHistogram h;
        for (int cpu = 0; cpu < num_cpus_; ++cpu) {
          latency_value value;
          memcpy(&value, raw + static_cast<size_t>(cpu) * kStride, sizeof(value));
          add(key, value, h);
        }
        snap.histograms.push_back(h);
      });
  if (!batched) {
    snap.histograms.clear();  // a walk that failed half-way: read key by key instead
    PerCpuValues<latency_value> values(num_cpus_);
    ForEachKey<latency_key>(fd, [&](const latency_key& key) {
      if (!values.Lookup(fd, &key)) return;  // a removed disk's, deleted (Forget) meanwhile
      LatencyHistogram h;
      for (int cpu = 0; cpu < num_cpus_; ++cpu) add(key, values.At(cpu), h);
      snap.histograms.push_back(h);
    });
  }
  int events_fd = bpf_map__fd(skel_->maps.events);
  PerCpuValues<uint64_t> counters(num_cpus_);
  for (uint32_t event = 0; event < DISKIDLE_LAT_EVENTS; ++event) {
    if (!counters.Lookup(events_fd, &event)) {
      return absl::InternalError(absl::StrCat("read BPF map events: ", ErrnoText(errno)));
    }
    snap.events[event] = counters.Sum();
  }
  snap.programs = LoadedProgramStats(skel_->obj);
  return snap;
}

absl::Status LatencyProgram::Forget(const std::vector<uint32_t>& devs) {
  int fd = bpf_map__fd(skel_->maps.latency);
  for (uint32_t dev : devs) {
    for (uint32_t op = 0; op < DISKIDLE_LAT_OPS; ++op) {
      latency_key key{.dev = dev, .op = op};
      if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT) {
        return absl::InternalError(absl::StrCat("delete from BPF map latency: ", ErrnoText(errno)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace diskidle
