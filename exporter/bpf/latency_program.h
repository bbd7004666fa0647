// Loads disk_latency.bpf.c into the kernel, attaches it to
// block:block_rq_complete, and reads its maps. Everything is detached and
// unloaded when the object is destroyed.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bpf/latency_snapshot.h"
#include "model/attach_mode.h"

struct disk_latency;  // generated skeleton

namespace diskidle {

class LatencyProgram : public LatencyMaps {
 public:
  // `attach`: tp_btf, raw_tp or auto; `btf_path`: the kernel's BTF.
  static absl::StatusOr<std::unique_ptr<LatencyProgram>> Load(AttachMode attach,
                                                              const std::string& btf_path);
  ~LatencyProgram() override;

  LatencyProgram(const LatencyProgram&) = delete;
  LatencyProgram& operator=(const LatencyProgram&) = delete;

  absl::StatusOr<LatencySnapshot> Snapshot() override;
  absl::Status Forget(const std::vector<uint32_t>& devs) override;

  // kTpBtf or kRawTp: what is attached.
  AttachMode attach_mode() const { return attach_mode_; }

 private:
  LatencyProgram() = default;
  struct SkeletonDeleter {
    void operator()(disk_latency* skel) const;
  };
  std::unique_ptr<disk_latency, SkeletonDeleter> skel_;
  AttachMode attach_mode_ = AttachMode::kAuto;
  int num_cpus_ = 0;
};

}  // namespace diskidle
