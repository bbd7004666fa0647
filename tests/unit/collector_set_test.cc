#include "collectors/collector_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "collectors/families.h"

namespace diskidle {
namespace {

using ::testing::DoubleEq;
using ::testing::Optional;

// A collector that appends one gauge `<name>_value` and then returns `result`.
class FakeCollector : public Collector {
 public:
  FakeCollector(std::string name, absl::Status result)
      : name_(std::move(name)), result_(std::move(result)) {}
  std::string_view Name() const override { return name_; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override {
    auto family = MakeFamily(name_ + "_value", "test", prometheus::MetricType::Gauge);
    AddSample(family, {}, 42);
    out.push_back(std::move(family));
    return result_;
  }

 private:
  std::string name_;
  absl::Status result_;
};

// The value of the sample of `family` whose labels include `label`=`value`
// (any sample when `label` is empty); nullopt when there is none. Compared with
// Optional(...), a missing series fails the test naming the call.
std::optional<double> Value(const std::vector<prometheus::MetricFamily>& families,
                            const std::string& family, const std::string& label = "",
                            const std::string& value = "") {
  for (const auto& f : families) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      bool match = label.empty();
      for (const auto& l : m.label) match |= l.name == label && l.value == value;
      if (match) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return std::nullopt;
}

TEST(CollectorSetTest, AFailingCollectorIsMarkedAndTheOthersStillExport) {
  CollectorSet set;
  set.Add(std::make_shared<FakeCollector>("good", absl::OkStatus()));
  set.Add(std::make_shared<FakeCollector>("bad", absl::UnavailableError("disk gone")));
  set.Add(std::make_shared<FakeCollector>("after", absl::OkStatus()));
  std::vector<prometheus::MetricFamily> out = set.Collect();

  EXPECT_THAT(Value(out, "diskidle_scrape_collector_success", "collector", "good"),
              Optional(DoubleEq(1)));
  EXPECT_THAT(Value(out, "diskidle_scrape_collector_success", "collector", "bad"),
              Optional(DoubleEq(0)));
  EXPECT_THAT(Value(out, "diskidle_scrape_collector_success", "collector", "after"),
              Optional(DoubleEq(1)));
  // Every collector's families are exported, the failing one's too (what it
  // appended before failing), and the one after it still ran.
  EXPECT_THAT(Value(out, "good_value"), Optional(DoubleEq(42)));
  EXPECT_THAT(Value(out, "bad_value"), Optional(DoubleEq(42)));
  EXPECT_THAT(Value(out, "after_value"), Optional(DoubleEq(42)));
  for (const char* name : {"good", "bad", "after"}) {
    EXPECT_TRUE(Value(out, "diskidle_scrape_collector_duration_seconds", "collector", name))
        << name;
  }
  EXPECT_THAT(Value(out, "diskidle_exporter_build_info"), Optional(DoubleEq(1)));

  auto status = set.LastStatus();
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[0], (std::pair<std::string, std::string>{"good", "ok"}));
  EXPECT_EQ(status[1], (std::pair<std::string, std::string>{"bad", "disk gone"}));
}

TEST(CollectorSetTest, ReplaceSwapsTheCollectorOfTheSameName) {
  CollectorSet set;
  set.Add(std::make_shared<FakeCollector>("diskstats", absl::InternalError("old")));
  auto old = set.Replace(std::make_shared<FakeCollector>("diskstats", absl::OkStatus()));
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->Name(), "diskstats");
  std::vector<prometheus::MetricFamily> out = set.Collect();
  EXPECT_THAT(Value(out, "diskidle_scrape_collector_success", "collector", "diskstats"),
              Optional(DoubleEq(1)));
  EXPECT_EQ(set.LastStatus().size(), 1u);
  EXPECT_EQ(set.Replace(std::make_shared<FakeCollector>("new", absl::OkStatus())), nullptr);
}

// Adds its programs' run counters, as the bio, syscall and disk-latency
// collectors each do.
class ProgramsCollector : public Collector {
 public:
  ProgramsCollector(std::string name, std::vector<ProgramRunStats> programs)
      : name_(std::move(name)), programs_(std::move(programs)) {}
  std::string_view Name() const override { return name_; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override {
    AddProgramRunFamilies(programs_, out);
    return absl::OkStatus();
  }

 private:
  std::string name_;
  std::vector<ProgramRunStats> programs_;
};

TEST(CollectorSetTest, FamiliesOfOneNameFromSeveralCollectorsAreExportedOnce) {
  CollectorSet set;
  set.Add(std::make_shared<ProgramsCollector>(
      "bio", std::vector<ProgramRunStats>{{"block_bio_queue_btf", 2'000'000'000, 7}}));
  set.Add(std::make_shared<FakeCollector>("between", absl::OkStatus()));
  set.Add(std::make_shared<ProgramsCollector>(
      "syscalls", std::vector<ProgramRunStats>{{"sys_enter_fsync", 500'000'000, 3},
                                               {"sys_exit_fsync", 0, 3}}));
  std::string text = set.Render();
  for (const char* family : {"diskidle_bpf_program_run_seconds_total",
                             "diskidle_bpf_program_runs_total"}) {
    const std::string type = std::string("# TYPE ") + family + " counter\n";
    const size_t at = text.find(type);
    ASSERT_NE(at, std::string::npos) << family;
    EXPECT_EQ(text.find(type, at + 1), std::string::npos) << family << " typed twice:\n" << text;
  }
  // Every program's series follows its family's one TYPE line.
  const size_t block = text.find("# TYPE diskidle_bpf_program_runs_total counter\n");
  const size_t next = text.find("# HELP", block);
  const std::string runs = text.substr(block, next - block);
  EXPECT_NE(runs.find("diskidle_bpf_program_runs_total{program=\"block_bio_queue_btf\"} 7\n"),
            std::string::npos) << runs;
  EXPECT_NE(runs.find("diskidle_bpf_program_runs_total{program=\"sys_enter_fsync\"} 3\n"),
            std::string::npos) << runs;
  EXPECT_NE(runs.find("diskidle_bpf_program_runs_total{program=\"sys_exit_fsync\"} 3\n"),
            std::string::npos) << runs;
  EXPECT_NE(text.find("diskidle_bpf_program_run_seconds_total{program=\"sys_enter_fsync\"} 0.5\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("between_value 42\n"), std::string::npos) << text;
}

TEST(CollectorSetTest, NoProgramsNoProgramFamilies) {
  std::vector<prometheus::MetricFamily> out;
  AddProgramRunFamilies({}, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace diskidle
