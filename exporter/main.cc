// diskidle_exporter: wiring only. Parses flags and config, loads the BPF
// collector, serves /metrics, and waits for signals.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bpf/bio_program.h"
#include "bpf/syscall_program.h"
#include "bpf/latency_program.h"
#include "bpf/loader_support.h"
#include "cli/ecosystem_flags.h"
#include "collectors/bio_collector.h"
#include "collectors/collector_set.h"
#include "collectors/disk_latency_collector.h"
#include "collectors/device_filter.h"
#include "collectors/diskstats_collector.h"
#include "collectors/live_view.h"
#include "collectors/process_collector.h"
#include "collectors/readiness.h"
#include "collectors/syscall_collector.h"
#include "collectors/utilization_sampler.h"
#include "config/config.h"
#include "config/host_paths.h"
#include "config/web_config.h"
#include "http/exporter_routes.h"
#include "http/server.h"
#include "http/tls_context.h"
#include "kubernetes/pod_resolver.h"
#include "stacks/stacks_endpoint.h"
#include "util/log.h"
#include "util/periodic_thread.h"
#include "version.h"

ABSL_FLAG(bool, check_config, false,
          "Validate the config, print the effective config as YAML and exit.");

namespace diskidle {
namespace {

constexpr int kExitFatal = 1;

// Expires exited processes every second, so the kernel maps stay small on a
// node nobody scrapes. A new error is logged once, not every second.
template <typename HousekeptCollector>
std::unique_ptr<PeriodicThread> StartHousekeeping(HousekeptCollector* collector) {
  auto tick = [collector, last = absl::OkStatus()]() mutable {
    absl::Status status = collector->Housekeep();
    if (!status.ok() && status != last) {
      LogWarning(absl::StrCat("housekeeping (", std::string(collector->Name()), "): ",
                              status.message()));
    }
    last = status;
  };
  return std::make_unique<PeriodicThread>(absl::Seconds(1), std::move(tick));
}

// The config file (if any) with the flags that override its keys applied.
absl::StatusOr<Config> LoadConfig(const EcosystemFlags& flags) {
  const std::string& path = flags.config_file;
  absl::StatusOr<Config> config = path.empty() ? Config{} : LoadConfigFile(path);
  if (!config.ok()) return config;
  if (!flags.web_listen_address.empty()) {
    // The same parser as web.listen_address, so the flag and the key agree.
    absl::StatusOr<ListenAddress> address = ParseListenAddress(flags.web_listen_address);
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--web.listen-address: ", address.status().message()));
    }
    config->web.listen_address = *std::move(address);
  }
  if (!flags.web_telemetry_path.empty()) {
    if (std::string problem = TelemetryPathProblem(flags.web_telemetry_path); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--web.telemetry-path: ", problem));
    }
    config->web.telemetry_path = flags.web_telemetry_path;
  }
  return config;
}

// The utilization sampler of the running diskstats collector, and the thread
// that feeds it.
struct DiskstatsSampling {
  std::unique_ptr<UtilizationSampler> sampler;
  std::unique_ptr<PeriodicThread> thread;  // after sampler: destroyed (stopped) first
};

// Starts the diskstats collector and its sampling in `collectors`, replacing a
// running one of the same name. The first successful read of diskstats makes
// that part of `readiness` true. Each reading of the selected disks also
// feeds the page at / (`live`).
DiskstatsSampling StartDiskstats(const Config& config, CollectorSet& collectors,
                                 Readiness& readiness, LiveView& live) {
  const DiskstatsCollectorConfig& d = config.collectors.diskstats;
  DiskstatsSampling running;
  running.sampler = std::make_unique<UtilizationSampler>(config.paths.procfs, d.utilization_window);
  UtilizationSampler* sampler = running.sampler.get();
  // The config was validated; a bad regex here shows up as the collector's error.
  auto filter = std::make_shared<DeviceFilter>(
      DeviceFilter::Make(d.device_include, d.device_exclude).value_or(DeviceFilter()));
  running.thread = std::make_unique<PeriodicThread>(
      d.utilization_sample_interval, [sampler, filter, &readiness, &live] {
        std::vector<DiskStats> disks;
        if (!sampler->SampleOnce(&disks).ok()) return;
        readiness.SetDiskstatsRead();
        std::erase_if(disks, [&](const DiskStats& disk) { return !filter->Selected(disk.name); });
        live.ObserveDisks(disks);
      });
  collectors.Replace(std::make_shared<DiskstatsCollector>(d, config.paths.procfs, sampler));
  return running;
}

// Set once --log.format is known: a log collector reading JSON gets a start-up
// error as one JSON object (level error) too, not a line it cannot parse.
bool g_json_logs = false;

int Fatal(absl::string_view message) {
  if (g_json_logs) {
    LogError(message);
    return kExitFatal;
  }
  fprintf(stderr, "diskidle_exporter: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitFatal;
}

constexpr char kUsage[] =
    "Prometheus exporter of per-process block I/O by syscall, op and size (eBPF), "
    "next to /proc/diskstats.\n\nUsage: diskidle_exporter [--config.file=FILE] "
    "[--web.listen-address=:9436] [--web.config.file=FILE] [--check_config]";

// --help prints our flags and exits 0 (abseil's own --help exits 1).
bool PrintHelpIfAsked(int argc, char** argv) {
  bool asked = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    asked |= arg == "--help" || arg == "-help" || arg == "-h" || arg == "--helpfull";
  }
  if (!asked) return false;
  std::map<std::string, const absl::CommandLineFlag*> ours;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find("main.cc") != std::string::npos) ours[std::string(name)] = flag;
  }
  printf("%s\n\nFlags:\n%s", kUsage, EcosystemFlagsHelp().c_str());
  for (const auto& [name, flag] : ours) {
    printf("  --%s (default: \"%s\")\n      %s\n", name.c_str(), flag->DefaultValue().c_str(),
           flag->Help().c_str());
  }
  printf("  --version\n      Print the version and exit.\n"
         "  --help\n      Print this help and exit.\n\n"
         "Signals: SIGTERM/SIGINT stop (exit 0), SIGHUP reloads --config.file.\n"
         "Docs: README.md, docs/metrics.md, config/diskidle.yaml.\n");
  return true;
}

int Run(int argc, char** argv) {
  if (PrintHelpIfAsked(argc, argv)) return 0;
  // Few allocation arenas: the server's worker threads would each grow their
  // own, and a long-running exporter would keep them all at their high-water mark.
  mallopt(M_ARENA_MAX, 2);
  absl::StatusOr<EcosystemFlags> flags =
      ExtractEcosystemFlags(std::vector<std::string>(argv, argv + argc));
  if (!flags.ok()) return Fatal(flags.status().message());
  absl::StatusOr<LogLevel> log_level = ParseLogLevel(flags->log_level);
  if (!log_level.ok()) return Fatal(log_level.status().message());
  absl::StatusOr<LogFormat> log_format = ParseLogFormat(flags->log_format);
  if (!log_format.ok()) return Fatal(log_format.status().message());
  SetLogOptions(*log_level, *log_format);
  g_json_logs = *log_format == LogFormat::kJson;
  if (absl::Status s = CheckRemainingFlags(flags->rest); !s.ok()) return Fatal(s.message());
  // What is left (--check_config, --version, unknown flags) goes to abseil;
  // `rest` outlives the parse, which keeps pointers into it.
  std::vector<char*> rest_argv;
  for (std::string& arg : flags->rest) rest_argv.push_back(arg.data());
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage;
  usage.version_string = [] { return absl::StrCat("diskidle_exporter ", DISKIDLE_VERSION, "\n"); };
  usage.contains_helpshort_flags = [](absl::string_view) { return true; };
  usage.contains_help_flags = [](absl::string_view file) {
    return file.find("main.cc") != absl::string_view::npos;
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(rest_argv.size()), rest_argv.data());
  if (positional.size() > 1) {
    return Fatal(absl::StrCat("unexpected argument \"", positional[1], "\" (see --help)"));
  }

  auto config = LoadConfig(*flags);
  if (!config.ok()) return Fatal(config.status().message());
  // The web config is checked before anything is loaded into the kernel.
  WebSecurityConfig web_security;
  if (const std::string& path = flags->web_config_file; !path.empty()) {
    auto loaded = ReadWebSecurityConfigFile(path);
    if (!loaded.ok()) return Fatal(loaded.status().message());
    web_security = *std::move(loaded);
    if (web_security.tls) {
      // Certificate, key and CA are loaded once here so that a bad file is a
      // start-up error naming it, not a failed handshake later.
      if (auto ctx = http::BuildSslContext(*web_security.tls); !ctx.ok()) {
        return Fatal(absl::StrCat(path, ": ", ctx.status().message()));
      }
    }
  }
  // The proc and sys roots and the kernel's BTF: --check_config checks them
  // too, so a config it passes does not then fail here.
  if (absl::Status s = CheckHostPaths(*config); !s.ok()) return Fatal(s.message());
  if (absl::GetFlag(FLAGS_check_config)) {
    printf("%s", DumpConfig(*config).c_str());
    return 0;
  }

  // Signals are taken synchronously by the main thread; block them before any
  // thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Missing privileges fail at once, before the server starts listening.
  if (config->collectors.bio.enabled || config->collectors.syscalls.enabled) {
    if (absl::Status s = CheckBpfPrivileges(); !s.ok()) return Fatal(s.message());
  }

  // Declared before the server: the bio collector the server scrapes points
  // into the program, so the program is unloaded last.
  std::unique_ptr<BioProgram> program;
  std::unique_ptr<SyscallProgram> syscall_program;  // only with collectors.syscalls.enabled
  std::unique_ptr<LatencyProgram> latency_program;
  Readiness readiness(config->collectors.bio.enabled, config->collectors.diskstats.enabled);
  auto collectors = std::make_shared<CollectorSet>();
  collectors->Add(std::make_shared<ProcessCollector>(config->paths.procfs));
  // The page at /: fed by the diskstats sampling and the bio collector's updates.
  auto live = std::make_shared<LiveView>(
      LiveView::Options{.disks_collected = config->collectors.diskstats.enabled,
                        .processes_collected = config->collectors.bio.enabled});
  DiskstatsSampling diskstats;
  if (config->collectors.diskstats.enabled) {
    diskstats = StartDiskstats(*config, *collectors, readiness, *live);
  }

  // The server starts before the BPF program loads, so /healthz answers 503
  // while it loads; a busy port still fails before anything is in the kernel.
  http::ServerOptions server_options;
  server_options.host = config->web.listen_address.host;
  server_options.port = config->web.listen_address.port;
  server_options.tls = web_security.tls;
  server_options.basic_auth_users = web_security.basic_auth_users;
  http::ExporterPages pages;
  pages.telemetry_path = config->web.telemetry_path;
  pages.render_metrics = [collectors] { return collectors->Render(); };
  pages.ready = [&readiness] { return readiness.Ready(); };
  pages.not_ready_reason = [&readiness] { return readiness.Missing(); };
  pages.collector_status = [collectors] { return collectors->LastStatus(); };
  pages.live_rates = [live] { return live->Rates(); };
  server_options.routes = http::ExporterRoutes(std::move(pages));
  // Off by default: a disabled endpoint is a 404 like any unknown path.
  std::shared_ptr<StackCollector> stacks;
  if (config->debug.stacks.enabled) {
    stacks = std::make_shared<StackCollector>(
        StackCollectorOptions{.procfs = config->paths.procfs,
                              .sysfs = config->paths.sysfs,
                              .attach = config->collectors.bio.attach,
                              .symbolizer = {}});
    server_options.routes.push_back(StacksRoute(stacks));
  }
  auto server = http::HttpServer::Start(std::move(server_options));
  if (!server.ok()) return Fatal(server.status().message());
  LogDebug(absl::StrCat("config: ", flags->config_file.empty() ? "built-in defaults" : flags->config_file));

  std::shared_ptr<SyscallCollector> syscalls;
  std::unique_ptr<PeriodicThread> syscall_housekeeping;
  // Before the bio program: /healthz turns 200 once that one is attached, and
  // by then every enabled collector is.
  if (config->collectors.syscalls.enabled) {
    const SyscallCollectorConfig& s = config->collectors.syscalls;
    auto loaded = SyscallProgram::Load({.attach = s.attach,
                                        .map_entries = s.map_entries,
                                        .btf_path = config->paths.sysfs + "/kernel/btf/vmlinux"});
    if (!loaded.ok()) return Fatal(loaded.status().message());
    syscall_program = std::move(*loaded);
    syscalls = std::make_shared<SyscallCollector>(s, config->collectors.bio.size_buckets_bytes,
                                                  config->paths.procfs, syscall_program.get());
    collectors->Add(syscalls);
    LogInfo(absl::StrCat("syscall collector attached: ", syscall_program->attach_description()));
    syscall_housekeeping = StartHousekeeping(syscalls.get());
  }
  // Disk latency is off by default; asked for and unable to load, the
  // exporter stops, as it does for the bio program. Also before the bio
  // program, for /healthz (see above).
  std::shared_ptr<DiskLatencyCollector> disk_latency;
  if (config->collectors.disk_latency.enabled) {
    auto loaded = LatencyProgram::Load(config->collectors.disk_latency.attach,
                                       config->paths.sysfs + "/kernel/btf/vmlinux");
    if (!loaded.ok()) {
      return Fatal(absl::StrCat("collectors.disk_latency: ", loaded.status().message()));
    }
    latency_program = std::move(*loaded);
    disk_latency = std::make_shared<DiskLatencyCollector>(
        config->collectors.diskstats, config->paths.procfs, latency_program.get());
    disk_latency->SetRemovedDiskTtl(config->collectors.bio.exited_process_ttl);
    collectors->Add(disk_latency);
    LogInfo(absl::StrCat("BPF program attached: ", AttachModeName(latency_program->attach_mode()),
                         "/block_rq_complete (disk latency)"));
  }
  std::shared_ptr<BioCollector> bio;
  std::unique_ptr<PeriodicThread> housekeeping;
  if (config->collectors.bio.enabled) {
    const BioCollectorConfig& b = config->collectors.bio;
    // Only when a label asks for it: nothing of the node's cgroup tree or the
    // runtimes' state is read otherwise. Before loading, so that a node
    // without cgroup2 fails before anything is in the kernel.
    std::shared_ptr<PodResolver> pods;
    if (WantsPodLabels(b)) {
      const KubernetesConfig& k = config->kubernetes;
      auto created = PodResolver::Create({.cgroup2_mount = k.cgroup2_mount,
                                          .containerd_state_dir = k.containerd_state_dir,
                                          .crio_state_dir = k.crio_state_dir,
                                          .cache_entries = k.cgroup_cache_entries});
      if (!created.ok()) return Fatal(absl::StrCat("kubernetes: ", created.status().message()));
      pods = std::move(*created);
    }
    auto loaded = BioProgram::Load({.attach = b.attach,
                                    .bio_map_entries = b.bio_map_entries,
                                    .process_map_entries = b.process_map_entries,
                                    .dirtier_map_entries = b.dirtier_map_entries,
                                    .record_threads = WantsThreadLabel(b),
                                    .writeback_hooks = b.writeback_attribution,
                                    .journal_hooks = b.journal_attribution,
                                    .btf_path = config->paths.sysfs + "/kernel/btf/vmlinux"});
    if (!loaded.ok()) return Fatal(loaded.status().message());
    program = std::move(*loaded);
    bio = std::make_shared<BioCollector>(b, config->paths.procfs, program.get());
    if (pods) {
      // The lambdas own the resolver: it lives as long as the collector.
      bio->SetCgroupResolver(
          [pods](uint64_t cgroup_id) {
            PodLabels labels = pods->Resolve(cgroup_id);
            return CgroupLabels{std::move(labels.namespace_name), std::move(labels.pod),
                                std::move(labels.container)};
          },
          [pods] { return pods->misses(); });
      LogInfo(absl::StrCat("namespace/pod/container labels from the cgroup tree (ids found by ",
                           pods->lookup_method() == CgroupIdLookup::Method::kFileHandle
                               ? "file handle"
                               : "walking the tree",
                           ") and the runtimes' state"));
    }
    bio->SetChangeObserver(
        [live](const std::vector<LedgerChange>& changes) { live->ObserveBios(changes); });
    collectors->Add(bio);
    readiness.SetBpfAttached();
    LogInfo(absl::StrCat("BPF program attached: ", AttachModeName(program->attach_mode()),
                         "/block_bio_queue",
                         program->fast_syscall_read() ? "" : " (pre-6.2 build: bpf_task_pt_regs per bio)"));
    LogInfo(absl::StrCat("writeback and journal attribution hooks: ",
                         absl::StrJoin(program->owner_hooks(), ", ")));
    housekeeping = StartHousekeeping(bio.get());
  }
  // Logged only now, when nothing of the start-up can fail any more: the port
  // was bound above (a busy port fails first), but a collector that failed to
  // load would have made this line a lie.
  LogInfo(absl::StrCat("listening on ", absl::StrJoin((*server)->addresses(), ", "), " (",
                       config->web.telemetry_path, ")"));

  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      auto reloaded = LoadConfig(*flags);
      if (!reloaded.ok()) {
        LogError(absl::StrCat("reload rejected, keeping the running config: ",
                              reloaded.status().message()));
        continue;
      }
      // Settings a reload cannot change (listener, paths, what is loaded into
      // the kernel) keep their running values; say that a restart applies them.
      ReloadPlan plan = PlanReload(*config, *reloaded);
      if (!plan.needs_restart.empty()) {
        LogWarning(absl::StrCat("reload: changes to ", absl::StrJoin(plan.needs_restart, ", "),
                                " take effect after a restart"));
      }
      if (bio) bio->SetConfig(plan.config.collectors.bio);
      if (syscalls) syscalls->SetConfig(plan.config.collectors.syscalls);
      if (disk_latency) {
        disk_latency->SetDeviceFilter(plan.config.collectors.diskstats);
        disk_latency->SetRemovedDiskTtl(plan.config.collectors.bio.exited_process_ttl);
      }
      if (diskstats.sampler && config->collectors.diskstats != plan.config.collectors.diskstats) {
        DiskstatsSampling old = std::move(diskstats);
        diskstats = StartDiskstats(plan.config, *collectors, readiness, *live);
        // `old` goes here: its collector was replaced, so no scrape reads its sampler now.
      }
      *config = std::move(plan.config);
      LogInfo("config reloaded");
      continue;
    }
    LogInfo(absl::StrCat("received ", strsignal(signal_number), ", shutting down"));
    break;
  }
  housekeeping.reset();
  syscall_housekeeping.reset();
  // A running collection ends now, so the server's handler thread is free.
  if (stacks) stacks->Shutdown();
  server->reset();
  diskstats.thread.reset();
  return 0;  // program's destructor detaches and unloads the BPF objects
}

}  // namespace
}  // namespace diskidle

int main(int argc, char** argv) { return diskidle::Run(argc, argv); }
