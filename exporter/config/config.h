// The exporter's configuration: a YAML file where every key is optional.
// The built-in defaults equal config/diskidle.yaml (a test keeps them equal).
//
// The struct initialisers below are the only place a default is written. Each
// key is declared once more, in the key table of config.cc, which drives
// parsing, dumping and reloads (and says which keys need a restart).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/listen_address.h"
#include "model/attach_mode.h"

namespace diskidle {

// Keys marked "restart-only" keep their running value on a reload (SIGHUP);
// PlanReload reports them.

struct WebConfig {
  // ":9436" listens on every address. Restart-only.
  ListenAddress listen_address;
  std::string telemetry_path = "/metrics";  // restart-only
  bool operator==(const WebConfig&) const = default;
};

struct PathsConfig {
  std::string procfs = "/proc";  // restart-only
  std::string sysfs = "/sys";    // restart-only
  bool operator==(const PathsConfig&) const = default;
};

struct BioCollectorConfig {
  bool enabled = true;  // restart-only
  // How the BPF program attaches: auto (tp_btf, else raw_tp), tp_btf, raw_tp.
  // Restart-only.
  AttachMode attach = AttachMode::kAuto;
  // Count a kernel thread's bios for the process they are for (docs/metrics.md,
  // "Who a kernel thread's bios are counted for"): page-cache writeback for the
  // process that dirtied the file (one hook per newly dirtied folio), and ext4
  // journal commits for the process whose fsync()/sync() forced them (two hooks
  // per fsync() on ext4). Off, those bios stay syscall="kernel" under the
  // kernel thread, and the hooks are not loaded. Restart-only.
  bool writeback_attribution = true;
  bool journal_attribution = true;
  // Upper bounds (`le`) of diskidle_bio_size_bytes, strictly increasing; each is
  // 0 or a power of two (the kernel counts in log2 buckets, so others would be
  // inexact). +Inf is implied. Restart-only: a new bound would be a series
  // that starts with the whole history.
  std::vector<uint64_t> size_buckets_bytes = {0, 512, 4096, 16384, 65536, 262144, 1048576};
  // Labels of diskidle_bio_size_bytes, the view that counts every bio once:
  // any of device, namespace, pod, container, comm, thread, syscall, op.
  // Restart-only.
  std::vector<std::string> labels = {"device", "comm", "syscall", "op"};
  // The per-process view (diskidle_process_*): the most active live processes,
  // at most this many; 0 turns the view off.
  int max_processes = 1000;
  // Labels of the per-process view: any of device, namespace, pod, container,
  // pid, comm, thread, syscall, op. Restart-only.
  std::vector<std::string> process_labels = {"device", "pid", "comm", "syscall", "op"};
  // Also a size histogram per process (diskidle_process_bio_size_bytes).
  // Restart-only.
  bool process_histogram = false;
  // A process's series in the per-process view end this long after it exits.
  absl::Duration exited_process_ttl = absl::Minutes(5);
  // Distinct comm values in diskidle_bio_size_bytes; beyond, comm="other".
  int max_comms = 500;
  // Distinct thread values (the thread label); beyond, thread="other".
  int max_threads = 500;
  // Kernel map sizes (entries). Restart-only.
  uint32_t bio_map_entries = 16384;
  uint32_t process_map_entries = 16384;  // at most one process per bio_counts entry
  // Files whose last dirtier is remembered for writeback attribution (LRU).
  uint32_t dirtier_map_entries = 16384;
  bool operator==(const BioCollectorConfig&) const = default;
};

// A change to any of these on reload restarts the diskstats collector.
struct DiskstatsCollectorConfig {
  bool enabled = true;  // restart-only
  // Regexes (std::regex ECMAScript syntax, must match the whole name) on the
  // device name; empty include = all.
  std::string device_include = "";
  // Default: RAM disks, floppies and partitions (per-disk numbers are what
  // %util is about; flushes are not tracked for partitions).
  std::string device_exclude = "^(z?ram\\d+|fd\\d+|[hsv]d[a-z]+\\d+|xvd[a-z]+\\d+|.+\\d+p\\d+)$";
  // diskidle_disk_utilization_ratio is the busy fraction over this window...
  absl::Duration utilization_window = absl::Seconds(10);
  // ...sampled from /proc/diskstats in the background at this interval.
  absl::Duration utilization_sample_interval = absl::Seconds(1);
  bool operator==(const DiskstatsCollectorConfig&) const = default;
};

// diskidle_syscall_* (docs/metrics.md): write and sync syscalls per process.
struct SyscallCollectorConfig {
  // Off by default: on the tracepoint path every syscall of every process is
  // slower (docs/benchmarks.md). Restart-only.
  bool enabled = false;
  // How it attaches: auto (fentry/fexit where the kernel allows, else the
  // syscall tracepoints), fentry (or fail at start-up), tracepoint.
  // Restart-only.
  SyscallAttachMode attach = SyscallAttachMode::kAuto;
  // Processes with series, the most active ones (as collectors.bio.max_processes).
  int max_processes = 1000;
  // A process's series end this long after it exits.
  absl::Duration exited_process_ttl = absl::Minutes(5);
  // Entries of the kernel maps of counts and of process names.
  // Restart-only.
  uint32_t map_entries = 16384;
  bool operator==(const SyscallCollectorConfig&) const = default;
};

// diskidle_disk_request_duration_seconds: a BPF program on block_rq_complete.
// Which devices it shows follows collectors.diskstats.device_include/exclude.
struct DiskLatencyCollectorConfig {
  // Off by default: its per-request cost is above the bio program's goal of
  // 2x an empty program (docs/benchmarks.md, section 5). Restart-only.
  bool enabled = false;
  // How the program attaches: auto (tp_btf, else raw_tp), tp_btf, raw_tp.
  // Restart-only.
  AttachMode attach = AttachMode::kAuto;
  bool operator==(const DiskLatencyCollectorConfig&) const = default;
};

// Where the namespace, pod and container labels come from: the container
// runtimes' own state on the node (docs/kubernetes.md). Read only when a
// collectors.bio label asks for them. Restart-only.
struct KubernetesConfig {
  // The cgroup2 mount whose tree holds the pods' cgroups; "" finds it in
  // /proc/self/mountinfo. In a pod (own cgroup namespace) point it at a
  // read-only hostPath mount of the node's /sys/fs/cgroup.
  std::string cgroup2_mount = "";
  std::string containerd_state_dir = "/run/containerd/io.containerd.runtime.v2.task/k8s.io";
  std::string crio_state_dir = "/run/containers/storage/overlay-containers";
  // cgroups whose labels are kept (LRU) once resolved.
  uint32_t cgroup_cache_entries = 4096;
  bool operator==(const KubernetesConfig&) const = default;
};

struct CollectorsConfig {
  BioCollectorConfig bio;
  DiskstatsCollectorConfig diskstats;
  SyscallCollectorConfig syscalls;
  DiskLatencyCollectorConfig disk_latency;
  bool operator==(const CollectorsConfig&) const = default;
};

// GET /debug/stacks: on-demand kernel and user stacks of a process's bios
// (docs/stacks.md). Off unless asked for: it loads a BPF program per request.
struct StacksConfig {
  bool enabled = false;  // restart-only
  bool operator==(const StacksConfig&) const = default;
};

struct DebugConfig {
  StacksConfig stacks;
  bool operator==(const DebugConfig&) const = default;
};

struct Config {
  WebConfig web;
  PathsConfig paths;
  CollectorsConfig collectors;
  KubernetesConfig kubernetes;
  DebugConfig debug;
  bool operator==(const Config&) const = default;
};

// Parses YAML text. Unknown keys, wrong types, bad regexes and out-of-range
// values are errors whose message names the key path and the line, e.g.
// `config line 4: collectors.bio.max_processes: expected an integer >= 1, got "many"`.
// `source` prefixes the message (a file path, or "config").
absl::StatusOr<Config> ParseConfig(std::string_view yaml_text, std::string_view source = "config");

// Reads and parses a file; a missing/unreadable file is an error naming it.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The effective configuration as YAML that ParseConfig accepts (round-trips).
std::string DumpConfig(const Config& config);

// Why `path` cannot be web.telemetry_path (or --web.telemetry-path), or "".
std::string TelemetryPathProblem(const std::string& path);

// What a reload applies.
struct ReloadPlan {
  // The new config with every restart-only value taken from the running one.
  Config config;
  // Restart-only keys whose new value was not applied ("web.listen_address"),
  // in schema order: for "reload: changes to X, Y take effect after a restart".
  std::vector<std::string> needs_restart;
};
ReloadPlan PlanReload(const Config& running, const Config& next);

// Every key path of the schema ("web.listen_address", ...) in schema order,
// and those of them that only a restart applies.
std::vector<std::string> ConfigKeyPaths();
std::vector<std::string> RestartOnlyKeyPaths();

// Whether the bio labels ask for the thread name (BPF record_threads) and for
// the Kubernetes labels (a cgroup resolver).
bool WantsThreadLabel(const BioCollectorConfig& bio);
bool WantsPodLabels(const BioCollectorConfig& bio);

}  // namespace diskidle
