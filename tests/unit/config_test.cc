#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const std::string kDefaults = DumpConfig(Config{});

std::string SourcePath(const std::string& relative) {
  return std::string(DISKIDLE_SOURCE_DIR) + "/" + relative;
}

TEST(ConfigTest, EmptyTextGivesDefaults) {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n", "~\n"}) {
    absl::StatusOr<Config> config = ParseConfig(text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(DumpConfig(*config), kDefaults) << text;
  }
}

TEST(ConfigTest, DefaultsMatchContract) {
  Config config;
  EXPECT_EQ(config.web.listen_address, (ListenAddress{"", 9436}));
  EXPECT_EQ(config.web.telemetry_path, "/metrics");
  EXPECT_EQ(config.collectors.bio.size_buckets_bytes,
            (std::vector<uint64_t>{0, 512, 4096, 16384, 65536, 262144, 1048576}));
  EXPECT_EQ(config.collectors.bio.exited_process_ttl, absl::Minutes(5));
  EXPECT_EQ(config.collectors.bio.max_processes, 1000);
  EXPECT_EQ(config.collectors.bio.max_comms, 500);
  // No new label on upgrade: thread and the Kubernetes labels are opt-in.
  EXPECT_EQ(config.collectors.bio.labels,
            (std::vector<std::string>{"device", "comm", "syscall", "op"}));
  EXPECT_EQ(config.collectors.bio.process_labels,
            (std::vector<std::string>{"device", "pid", "comm", "syscall", "op"}));
  EXPECT_FALSE(WantsThreadLabel(config.collectors.bio));
  EXPECT_FALSE(WantsPodLabels(config.collectors.bio));
  EXPECT_EQ(config.collectors.bio.max_threads, 500);
  EXPECT_EQ(config.kubernetes.containerd_state_dir,
            "/run/containerd/io.containerd.runtime.v2.task/k8s.io");
  EXPECT_EQ(config.kubernetes.crio_state_dir, "/run/containers/storage/overlay-containers");
  EXPECT_EQ(config.kubernetes.cgroup_cache_entries, 4096u);
  EXPECT_EQ(config.collectors.diskstats.utilization_window, absl::Seconds(10));
}

TEST(ConfigTest, DocumentedExampleEqualsBuiltInDefaults) {
  absl::StatusOr<Config> config = LoadConfigFile(SourcePath("config/diskidle.yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(DumpConfig(*config), kDefaults);
}

TEST(ConfigTest, DocumentedExampleSetsEveryKey) {
  // Every key of the dump must appear in the documented example, so the example
  // documents the whole configuration.
  std::ifstream in(SourcePath("config/diskidle.yaml"));
  std::string example((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream dump(kDefaults);
  std::string line;
  while (std::getline(dump, line)) {
    std::string key = line.substr(0, line.find(':'));
    key = key.substr(key.find_first_not_of(' '));
    EXPECT_THAT(example, HasSubstr(key + ":")) << "config/diskidle.yaml lacks " << key;
  }
}

TEST(ConfigTest, MinimalExampleParsesWithOverrides) {
  absl::StatusOr<Config> config = LoadConfigFile(SourcePath("config/minimal.yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_NE(DumpConfig(*config), kDefaults);
}

TEST(ConfigTest, EveryKeyIsRead) {
  absl::StatusOr<Config> config = ParseConfig(R"(
web:
  listen_address: "127.0.0.1:9999"
  telemetry_path: /m
paths:
  procfs: /host/proc
  sysfs: /host/sys
collectors:
  bio:
    enabled: false
    attach: raw_tp
    writeback_attribution: false
    journal_attribution: False
    size_buckets_bytes: [0, 4096, 1048576]
    exited_process_ttl: 2s
    max_processes: 50
    max_comms: 7
    bio_map_entries: 64
    process_map_entries: 32
    dirtier_map_entries: 48
  diskstats:
    enabled: False
    device_include: "loop\\d+"
    device_exclude: ""
    utilization_window: 1m
    utilization_sample_interval: 500ms
  syscalls:
    enabled: true
    attach: fentry
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->web.listen_address, (ListenAddress{"127.0.0.1", 9999}));
  EXPECT_EQ(config->web.telemetry_path, "/m");
  EXPECT_EQ(config->paths.procfs, "/host/proc");
  EXPECT_EQ(config->paths.sysfs, "/host/sys");
  const BioCollectorConfig& bio = config->collectors.bio;
  EXPECT_FALSE(bio.enabled);
  EXPECT_EQ(bio.attach, AttachMode::kRawTp);
  EXPECT_FALSE(bio.writeback_attribution);
  EXPECT_FALSE(bio.journal_attribution);
  EXPECT_EQ(bio.size_buckets_bytes, (std::vector<uint64_t>{0, 4096, 1048576}));
  EXPECT_EQ(bio.exited_process_ttl, absl::Seconds(2));
  EXPECT_EQ(bio.max_processes, 50);
  EXPECT_EQ(bio.max_comms, 7);
  EXPECT_EQ(bio.bio_map_entries, 64u);
  EXPECT_EQ(bio.process_map_entries, 32u);
  EXPECT_EQ(bio.dirtier_map_entries, 48u);
  const DiskstatsCollectorConfig& ds = config->collectors.diskstats;
  EXPECT_FALSE(ds.enabled);
  EXPECT_EQ(ds.device_include, "loop\\d+");
  EXPECT_EQ(ds.device_exclude, "");
  EXPECT_EQ(ds.utilization_window, absl::Minutes(1));
  EXPECT_EQ(ds.utilization_sample_interval, absl::Milliseconds(500));
  EXPECT_TRUE(config->collectors.syscalls.enabled);
  EXPECT_EQ(config->collectors.syscalls.attach, SyscallAttachMode::kFentry);

  // And the dump round-trips, including the regex's backslash and the empty string.
  absl::StatusOr<Config> again = ParseConfig(DumpConfig(*config));
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << DumpConfig(*config);
  EXPECT_EQ(DumpConfig(*again), DumpConfig(*config));
}

TEST(ConfigTest, ThreadAndKubernetesLabelsAndKeys) {
  absl::StatusOr<Config> config = ParseConfig(R"(
collectors:
  bio:
    labels: [op, container, device, namespace, syscall]
    process_labels: [thread, pod, namespace, device]
    max_threads: 3
kubernetes:
  cgroup2_mount: /host/sys/fs/cgroup
  containerd_state_dir: /host/run/containerd/io.containerd.runtime.v2.task/k8s.io
  crio_state_dir: /host/run/containers/storage/overlay-containers
  cgroup_cache_entries: 100
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const BioCollectorConfig& bio = config->collectors.bio;
  // Written back in the schema's order, whatever the file's.
  EXPECT_EQ(bio.labels,
            (std::vector<std::string>{"device", "namespace", "container", "syscall", "op"}));
  EXPECT_EQ(bio.process_labels,
            (std::vector<std::string>{"device", "namespace", "pod", "thread"}));
  EXPECT_EQ(bio.max_threads, 3);
  EXPECT_TRUE(WantsThreadLabel(bio));
  EXPECT_TRUE(WantsPodLabels(bio));
  EXPECT_EQ(config->kubernetes.cgroup2_mount, "/host/sys/fs/cgroup");
  EXPECT_EQ(config->kubernetes.containerd_state_dir,
            "/host/run/containerd/io.containerd.runtime.v2.task/k8s.io");
  EXPECT_EQ(config->kubernetes.crio_state_dir, "/host/run/containers/storage/overlay-containers");
  EXPECT_EQ(config->kubernetes.cgroup_cache_entries, 100u);
  absl::StatusOr<Config> again = ParseConfig(DumpConfig(*config));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *config);

  // Each label alone turns on what it needs, in either view.
  for (const char* pod_label : {"namespace", "pod", "container"}) {
    BioCollectorConfig only;
    only.process_labels.push_back(pod_label);
    EXPECT_TRUE(WantsPodLabels(only)) << pod_label;
    EXPECT_FALSE(WantsThreadLabel(only)) << pod_label;
  }
  BioCollectorConfig thread_only;
  thread_only.labels.push_back("thread");
  EXPECT_TRUE(WantsThreadLabel(thread_only));
  EXPECT_FALSE(WantsPodLabels(thread_only));
}

TEST(ConfigTest, ThreadAndKubernetesErrorsAreOneLine) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  for (const Case& c : {
           Case{"collectors:\n  bio:\n    labels: [device, threads]\n",
                "config line 3: collectors.bio.labels[1]: expected a list of label names out of "
                "[device, namespace, pod, container, comm, thread, syscall, op], each at most "
                "once, got \"threads\""},
           Case{"collectors:\n  bio:\n    process_labels: [pod, pod]\n",
                "config line 3: collectors.bio.process_labels[1]: expected a list of label names "
                "out of [device, namespace, pod, container, pid, comm, thread, syscall, op], "
                "each at most once; \"pod\" is listed twice"},
           Case{"collectors:\n  bio:\n    max_threads: 0\n",
                "config line 3: collectors.bio.max_threads: expected an integer from 1 to "
                "100000, got \"0\""},
           Case{"kubernetes:\n  containerd_state_dir: \"\"\n",
                "config line 2: kubernetes.containerd_state_dir: expected a directory path, "
                "got \"\""},
           Case{"kubernetes:\n  cgroup_cache_entries: 0\n",
                "config line 2: kubernetes.cgroup_cache_entries: expected an integer from 1 to "
                "16777216, got \"0\""},
           Case{"kubernetes:\n  cgroup2_mount: sys/fs/cgroup\n",
                "config line 2: kubernetes.cgroup2_mount: expected \"\" (find it in "
                "/proc/self/mountinfo) or an absolute path, got \"sys/fs/cgroup\""},
           Case{"kubernetes:\n  docker_state_dir: /x\n",
                "config line 2: kubernetes.docker_state_dir: "},
       }) {
    absl::StatusOr<Config> config = ParseConfig(c.yaml);
    ASSERT_FALSE(config.ok()) << c.yaml;
    const std::string message(config.status().message());
    EXPECT_THAT(message, StartsWith(c.message)) << c.yaml;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(ConfigTest, DumpOfDefaultsRoundTrips) {
  absl::StatusOr<Config> config = ParseConfig(kDefaults);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << kDefaults;
  EXPECT_EQ(DumpConfig(*config), kDefaults);
  EXPECT_EQ(config->collectors.diskstats.device_exclude,
            Config{}.collectors.diskstats.device_exclude);
}

TEST(ConfigTest, AwkwardStringsRoundTrip) {
  Config config;
  config.paths.procfs = "/it's a \"path\": with # and \\ and 'quotes'";
  config.collectors.diskstats.device_include = "^(sd[a-z]+|nvme\\d+n\\d+)$";
  absl::StatusOr<Config> again = ParseConfig(DumpConfig(config));
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << DumpConfig(config);
  EXPECT_EQ(again->paths.procfs, config.paths.procfs);
  EXPECT_EQ(again->collectors.diskstats.device_include, config.collectors.diskstats.device_include);
}

TEST(ConfigTest, PrometheusStyleDurations) {
  struct Case {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"500ms", absl::Milliseconds(500)}, {"10s", absl::Seconds(10)},
      {"5m", absl::Minutes(5)},           {"1h", absl::Hours(1)},
      {"1h30m", absl::Minutes(90)},       {"1m30s500ms", absl::Milliseconds(90500)},
      {"0", absl::ZeroDuration()},        {"1d", absl::Hours(24)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Config> config =
        ParseConfig(std::string("collectors:\n  bio:\n    exited_process_ttl: ") + c.text + "\n");
    ASSERT_TRUE(config.ok()) << c.text << ": " << config.status();
    EXPECT_EQ(config->collectors.bio.exited_process_ttl, c.want) << c.text;
    // The dump writes a duration that parses back to the same value.
    absl::StatusOr<Config> again = ParseConfig(DumpConfig(*config));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->collectors.bio.exited_process_ttl, c.want) << DumpConfig(*config);
  }
}

struct ErrorCase {
  const char* yaml;
  const char* message;  // the exact one-line error
};

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesKeyLineAndExpectation) {
  absl::StatusOr<Config> config = ParseConfig(GetParam().yaml);
  ASSERT_FALSE(config.ok()) << GetParam().yaml;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(config.status().message()), GetParam().message);
  EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{"web:\n  listen_adress: ':9436'\n",
                  "config line 2: web.listen_adress: unknown key; expected one of "
                  "listen_address, telemetry_path"},
        ErrorCase{"colectors: {}\n",
                  "config line 1: colectors: unknown key; expected one of web, paths, "
                  "collectors, kubernetes, debug"},
        ErrorCase{"collectors:\n  bio:\n    max_processes: many\n",
                  "config line 3: collectors.bio.max_processes: expected an integer from 0 to "
                  "1000000, got \"many\""},
        ErrorCase{"collectors:\n  bio:\n    max_processes: -1\n",
                  "config line 3: collectors.bio.max_processes: expected an integer from 0 to "
                  "1000000, got \"-1\""},
        // libstdc++ overflows on these (found by the config fuzzer): refused first.
        ErrorCase{"collectors:\n  diskstats:\n    device_exclude: 'a\\88888888888'\n",
                  "config line 3: collectors.diskstats.device_exclude: expected a regular "
                  "expression (ECMAScript syntax), got \"a\\\\88888888888\": back-references "
                  "(\\1, \\2, ...) are not supported"},
        ErrorCase{"collectors:\n  diskstats:\n    device_include: 'a{1,99999999999}'\n",
                  "config line 3: collectors.diskstats.device_include: expected a regular "
                  "expression (ECMAScript syntax), got \"a{1,99999999999}\": repetition counts "
                  "({n,m}) above 1000 are not supported"},
        ErrorCase{"collectors:\n  bio:\n    labels: [device, pid]\n",
                  "config line 3: collectors.bio.labels[1]: expected a list of label names out of "
                  "[device, namespace, pod, container, comm, thread, syscall, op], each at most "
                  "once, got \"pid\""},
        ErrorCase{"collectors:\n  bio:\n    process_labels: [pid, pid]\n",
                  "config line 3: collectors.bio.process_labels[1]: expected a list of label names "
                  "out of [device, namespace, pod, container, pid, comm, thread, syscall, op], each "
                  "at most once; \"pid\" is listed twice"},
        ErrorCase{"collectors:\n  bio:\n    max_comms: 1.5\n",
                  "config line 3: collectors.bio.max_comms: expected an integer from 1 to "
                  "100000, got \"1.5\""},
        ErrorCase{"collectors:\n  bio:\n    bio_map_entries: 99999999999999999999999\n",
                  "config line 3: collectors.bio.bio_map_entries: expected an integer from 1 to "
                  "16777216, got \"99999999999999999999999\""},
        ErrorCase{"collectors:\n  bio:\n    process_map_entries: [1]\n",
                  "config line 3: collectors.bio.process_map_entries: expected an integer from "
                  "1 to 16777216, got a list"},
        ErrorCase{"collectors:\n  bio:\n    enabled: yes\n",
                  "config line 3: collectors.bio.enabled: expected true or false, got \"yes\""},
        ErrorCase{"collectors:\n  bio:\n    attach: fentry\n",
                  "config line 3: collectors.bio.attach: expected one of auto, tp_btf, raw_tp, "
                  "got \"fentry\""},
        ErrorCase{"collectors:\n  syscalls:\n    attach: kprobe\n",
                  "config line 3: collectors.syscalls.attach: expected one of auto, fentry, "
                  "tracepoint, got \"kprobe\""},
        ErrorCase{"collectors:\n  bio:\n    size_buckets_bytes: []\n",
                  "config line 3: collectors.bio.size_buckets_bytes: expected a list of "
                  "increasing byte sizes, each 0 (first only) or a power of two up to "
                  "4294967296, e.g. [0, 512, 4096], got an empty list"},
        ErrorCase{"collectors:\n  diskstats:\n    device_exclude: '*sda'\n",
                  "config line 3: collectors.diskstats.device_exclude: expected a regular "
                  "expression (ECMAScript syntax), got \"*sda\": '*' at position 1 repeats "
                  "nothing (a regular expression, not a shell glob: \"*sda\" is written "
                  "\".*sda\")"},
        ErrorCase{"collectors:\n  diskstats:\n    device_include: '+sda'\n",
                  "config line 3: collectors.diskstats.device_include: expected a regular "
                  "expression (ECMAScript syntax), got \"+sda\": '+' at position 1 repeats "
                  "nothing (a regular expression, not a shell glob: \"*sda\" is written "
                  "\".*sda\")"},
        ErrorCase{"collectors:\n  bio:\n    size_buckets_bytes: [0, 512, 500]\n",
                  "config line 3: collectors.bio.size_buckets_bytes[2]: expected a list of "
                  "increasing byte sizes, each 0 (first only) or a power of two up to "
                  "4294967296, e.g. [0, 512, 4096]; 500 is not a power of two (sizes are "
                  "counted in log2 buckets)"},
        ErrorCase{"collectors:\n  bio:\n    size_buckets_bytes:\n      - 4096\n      - 512\n",
                  "config line 5: collectors.bio.size_buckets_bytes[1]: expected a list of "
                  "increasing byte sizes, each 0 (first only) or a power of two up to "
                  "4294967296, e.g. [0, 512, 4096]; 512 is not greater than 4096"},
        ErrorCase{"collectors:\n  bio:\n    size_buckets_bytes: [512, 0]\n",
                  "config line 3: collectors.bio.size_buckets_bytes[1]: expected a list of "
                  "increasing byte sizes, each 0 (first only) or a power of two up to "
                  "4294967296, e.g. [0, 512, 4096]; 0 is only allowed first"},
        ErrorCase{"collectors:\n  bio:\n    size_buckets_bytes: 512\n",
                  "config line 3: collectors.bio.size_buckets_bytes: expected a list of "
                  "increasing byte sizes, each 0 (first only) or a power of two up to "
                  "4294967296, e.g. [0, 512, 4096], got \"512\""},
        ErrorCase{"collectors:\n  bio:\n    exited_process_ttl: 10\n",
                  "config line 3: collectors.bio.exited_process_ttl: expected a duration like "
                  "\"500ms\", \"10s\", \"5m\" or \"1h\", got \"10\""},
        ErrorCase{"collectors:\n  bio:\n    exited_process_ttl: 1m1h\n",
                  "config line 3: collectors.bio.exited_process_ttl: expected a duration like "
                  "\"500ms\", \"10s\", \"5m\" or \"1h\", got \"1m1h\""},
        ErrorCase{"collectors:\n  diskstats:\n    device_include: '(sd'\n",
                  "config line 3: collectors.diskstats.device_include: expected a regular "
                  "expression (ECMAScript syntax), got \"(sd\": Mismatched '(' and ')' in regular "
                  "expression"},
        ErrorCase{"collectors:\n  diskstats:\n    utilization_window: 1s\n",
                  "config line 3: collectors.diskstats.utilization_window: expected "
                  "utilization_window (1s) to be at least twice utilization_sample_interval (1s) "
                  "so the window holds two samples"},
        ErrorCase{"collectors:\n  diskstats:\n\n    utilization_sample_interval: 6s\n",
                  "config line 4: collectors.diskstats.utilization_sample_interval: expected "
                  "utilization_window (10s) to be at least twice utilization_sample_interval "
                  "(6s) so the window holds two samples"},
        ErrorCase{"collectors:\n  diskstats:\n    utilization_sample_interval: 1ms\n",
                  "config line 3: collectors.diskstats.utilization_sample_interval: expected a "
                  "duration from 100ms to 30m, got \"1ms\""},
        ErrorCase{"web:\n  listen_address: localhost\n",
                  "config line 2: web.listen_address: expected host:port or :port (e.g. "
                  "\":9436\", \"127.0.0.1:9436\", \"[::1]:9436\"), got \"localhost\" (no port)"},
        ErrorCase{"web:\n  listen_address: ':99999'\n",
                  "config line 2: web.listen_address: expected host:port or :port (e.g. "
                  "\":9436\", \"127.0.0.1:9436\", \"[::1]:9436\"), got \":99999\" (port must be "
                  "a number from 0 to 65535)"},
        ErrorCase{"web:\n  telemetry_path: metrics\n",
                  "config line 2: web.telemetry_path: expected a URL path starting with \"/\" "
                  "(e.g. \"/metrics\"), got \"metrics\""},
        ErrorCase{"web: [1, 2]\n",
                  "config line 1: web: expected a map with keys listen_address, telemetry_path, "
                  "got a list"},
        ErrorCase{"paths:\n  procfs: {a: 1}\n",
                  "config line 2: paths.procfs: expected a string, got a map"},
        ErrorCase{"paths:\n  procfs: ''\n",
                  "config line 2: paths.procfs: expected a directory path, got \"\""},
        ErrorCase{"web:\n  telemetry_path: /a\n  telemetry_path: /b\n",
                  "config line 3: web.telemetry_path: duplicate key"},
        ErrorCase{"just a string\n",
                  "config line 1: top level: expected a map with keys web, paths, collectors, "
                  "kubernetes, debug, got \"just a string\""},
        ErrorCase{"web: {listen_address: ':1'\n",
                  "config line 2: invalid YAML: end of map flow not found"},
        ErrorCase{"web: {}\n---\npaths: {}\n",
                  "config line 2: top level: expected a single YAML document, got more"},
        // Found by the fuzzer: yaml-cpp's LoadAll never returns on this.
        ErrorCase{"&collectors.bio.attacha,\n",
                  "config line 1: top level: expected a single YAML document, got more"},
        // Found by the fuzzer: yaml-cpp quotes a raw control character.
        ErrorCase{"web: \"\\\x01\"\n",
                  "config line 1: invalid YAML: unknown escape character: \\x01"}),
    // Stable test names (ctest discovers them at build time, runs them later).
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return "Case" + std::to_string(info.index);
    });

// The check for a glob written as a regex ("*sda") must not catch what is a
// quantifier only at first sight: a group's "(?:", an escaped "\(", a "(" in
// brackets.
TEST(ConfigTest, RegexesWithQuantifierLookalikesAreAccepted) {
  for (const char* re : {"(?:sd|vd)\\d+", "a\\(*", "[(*]x", "sd|vd"}) {
    auto config = ParseConfig(
        absl::StrCat("collectors:\n  diskstats:\n    device_include: '", re, "'\n"), "config");
    ASSERT_TRUE(config.ok()) << re << ": " << config.status();
    EXPECT_EQ(config->collectors.diskstats.device_include, re);
  }
}

TEST(ConfigTest, NullSectionsAndNullRegexesAreEmpty) {
  absl::StatusOr<Config> config =
      ParseConfig("web:\ncollectors:\n  diskstats:\n    device_exclude:\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->web.listen_address.ToString(), ":9436");
  EXPECT_EQ(config->collectors.diskstats.device_exclude, "");
}

TEST(ConfigTest, StringsMustBePrintableUtf8) {
  absl::StatusOr<Config> ok = ParseConfig("paths:\n  procfs: \"/mnt/gr\u00f6\u00dfe/proc\"\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->paths.procfs,
            "/mnt/gr\xc3\xb6\xc3\x9f"
            "e/proc");
  // Found by the fuzzer: invalid UTF-8 did not survive DumpConfig.
  for (const char* bad : {"/p\xff", "/p\xc3", "/p\xe0\x80\x80", "/p\x7f"}) {
    absl::StatusOr<Config> config = ParseConfig(std::string("paths:\n  procfs: '") + bad + "'\n");
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_THAT(std::string(config.status().message()),
                StartsWith("config line 2: paths.procfs: expected printable UTF-8 text"));
  }
}

TEST(ConfigTest, IPv6AndHostPortAccepted) {
  for (const char* address : {":9436", "127.0.0.1:1", "[::1]:9436", "[::]:0", "node1:65535"}) {
    absl::StatusOr<Config> config =
        ParseConfig(std::string("web:\n  listen_address: '") + address + "'\n");
    ASSERT_TRUE(config.ok()) << address << ": " << config.status();
    EXPECT_EQ(config->web.listen_address.ToString(), address);
  }
  for (const char* address :
       {"::1:9436", "[::1]", "host:", "host:port", ":-1", "300.1.1.1:1", "[]:1", "bad host:1"}) {
    EXPECT_FALSE(ParseConfig(std::string("web:\n  listen_address: '") + address + "'\n").ok())
        << address;
  }
}

TEST(ConfigTest, SourceNamesTheFile) {
  absl::StatusOr<Config> config = ParseConfig("web:\n  nope: 1\n", "/etc/diskidle.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("/etc/diskidle.yaml line 2: web.nope: "));
}

TEST(ConfigTest, LoadConfigFileErrorsNameTheFile) {
  absl::StatusOr<Config> missing = LoadConfigFile("/nonexistent/diskidle.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/diskidle.yaml"));

  char dir_template[] = "/tmp/diskidle-config-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string path = std::string(dir_template) + "/bad.yaml";
  { std::ofstream(path) << "collectors:\n  bio:\n    max_comms: -3\n"; }
  absl::StatusOr<Config> bad = LoadConfigFile(path);
  std::remove(path.c_str());
  rmdir(dir_template);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              StartsWith(path + " line 3: collectors.bio.max_comms: expected an integer"));
}

// One change per key of the schema, each to a valid non-default value.
struct Mutation {
  std::string key;
  std::function<void(Config&)> apply;
};

std::vector<Mutation> OneChangePerKey() {
  return {
      {"web.listen_address", [](Config& c) { c.web.listen_address.port = 1; }},
      {"web.listen_address", [](Config& c) { c.web.listen_address.host = "::1"; }},
      {"web.telemetry_path", [](Config& c) { c.web.telemetry_path = "/m"; }},
      {"paths.procfs", [](Config& c) { c.paths.procfs = "/host/proc"; }},
      {"paths.sysfs", [](Config& c) { c.paths.sysfs = "/host/sys"; }},
      {"collectors.bio.enabled", [](Config& c) { c.collectors.bio.enabled = false; }},
      {"collectors.bio.attach", [](Config& c) { c.collectors.bio.attach = AttachMode::kRawTp; }},
      {"collectors.bio.writeback_attribution",
       [](Config& c) { c.collectors.bio.writeback_attribution = false; }},
      {"collectors.bio.journal_attribution",
       [](Config& c) { c.collectors.bio.journal_attribution = false; }},
      {"collectors.bio.size_buckets_bytes",
       [](Config& c) {
         c.collectors.bio.size_buckets_bytes = {0, 4096};
       }},
      {"collectors.bio.exited_process_ttl",
       [](Config& c) { c.collectors.bio.exited_process_ttl = absl::Seconds(61); }},
      {"collectors.bio.labels",
       [](Config& c) { c.collectors.bio.labels = {"device", "op"}; }},
      {"collectors.bio.max_processes", [](Config& c) { c.collectors.bio.max_processes = 7; }},
      {"collectors.bio.process_labels",
       [](Config& c) { c.collectors.bio.process_labels = {"pid", "comm"}; }},
      {"collectors.bio.process_histogram",
       [](Config& c) { c.collectors.bio.process_histogram = true; }},
      {"collectors.bio.max_comms", [](Config& c) { c.collectors.bio.max_comms = 9; }},
      {"collectors.bio.max_threads", [](Config& c) { c.collectors.bio.max_threads = 11; }},
      {"collectors.bio.bio_map_entries", [](Config& c) { c.collectors.bio.bio_map_entries = 64; }},
      {"collectors.bio.process_map_entries",
       [](Config& c) { c.collectors.bio.process_map_entries = 32; }},
      {"collectors.bio.dirtier_map_entries",
       [](Config& c) { c.collectors.bio.dirtier_map_entries = 48; }},
      {"collectors.diskstats.enabled", [](Config& c) { c.collectors.diskstats.enabled = false; }},
      {"collectors.diskstats.device_include",
       [](Config& c) { c.collectors.diskstats.device_include = "sd.*"; }},
      {"collectors.diskstats.device_exclude",
       [](Config& c) { c.collectors.diskstats.device_exclude = ""; }},
      {"collectors.diskstats.utilization_window",
       [](Config& c) { c.collectors.diskstats.utilization_window = absl::Seconds(20); }},
      {"collectors.diskstats.utilization_sample_interval",
       [](Config& c) { c.collectors.diskstats.utilization_sample_interval = absl::Seconds(2); }},
      {"collectors.syscalls.enabled", [](Config& c) { c.collectors.syscalls.enabled = true; }},
      {"collectors.syscalls.attach",
       [](Config& c) { c.collectors.syscalls.attach = SyscallAttachMode::kTracepoint; }},
      {"collectors.syscalls.max_processes",
       [](Config& c) { c.collectors.syscalls.max_processes = 5; }},
      {"collectors.syscalls.exited_process_ttl",
       [](Config& c) { c.collectors.syscalls.exited_process_ttl = absl::Seconds(30); }},
      {"collectors.syscalls.map_entries",
       [](Config& c) { c.collectors.syscalls.map_entries = 128; }},
      {"kubernetes.cgroup2_mount",
       [](Config& c) { c.kubernetes.cgroup2_mount = "/host/sys/fs/cgroup"; }},
      {"kubernetes.containerd_state_dir",
       [](Config& c) { c.kubernetes.containerd_state_dir = "/host/run/containerd"; }},
      {"kubernetes.crio_state_dir", [](Config& c) { c.kubernetes.crio_state_dir = "/host/crio"; }},
      {"kubernetes.cgroup_cache_entries",
       [](Config& c) { c.kubernetes.cgroup_cache_entries = 10; }},
      {"debug.stacks.enabled", [](Config& c) { c.debug.stacks.enabled = true; }},
      {"collectors.disk_latency.enabled",
       [](Config& c) { c.collectors.disk_latency.enabled = !c.collectors.disk_latency.enabled; }},
      {"collectors.disk_latency.attach",
       [](Config& c) { c.collectors.disk_latency.attach = AttachMode::kRawTp; }},
  };
}

TEST(ConfigSchemaTest, TheTableBelowCoversEveryKey) {
  std::set<std::string> mutated;
  for (const Mutation& m : OneChangePerKey()) mutated.insert(m.key);
  std::vector<std::string> keys = ConfigKeyPaths();
  EXPECT_EQ(mutated, std::set<std::string>(keys.begin(), keys.end()));
  EXPECT_EQ(keys.size(), std::set<std::string>(keys.begin(), keys.end()).size()) << "a key twice";
}

TEST(ConfigSchemaTest, EveryFieldTakesPartInEquality) {
  EXPECT_EQ(Config{}, Config{});
  for (const Mutation& m : OneChangePerKey()) {
    Config changed;
    m.apply(changed);
    EXPECT_NE(changed, Config{}) << m.key;
    EXPECT_FALSE(changed == Config{}) << m.key;
  }
}

TEST(ConfigSchemaTest, EveryFieldIsDumpedAndParsedBack) {
  for (const Mutation& m : OneChangePerKey()) {
    Config changed;
    m.apply(changed);
    absl::StatusOr<Config> again = ParseConfig(DumpConfig(changed));
    ASSERT_TRUE(again.ok()) << m.key << ": " << again.status() << "\n" << DumpConfig(changed);
    EXPECT_EQ(*again, changed) << m.key << "\n" << DumpConfig(changed);
  }
}

TEST(ConfigReloadTest, RestartOnlyKeysAreTheDocumentedOnes) {
  // The listener, the paths and what is loaded into the kernel; the diskstats
  // switch too (the collector set is built at start); and what decides which
  // series exist (a new label set or bucket would start series with history).
  EXPECT_THAT(RestartOnlyKeyPaths(),
              ElementsAre("web.listen_address", "web.telemetry_path", "paths.procfs", "paths.sysfs",
                          "collectors.bio.enabled", "collectors.bio.attach",
                          "collectors.bio.writeback_attribution",
                          "collectors.bio.journal_attribution",
                          "collectors.bio.size_buckets_bytes", "collectors.bio.labels",
                          "collectors.bio.process_labels", "collectors.bio.process_histogram",
                          "collectors.bio.bio_map_entries", "collectors.bio.process_map_entries",
                          "collectors.bio.dirtier_map_entries",
                          "collectors.diskstats.enabled", "collectors.syscalls.enabled",
                          "collectors.syscalls.attach", "collectors.syscalls.map_entries",
                          "collectors.disk_latency.enabled", "collectors.disk_latency.attach",
                          "kubernetes.cgroup2_mount", "kubernetes.containerd_state_dir",
                          "kubernetes.crio_state_dir", "kubernetes.cgroup_cache_entries",
                          "debug.stacks.enabled"));
}

TEST(ConfigReloadTest, RestartOnlyChangeIsKeptAndReported) {
  std::vector<std::string> restart_only = RestartOnlyKeyPaths();
  std::set<std::string> restart_only_set(restart_only.begin(), restart_only.end());
  for (const Mutation& m : OneChangePerKey()) {
    if (restart_only_set.count(m.key) == 0) continue;
    const Config running;
    Config next;
    next.collectors.bio.max_comms = 42;  // a reloadable change alongside
    m.apply(next);
    ReloadPlan plan = PlanReload(running, next);
    EXPECT_THAT(plan.needs_restart, ElementsAre(m.key));
    Config want = running;
    want.collectors.bio.max_comms = 42;
    EXPECT_EQ(plan.config, want) << m.key << " was applied, or max_comms was not";
  }
}

TEST(ConfigReloadTest, ReloadableChangeIsAppliedAndNotReported) {
  std::vector<std::string> restart_only = RestartOnlyKeyPaths();
  std::set<std::string> restart_only_set(restart_only.begin(), restart_only.end());
  int reloadable = 0;
  for (const Mutation& m : OneChangePerKey()) {
    if (restart_only_set.count(m.key) > 0) continue;
    ++reloadable;
    Config running;
    running.paths.procfs = "/running/proc";
    Config next;
    m.apply(next);
    ReloadPlan plan = PlanReload(running, next);
    EXPECT_THAT(plan.needs_restart, ElementsAre("paths.procfs")) << m.key;
    Config want = next;
    want.paths.procfs = "/running/proc";
    EXPECT_EQ(plan.config, want) << m.key;
  }
  EXPECT_EQ(reloadable, 10);
}

TEST(ConfigReloadTest, NoChangeReportsNothing) {
  Config running;
  running.web.listen_address = {"127.0.0.1", 1};
  ReloadPlan plan = PlanReload(running, running);
  EXPECT_THAT(plan.needs_restart, IsEmpty());
  EXPECT_EQ(plan.config, running);
}

TEST(ConfigReloadTest, SeveralRestartOnlyChangesAreListedInSchemaOrder) {
  Config next;
  next.collectors.diskstats.enabled = false;
  next.web.listen_address.port = 1;
  ReloadPlan plan = PlanReload(Config{}, next);
  EXPECT_THAT(plan.needs_restart,
              ElementsAre("web.listen_address", "collectors.diskstats.enabled"));
  EXPECT_EQ(plan.config, Config{});
}

TEST(ConfigReloadTest, DocumentedExampleMarksExactlyTheRestartOnlyKeys) {
  // config/diskidle.yaml ends each restart-only key's line with "# restart-only".
  std::ifstream in(SourcePath("config/diskidle.yaml"));
  ASSERT_TRUE(in) << "config/diskidle.yaml";
  std::vector<std::string> sections;  // the key path down to the current line
  std::vector<std::string> marked;
  std::string line;
  while (std::getline(in, line)) {
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    sections.resize(indent / 2);
    sections.push_back(line.substr(indent, colon - indent));
    if (line.find("# restart-only") != std::string::npos) {
      std::string path;
      for (const std::string& s : sections) path += (path.empty() ? "" : ".") + s;
      marked.push_back(path);
    }
  }
  EXPECT_EQ(marked, RestartOnlyKeyPaths());
}

struct GoodAddress {
  const char* text;
  const char* host;
  uint16_t port;
  bool ipv6;
};

TEST(ListenAddressTest, AcceptsAndRoundTrips) {
  const GoodAddress cases[] = {
      {":9436", "", 9436, false},
      {":0", "", 0, false},  // tests bind port 0 and read the port from the log
      {"0.0.0.0:9436", "0.0.0.0", 9436, false},
      {"127.0.0.1:9436", "127.0.0.1", 9436, false},
      {"[::]:9436", "::", 9436, true},
      {"[::1]:9436", "::1", 9436, true},
      {"[fe80::1:2]:65535", "fe80::1:2", 65535, true},
      {"[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1, true},
      {"localhost:9436", "localhost", 9436, false},
      {"node-1.example.com:80", "node-1.example.com", 80, false},
  };
  for (const GoodAddress& c : cases) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
    ASSERT_TRUE(address.ok()) << c.text << ": " << address.status();
    EXPECT_EQ(address->host, c.host) << c.text;
    EXPECT_EQ(address->port, c.port) << c.text;
    EXPECT_EQ(address->IsIpv6(), c.ipv6) << c.text;
    EXPECT_EQ(address->ToString(), c.text);
    absl::StatusOr<ListenAddress> again = ParseListenAddress(address->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *address);
  }
  EXPECT_EQ(ListenAddress{}.ToString(), ":9436");
}

struct BadAddress {
  const char* text;
  const char* why;  // the part in parentheses
};

TEST(ListenAddressTest, RefusesWithOneLineNamingInputAndExample) {
  const BadAddress cases[] = {
      {"", "no port"},
      {"localhost", "no port"},
      {"9436", "no port"},
      {"[::1]", "no port"},
      {"localhost:", "port must be a number from 0 to 65535"},
      {":65536", "port must be a number from 0 to 65535"},
      {":99999999999", "port must be a number from 0 to 65535"},
      {":-1", "port must be a number from 0 to 65535"},
      {":+1", "port must be a number from 0 to 65535"},
      {"host:http", "port must be a number from 0 to 65535"},
      {"::1:9436", "put an IPv6 address in brackets, e.g. \"[::1]:9436\""},
      {"::9436", "put an IPv6 address in brackets, e.g. \"[::1]:9436\""},
      {"300.1.1.1:9436", "not an IPv4 address"},
      {"1.2.3:9436", "not an IPv4 address"},
      {"[]:9436", "empty host in brackets; \"[::]:9436\" is every IPv6 address"},
      {"[::1:9436", "unbalanced brackets"},
      {"::1]:9436", "put an IPv6 address in brackets, e.g. \"[::1]:9436\""},
      {"a]:9436", "unbalanced brackets"},
      {"[::1]9436", "expected \":port\" after \"]\""},
      {"[1.2.3.4]:9436", "not an IPv6 address in brackets"},
      {"[localhost]:9436", "not an IPv6 address in brackets"},
      {"ho$t:9436", "the host must be an IP address or a DNS name of letters, digits, '-' and '.'"},
      {"a..b:9436", "the host must be an IP address or a DNS name of letters, digits, '-' and '.'"},
      {"-a:9436", "the host must be an IP address or a DNS name of letters, digits, '-' and '.'"},
      {"h\xc3\xb6st:9436",
       "the host must be an IP address or a DNS name of letters, digits, '-' and '.'"},
      {" :9436", "no spaces or control characters"},
      {":9436 ", "no spaces or control characters"},
      {"localhost:94\n36", "no spaces or control characters"},
  };
  for (const BadAddress& c : cases) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
    ASSERT_FALSE(address.ok()) << c.text;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    std::string message(address.status().message());
    EXPECT_THAT(message, StartsWith("expected host:port or :port (e.g. \":9436\", "
                                    "\"127.0.0.1:9436\", \"[::1]:9436\"), got \""))
        << c.text;
    EXPECT_THAT(message, HasSubstr(std::string(" (") + c.why + ")")) << c.text;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // The exact whole message, once.
  absl::StatusOr<ListenAddress> address = ParseListenAddress("::1:9436");
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(std::string(address.status().message()),
            "expected host:port or :port (e.g. \":9436\", \"127.0.0.1:9436\", \"[::1]:9436\"), "
            "got \"::1:9436\" (put an IPv6 address in brackets, e.g. \"[::1]:9436\")");
}

TEST(ListenAddressTest, ConfigKeyUsesTheSameParser) {
  absl::StatusOr<Config> config = ParseConfig("web:\n  listen_address: '[::]:9436'\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->web.listen_address, (ListenAddress{"::", 9436}));
  absl::StatusOr<Config> bad = ParseConfig("web:\n  listen_address: '300.1.1.1:1'\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "config line 2: web.listen_address: expected host:port or :port (e.g. \":9436\", "
            "\"127.0.0.1:9436\", \"[::1]:9436\"), got \"300.1.1.1:1\" (not an IPv4 address)");
}

}  // namespace
}  // namespace diskidle
