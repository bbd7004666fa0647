#include "bpf/stack_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "bpf/loader_support.h"
#include "bpf/map_helpers.h"
#include "stack_trace.h"
#include "stack_trace.skel.h"

namespace diskidle {
namespace {

// Addresses of stack `id`, leaf first, up to the first 0 (the map pads with zeros).
std::vector<uint64_t> ReadStack(int stacks_fd, int32_t id) {
  std::vector<uint64_t> ips(DISKIDLE_STACK_DEPTH);
  uint32_t key = static_cast<uint32_t>(id);
  if (bpf_map_lookup_elem(stacks_fd, &key, ips.data()) != 0) return {};
  size_t n = 0;
  while (n < ips.size() && ips[n] != 0) ++n;
  ips.resize(n);
  return ips;
}

}  // namespace

void StackProgram::SkeletonDeleter::operator()(stack_trace* skel) const {
  stack_trace__destroy(skel);  // detaches links, closes maps and programs
}

StackProgram::~StackProgram() = default;

absl::StatusOr<std::unique_ptr<StackProgram>> StackProgram::Start(
    const StackProgramOptions& options) {
  if (absl::Status s = CheckBpfPrivileges(); !s.ok()) return s;
  const StackFilter& filter = options.filter;
  if (filter.comm.size() >= DISKIDLE_STACK_COMM_LEN) {
    return absl::InvalidArgumentError(
        absl::StrCat("comm longer than ", DISKIDLE_STACK_COMM_LEN - 1, " characters"));
  }
  // auto tries tp_btf without reading the kernel BTF first: a kernel without
  // the tracepoint's typedef refuses the load, and raw_tp is tried next.
  const std::vector<AttachMode> modes =
      AttachModesToTry(options.attach, /*btf_tracepoint=*/true);
  absl::Status last_error = absl::UnknownError("no attach mode tried");
  for (AttachMode mode : modes) {
    auto program = std::unique_ptr<StackProgram>(new StackProgram());
    // The kernel's BTF named explicitly: see BioProgram::Load.
    bpf_object_open_opts open_opts{};
    open_opts.sz = sizeof(open_opts);
    open_opts.btf_custom_path = options.btf_path.c_str();
    program->skel_.reset(stack_trace__open_opts(&open_opts));
    if (!program->skel_) {
      return absl::InternalError(absl::StrCat("open BPF object stack_trace: ", ErrnoText(errno)));
    }
    stack_trace* skel = program->skel_.get();
    skel->rodata->target_tgid = filter.tgid;
    memcpy(const_cast<char*>(skel->rodata->target_comm), filter.comm.data(), filter.comm.size());
    skel->rodata->target_dev = filter.dev;
    skel->rodata->target_op = filter.op.value_or(DISKIDLE_STACK_ANY_OP);
    bpf_map__set_max_entries(skel->maps.stacks, options.stack_map_entries);
    bpf_map__set_max_entries(skel->maps.counts, options.count_map_entries);
    const bool use_btf = mode == AttachMode::kTpBtf;
    bpf_program__set_autoload(skel->progs.stack_bio_queue_btf, use_btf);
    bpf_program__set_autoload(skel->progs.stack_bio_queue_raw, !use_btf);
    if (int err = stack_trace__load(skel); err != 0) {
      last_error = absl::FailedPreconditionError(
          absl::StrCat("load BPF program (", AttachModeName(mode),
                       "/block_bio_queue, stacks): ", ErrnoText(err)));
      continue;
    }
    if (int err = stack_trace__attach(skel); err != 0) {
      last_error = absl::FailedPreconditionError(absl::StrCat(
          "attach ", AttachModeName(mode), "/block_bio_queue (stacks): ", ErrnoText(err)));
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

void StackProgram::Detach() { stack_trace__detach(skel_.get()); }

std::set<uint32_t> StackProgram::Processes() const {
  std::set<uint32_t> tgids;
  ForEachKey<stack_key>(bpf_map__fd(skel_->maps.counts),
                        [&](const stack_key& key) { tgids.insert(key.tgid); });
  return tgids;
}

absl::StatusOr<StackCounts> StackProgram::Read() const {
  StackCounts out;
  const int totals_fd = bpf_map__fd(skel_->maps.totals);
  PerCpuValues<uint64_t> totals(num_cpus_);
  for (uint32_t index = 0; index < DISKIDLE_STACK_TOTALS; ++index) {
    if (!totals.Lookup(totals_fd, &index)) {
      return absl::InternalError(absl::StrCat("read BPF map totals: ", ErrnoText(errno)));
    }
    (index == DISKIDLE_STACK_MATCHED ? out.matched_bios : out.uncounted_bios) = totals.Sum();
  }
  const int counts_fd = bpf_map__fd(skel_->maps.counts);
  const int stacks_fd = bpf_map__fd(skel_->maps.stacks);
  std::map<int32_t, std::vector<uint64_t>> stacks;  // each stack read once
  auto stack = [&](int32_t id) -> const std::vector<uint64_t>& {
    auto it = stacks.find(id);
    if (it == stacks.end()) it = stacks.emplace(id, ReadStack(stacks_fd, id)).first;
    return it->second;
  };
  ForEachKey<stack_key>(counts_fd, [&](const stack_key& key) {
    uint64_t count = 0;
    if (bpf_map_lookup_elem(counts_fd, &key, &count) != 0) return;
    StackSample sample;
    sample.tgid = key.tgid;
    sample.comm = std::string(key.comm, strnlen(key.comm, sizeof(key.comm)));
    if (key.kernel_stack_id >= 0) {
      sample.kernel_ips = stack(key.kernel_stack_id);
    } else {
      sample.kernel_error = key.kernel_stack_id;
    }
    if (key.user_stack_id >= 0) {
      sample.user_ips = stack(key.user_stack_id);
    } else {
      sample.user_error = key.user_stack_id;
    }
    sample.count = count;
    out.samples.push_back(std::move(sample));
  });
  return out;
}

}  // namespace diskidle
