#include "procfs/diskstats.h"
#include "procfs/device_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace diskidle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(DISKIDLE_TESTDATA_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(DiskstatsTest, TwentyFieldLine) {
  DiskstatsParseResult r = ParseDiskstats(
      " 254       0 vda 27936 5336 2179658 12496 13762 13783 1676856 7678 3 8084 20397 5908 2 "
      "159384 182 2055 39\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 1u);
  const DiskStats& d = r.disks[0];
  EXPECT_EQ(d.major, 254u);
  EXPECT_EQ(d.minor, 0u);
  EXPECT_EQ(d.name, "vda");
  EXPECT_EQ(d.field_count, 20);
  EXPECT_EQ(d.reads_completed, 27936u);
  EXPECT_EQ(d.reads_merged, 5336u);
  EXPECT_EQ(d.sectors_read, 2179658u);
  EXPECT_EQ(d.read_time_ms, 12496u);
  EXPECT_EQ(d.writes_completed, 13762u);
  EXPECT_EQ(d.writes_merged, 13783u);
  EXPECT_EQ(d.sectors_written, 1676856u);
  EXPECT_EQ(d.write_time_ms, 7678u);
  EXPECT_EQ(d.ios_in_progress, 3u);
  EXPECT_EQ(d.io_time_ms, 8084u);
  EXPECT_EQ(d.weighted_io_time_ms, 20397u);
  EXPECT_EQ(d.discards_completed, 5908u);
  EXPECT_EQ(d.discards_merged, 2u);
  EXPECT_EQ(d.sectors_discarded, 159384u);
  EXPECT_EQ(d.discard_time_ms, 182u);
  EXPECT_EQ(d.flush_requests, 2055u);
  EXPECT_EQ(d.flush_time_ms, 39u);
}

TEST(DiskstatsTest, EighteenFieldLineHasNoFlushes) {
  DiskstatsParseResult r = ParseDiskstats(Testdata("diskstats_18fields.txt"));
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 2u);
  EXPECT_EQ(r.disks[0].name, "sda");
  EXPECT_EQ(r.disks[0].field_count, 18);
  EXPECT_EQ(r.disks[0].discards_completed, 17u);
  EXPECT_EQ(r.disks[0].sectors_discarded, 2048u);
  EXPECT_EQ(r.disks[0].discard_time_ms, 9u);
  EXPECT_EQ(r.disks[0].flush_requests, 0u);
  EXPECT_EQ(r.disks[1].name, "dm-0");
  EXPECT_EQ(r.disks[1].discard_time_ms, 11u);
}

TEST(DiskstatsTest, FourteenFieldLineHasNoDiscardsOrFlushes) {
  DiskstatsParseResult r = ParseDiskstats(Testdata("diskstats_14fields.txt"));
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 3u);
  EXPECT_EQ(r.disks[0].field_count, 14);
  EXPECT_EQ(r.disks[0].weighted_io_time_ms, 92145u);
  EXPECT_EQ(r.disks[0].discards_completed, 0u);
  EXPECT_EQ(r.disks[2].name, "dm-0");
  EXPECT_EQ(r.disks[2].major, 253u);
}

TEST(DiskstatsTest, RealFixtureParsesEveryDevice) {
  DiskstatsParseResult r = ParseDiskstats(Testdata("diskstats_20fields.txt"));
  ASSERT_THAT(r.errors, IsEmpty());
  std::vector<std::string> names;
  for (const DiskStats& d : r.disks) {
    names.push_back(d.name);
    EXPECT_EQ(d.field_count, 20) << d.name;
  }
  EXPECT_THAT(names, ElementsAre("loop0", "loop1", "loop3", "nvme0n1", "nvme0n1p1", "nvme0n1p2",
                                 "sda", "sda1", "dm-0", "zram0", "sr0"));
  EXPECT_EQ(r.disks[2].flush_requests, 75190u);
}

TEST(DiskstatsTest, BlankLinesTrailingSpacesTabsAndCarriageReturnsAreFine) {
  DiskstatsParseResult r = ParseDiskstats(
      "\n   \n\t8\t0\tsda 1 2 3 4 5 6 7 8 9 10 11   \r\n\n 8 16 sdb 1 2 3 4 5 6 7 8 9 10 11");
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 2u);
  EXPECT_EQ(r.disks[0].weighted_io_time_ms, 11u);
  EXPECT_EQ(r.disks[1].name, "sdb");
}

TEST(DiskstatsTest, EmptyInput) {
  DiskstatsParseResult r = ParseDiskstats("");
  EXPECT_THAT(r.disks, IsEmpty());
  EXPECT_THAT(r.errors, IsEmpty());
}

TEST(DiskstatsTest, MaxUint64ParsesAndOneMoreIsMalformed) {
  DiskstatsParseResult r = ParseDiskstats(
      "8 0 sda 18446744073709551615 2 3 4 5 6 7 8 9 10 11\n"
      "8 1 sdb 18446744073709551616 2 3 4 5 6 7 8 9 10 11\n");
  ASSERT_EQ(r.disks.size(), 1u);
  EXPECT_EQ(r.disks[0].reads_completed, 18446744073709551615u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            "line 2 (\"sdb\"): field 4 is not an unsigned 64-bit integer: "
            "\"18446744073709551616\"");
}

TEST(DiskstatsTest, MalformedLinesAreReportedAndSkipped) {
  DiskstatsParseResult r = ParseDiskstats(Testdata("diskstats_malformed.txt"));
  std::vector<std::string> names;
  for (const DiskStats& d : r.disks) names.push_back(d.name);
  EXPECT_THAT(names, ElementsAre("sda", "loop1"));
  EXPECT_THAT(r.errors,
              ElementsAre("line 3: expected 14, 18 or 20 fields, got 4",
                          "line 4 (\"loop0\"): field 20 is not an unsigned 64-bit integer: \"abc\"",
                          "line 6 (\"dm-0\"): field 13 is not an unsigned 64-bit integer: "
                          "\"99999999999999999999999\""));
}

TEST(DiskstatsTest, BadFieldCountsAndNumbers) {
  struct Case {
    const char* line;
    const char* error;
  } cases[] = {
      {"8 0 sda 1 2 3 4 5 6 7 8 9 10", "line 1: expected 14, 18 or 20 fields, got 13"},
      {"8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12", "line 1: expected 14, 18 or 20 fields, got 15"},
      {"8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
       "line 1: expected 14, 18 or 20 fields, got 19"},
      {"x 0 sda 1 2 3 4 5 6 7 8 9 10 11",
       "line 1: expected numeric major and minor numbers, got \"x\" \"0\""},
      {"8 4294967296 sda 1 2 3 4 5 6 7 8 9 10 11",
       "line 1: expected numeric major and minor numbers, got \"8\" \"4294967296\""},
      {"8 0 sda -1 2 3 4 5 6 7 8 9 10 11",
       "line 1 (\"sda\"): field 4 is not an unsigned 64-bit integer: \"-1\""},
      {"8 0 sda 1 +2 3 4 5 6 7 8 9 10 11",
       "line 1 (\"sda\"): field 5 is not an unsigned 64-bit integer: \"+2\""},
      {"8 0 sda 1 2 3 4 5 6 7 8 9 10 1.5",
       "line 1 (\"sda\"): field 14 is not an unsigned 64-bit integer: \"1.5\""},
  };
  for (const Case& c : cases) {
    DiskstatsParseResult r = ParseDiskstats(c.line);
    EXPECT_THAT(r.disks, IsEmpty()) << c.line;
    EXPECT_THAT(r.errors, ElementsAre(c.error)) << c.line;
  }
}

TEST(DiskstatsTest, DeviceNamesOfAnyBytesBecomeValidLabelValues) {
  // Kernel device names are ASCII, but a label value must be valid UTF-8
  // whatever the file holds: the one sanitizer of model/label_text.h applies.
  DiskstatsParseResult r = ParseDiskstats("8 0 s\x01\xff 1 2 3 4 5 6 7 8 9 10 11\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 1u);
  EXPECT_EQ(r.disks[0].name, "s\\x01\\xff");
}

TEST(DeviceNamesTest, ADeviceGoneForTheTtlIsTakenOnceAndForgotten) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  constexpr char kTwo[] = "7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n7 1 loop1 1 2 3 4 5 6 7 8 9 10 11\n";
  constexpr char kOne[] = "7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n";
  constexpr uint32_t kLoop1 = 7 << 20 | 1;
  DeviceNames names;
  names.Update(kTwo, t0);
  names.Update(kOne, t0 + absl::Seconds(1));  // loop1 detached
  EXPECT_EQ(names.Name(kLoop1), "loop1") << "kept while gone";
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(5), absl::Seconds(10)), IsEmpty());
  names.Update("garbage\n", t0 + absl::Seconds(6));  // a broken read: no disk is gone for it
  names.Update(kOne, t0 + absl::Seconds(7));
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(11), absl::Seconds(10)),
              ElementsAre(std::pair<uint32_t, std::string>(kLoop1, "loop1")));
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(12), absl::Seconds(10)), IsEmpty()) << "once";
  EXPECT_EQ(names.Name(kLoop1), "unknown:7:1");
  EXPECT_EQ(names.Name(7 << 20), "loop0");
}

TEST(DeviceNamesTest, ADeviceThatComesBackIsNotGone) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  constexpr char kTwo[] = "7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n7 1 loop1 1 2 3 4 5 6 7 8 9 10 11\n";
  constexpr char kOne[] = "7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n";
  DeviceNames names;
  names.Update(kTwo, t0);
  names.Update(kOne, t0 + absl::Seconds(1));
  names.Update(kTwo, t0 + absl::Seconds(2));  // re-attached
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(100), absl::Seconds(10)), IsEmpty());
  names.Update(kOne, t0 + absl::Seconds(101));  // gone again: the clock starts anew
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(105), absl::Seconds(10)), IsEmpty());
  EXPECT_THAT(names.TakeGone(t0 + absl::Seconds(111), absl::Seconds(10)), testing::SizeIs(1));
}

TEST(DiskstatsTest, FieldsAppendedByFutureKernelsAreIgnored) {
  DiskstatsParseResult r =
      ParseDiskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.disks.size(), 1u);
  EXPECT_EQ(r.disks[0].field_count, 20);
  EXPECT_EQ(r.disks[0].flush_time_ms, 17u);
}

TEST(DiskstatsTest, DuplicateDeviceKeepsTheFirst) {
  DiskstatsParseResult r =
      ParseDiskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 0 sda 9 2 3 4 5 6 7 8 9 10 11\n");
  ASSERT_EQ(r.disks.size(), 1u);
  EXPECT_EQ(r.disks[0].reads_completed, 1u);
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("line 2: duplicate device \"sda\"")));
}

TEST(DiskstatsTest, LongGarbageIsBoundedInTheMessage) {
  std::string garbage = "8 0 sda " + std::string(5000, '7') + " 2 3 4 5 6 7 8 9 10 11";
  DiskstatsParseResult r = ParseDiskstats(garbage);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_LT(r.errors[0].size(), 120u);
}

}  // namespace
}  // namespace diskidle
