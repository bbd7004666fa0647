// diskidle_exporter: wiring only. Parses flags and config, loads the BPF
// collector, serves /metrics, and waits for signals.
#include <malloc.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "bpf/bio_program.h"
#include "collectors/bio_collector.h"
#include "collectors/collector_set.h"
#include "collectors/diskstats_collector.h"
#include "collectors/process_collector.h"
#include "collectors/utilization_sampler.h"
#include "config/config.h"
#include "http/exporter_routes.h"
#include "http/server.h"
#include "http/tls_context.h"
#include "http/web_config.h"
#include "prometheus/text_serializer.h"
#include "util/log.h"
#include "version.h"

ABSL_FLAG(std::string, config, "",
          "Path of the YAML config file (every key optional; built-in defaults when unset).");
ABSL_FLAG(std::string, listen_address, "",
          "Address to listen on, host:port or :port (overrides web.listen_address; default :9436).");
ABSL_FLAG(std::string, web_config_file, "",
          "Path of an exporter-toolkit web-config.yml enabling TLS and/or basic auth "
          "(see docs/security.md). /healthz stays unauthenticated.");
ABSL_FLAG(bool, check_config, false,
          "Validate the config, print the effective config as YAML and exit.");

namespace diskidle {
namespace {

constexpr int kExitFatal = 1;

// Periodic work that must not wait for a scrape (process expiry).
class Housekeeper {
 public:
  explicit Housekeeper(BioCollector* bio) : bio_(bio), thread_([this] { Run(); }) {}
  ~Housekeeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      lock.unlock();
      absl::Status status = bio_->Housekeep();
      if (!status.ok() && status != last_status_) {
        LogWarning(absl::StrCat("housekeeping: ", status.message()));  // once per new error
      }
      last_status_ = status;
      lock.lock();
    }
  }
  BioCollector* bio_;
  absl::Status last_status_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

absl::StatusOr<Config> LoadConfig() {
  std::string path = absl::GetFlag(FLAGS_config);
  absl::StatusOr<Config> config = path.empty() ? Config{} : LoadConfigFile(path);
  if (!config.ok()) return config;
  std::string listen = absl::GetFlag(FLAGS_listen_address);
  if (!listen.empty()) config->web.listen_address = listen;
  return config;
}

// Starts the diskstats collector (and its utilization sampler) in `collectors`,
// replacing a running one of the same name.
std::unique_ptr<UtilizationSampler> StartDiskstats(const Config& config,
                                                   CollectorSet& collectors) {
  const DiskstatsCollectorConfig& d = config.collectors.diskstats;
  auto sampler = std::make_unique<UtilizationSampler>(config.paths.procfs, d.utilization_window,
                                                      d.utilization_sample_interval);
  sampler->Start();
  collectors.Replace(std::make_shared<DiskstatsCollector>(d, config.paths.procfs, sampler.get()));
  return sampler;
}

bool DiskstatsChanged(const DiskstatsCollectorConfig& a, const DiskstatsCollectorConfig& b) {
  return a.device_include != b.device_include || a.device_exclude != b.device_exclude ||
         a.utilization_window != b.utilization_window ||
         a.utilization_sample_interval != b.utilization_sample_interval;
}

// Settings a reload cannot change (listener, paths, what is loaded into the
// kernel): keep the running values and say that a restart applies them.
void KeepRestartOnlySettings(const Config& running, Config& next) {
  std::vector<std::string> ignored;
  auto keep = [&ignored](auto& next_value, const auto& running_value, const char* key) {
    if (next_value != running_value) {
      ignored.push_back(key);
      next_value = running_value;
    }
  };
  keep(next.web.listen_address, running.web.listen_address, "web.listen_address");
  keep(next.web.telemetry_path, running.web.telemetry_path, "web.telemetry_path");
  keep(next.paths.procfs, running.paths.procfs, "paths.procfs");
  keep(next.paths.sysfs, running.paths.sysfs, "paths.sysfs");
  keep(next.collectors.bio.enabled, running.collectors.bio.enabled, "collectors.bio.enabled");
  keep(next.collectors.bio.attach, running.collectors.bio.attach, "collectors.bio.attach");
  keep(next.collectors.bio.bio_map_entries, running.collectors.bio.bio_map_entries,
       "collectors.bio.bio_map_entries");
  keep(next.collectors.bio.process_map_entries, running.collectors.bio.process_map_entries,
       "collectors.bio.process_map_entries");
  keep(next.collectors.diskstats.enabled, running.collectors.diskstats.enabled,
       "collectors.diskstats.enabled");
  if (!ignored.empty()) {
    LogWarning(absl::StrCat("reload: changes to ", absl::StrJoin(ignored, ", "),
                            " take effect after a restart"));
  }
}

// Until the config's ListenAddress lands: "host:port", ":port", "[v6]:port".
absl::StatusOr<std::pair<std::string, uint16_t>> SplitListenAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", text, "\": expected host:port or :port, e.g. :9436"));
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<uint16_t>(port));
}

int Fatal(absl::string_view message) {
  fprintf(stderr, "diskidle_exporter: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitFatal;
}

constexpr char kUsage[] =
    "Prometheus exporter of per-process block I/O by syscall, op and size (eBPF), "
    "next to /proc/diskstats.\n\nUsage: diskidle_exporter [--config=FILE] "
    "[--listen_address=:9436] [--web_config_file=FILE] [--check_config]";

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
  printf("%s\n\nFlags:\n", kUsage);
  for (const auto& [name, flag] : ours) {
    printf("  --%s (default: \"%s\")\n      %s\n", name.c_str(), flag->DefaultValue().c_str(),
           flag->Help().c_str());
  }
  printf("  --version\n      Print the version and exit.\n"
         "  --help\n      Print this help and exit.\n\n"
         "Signals: SIGTERM/SIGINT stop (exit 0), SIGHUP reloads --config.\n"
         "Docs: README.md, docs/metrics.md, config/diskidle.yaml.\n");
  return true;
}

int Run(int argc, char** argv) {
  if (PrintHelpIfAsked(argc, argv)) return 0;
  // Few allocation arenas: civetweb's worker threads would each grow their own,
  // and a long-running exporter would keep them all at their high-water mark.
  mallopt(M_ARENA_MAX, 2);
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage;
  usage.version_string = [] { return absl::StrCat("diskidle_exporter ", DISKIDLE_VERSION, "\n"); };
  usage.contains_helpshort_flags = [](absl::string_view) { return true; };
  usage.contains_help_flags = [](absl::string_view file) {
    return file.find("main.cc") != absl::string_view::npos;
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fatal(absl::StrCat("unexpected argument \"", positional[1], "\" (see --help)"));
  }

  auto config = LoadConfig();
  if (!config.ok()) return Fatal(config.status().message());
  // The web config is checked before anything is loaded into the kernel.
  http::WebSecurityConfig web_security;
  if (std::string path = absl::GetFlag(FLAGS_web_config_file); !path.empty()) {
    auto loaded = http::LoadWebSecurityConfig(path);
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

  auto collectors = std::make_shared<CollectorSet>();
  collectors->Add(std::make_shared<ProcessCollector>(config->paths.procfs));
  std::unique_ptr<BioProgram> program;
  std::shared_ptr<BioCollector> bio;
  if (config->collectors.bio.enabled) {
    auto loaded = BioProgram::Load(config->collectors.bio, config->paths.sysfs);
    if (!loaded.ok()) return Fatal(loaded.status().message());
    program = std::move(*loaded);
    bio = std::make_shared<BioCollector>(config->collectors.bio, config->paths.procfs,
                                         program.get());
    collectors->Add(bio);
    LogInfo(absl::StrCat("BPF program attached: ", AttachModeName(program->attach_mode()), "/block_bio_queue"));
  }
  std::unique_ptr<UtilizationSampler> sampler;
  if (config->collectors.diskstats.enabled) {
    sampler = StartDiskstats(*config, *collectors);
  }

  // host:port, :port or [v6]:port (the same rules as the config key).
  auto address = SplitListenAddress(config->web.listen_address);
  if (!address.ok()) return Fatal(address.status().message());
  http::ServerOptions server_options;
  server_options.host = address->first;
  server_options.port = address->second;
  server_options.tls = web_security.tls;
  server_options.basic_auth_users = web_security.basic_auth_users;
  http::ExporterPages pages;
  pages.telemetry_path = config->web.telemetry_path;
  pages.render_metrics = [collectors] {
    return prometheus::TextSerializer().Serialize(collectors->Collect());
  };
  bool attached = true;  // everything that needs attaching is attached by now
  pages.ready = [attached] { return attached; };
  pages.collector_status = [collectors] { return collectors->LastStatus(); };
  server_options.routes = http::ExporterRoutes(std::move(pages));
  auto server = http::HttpServer::Start(std::move(server_options));
  if (!server.ok()) return Fatal(server.status().message());
  LogInfo(absl::StrCat("listening on ", absl::StrJoin((*server)->addresses(), ", "), " (",
                       config->web.telemetry_path, ")"));

  std::unique_ptr<Housekeeper> housekeeper;
  if (bio) housekeeper = std::make_unique<Housekeeper>(bio.get());

  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      auto reloaded = LoadConfig();
      if (!reloaded.ok()) {
        LogError(absl::StrCat("reload rejected, keeping the running config: ",
                              reloaded.status().message()));
        continue;
      }
      KeepRestartOnlySettings(*config, *reloaded);
      if (bio) bio->SetConfig(reloaded->collectors.bio);
      if (sampler && DiskstatsChanged(config->collectors.diskstats,
                                      reloaded->collectors.diskstats)) {
        auto old_sampler = std::move(sampler);
        sampler = StartDiskstats(*reloaded, *collectors);
        old_sampler->Stop();  // its collector was replaced: no scrape reads it now
      }
      *config = *std::move(reloaded);
      LogInfo("config reloaded");
      continue;
    }
    LogInfo(absl::StrCat("received ", strsignal(signal_number), ", shutting down"));
    break;
  }
  housekeeper.reset();
  server->reset();
  if (sampler) sampler->Stop();
  return 0;  // program's destructor detaches and unloads the BPF objects
}

}  // namespace
}  // namespace diskidle

int main(int argc, char** argv) { return diskidle::Run(argc, argv); }
