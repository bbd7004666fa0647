#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace diskidle {
namespace {

using ::testing::HasSubstr;
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
    size_buckets_bytes: [0, 4096, 1048576]
    exited_process_ttl: 2s
    max_processes: 50
    max_comms: 7
    bio_map_entries: 64
    process_map_entries: 32
  diskstats:
    enabled: False
    device_include: "loop\\d+"
    device_exclude: ""
    utilization_window: 1m
    utilization_sample_interval: 500ms
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->web.listen_address, (ListenAddress{"127.0.0.1", 9999}));
  EXPECT_EQ(config->web.telemetry_path, "/m");
  EXPECT_EQ(config->paths.procfs, "/host/proc");
  EXPECT_EQ(config->paths.sysfs, "/host/sys");
  const BioCollectorConfig& bio = config->collectors.bio;
  EXPECT_FALSE(bio.enabled);
  EXPECT_EQ(bio.attach, AttachMode::kRawTp);
  EXPECT_EQ(bio.size_buckets_bytes, (std::vector<uint64_t>{0, 4096, 1048576}));
  EXPECT_EQ(bio.exited_process_ttl, absl::Seconds(2));
  EXPECT_EQ(bio.max_processes, 50);
  EXPECT_EQ(bio.max_comms, 7);
  EXPECT_EQ(bio.bio_map_entries, 64u);
  EXPECT_EQ(bio.process_map_entries, 32u);
  const DiskstatsCollectorConfig& ds = config->collectors.diskstats;
  EXPECT_FALSE(ds.enabled);
  EXPECT_EQ(ds.device_include, "loop\\d+");
  EXPECT_EQ(ds.device_exclude, "");
  EXPECT_EQ(ds.utilization_window, absl::Minutes(1));
  EXPECT_EQ(ds.utilization_sample_interval, absl::Milliseconds(500));

  // And the dump round-trips, including the regex's backslash and the empty string.
  absl::StatusOr<Config> again = ParseConfig(DumpConfig(*config));
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << DumpConfig(*config);
  EXPECT_EQ(DumpConfig(*again), DumpConfig(*config));
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
                  "collectors"},
        ErrorCase{"collectors:\n  bio:\n    max_processes: many\n",
                  "config line 3: collectors.bio.max_processes: expected an integer from 1 to "
                  "1000000, got \"many\""},
        ErrorCase{"collectors:\n  bio:\n    max_processes: 0\n",
                  "config line 3: collectors.bio.max_processes: expected an integer from 1 to "
                  "1000000, got \"0\""},
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
                  "got \"just a string\""},
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
  for (const char* address : {"::1:9436", "[::1]", "host:", "host:port", ":-1"}) {
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

}  // namespace
}  // namespace diskidle
