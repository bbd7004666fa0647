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

}  // namespace
}  // namespace diskidle
