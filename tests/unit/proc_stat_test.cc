#include "procfs/proc_stat.h"

#include "gtest/gtest.h"

namespace diskidle {
namespace {

// A real line of /proc/<pid>/stat (Linux 6.18), with a comm that fights back.
constexpr char kStat[] =
    "4242 (evil) (name) S 1 4242 4242 0 -1 4194560 2767 0 0 0 17 9 0 0 20 0 1 0 "
    "123456 435490816 2223 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesis) {
  auto stat = ParseProcStat(kStat);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->utime_ticks, 17u);
  EXPECT_EQ(stat->stime_ticks, 9u);
  EXPECT_EQ(stat->starttime_ticks, 123456u);
  EXPECT_EQ(stat->vsize_bytes, 435490816u);
  EXPECT_EQ(stat->rss_pages, 2223u);
}

TEST(ProcStat, RejectsMalformedText) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("4242 no-parens S 1").ok());
  EXPECT_FALSE(ParseProcStat("4242 (short) S 1 2 3").ok());
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 4242 4242 0 -1 4194560 2767 0 0 0 abc 9 0 0 20 0 1 0 "
                             "123456 435490816 2223")
                   .ok());
}

TEST(ProcStat, BootTime) {
  auto btime = ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1795680000\nprocesses 99\n");
  ASSERT_TRUE(btime.ok());
  EXPECT_EQ(*btime, 1795680000u);
  EXPECT_FALSE(ParseBootTime("cpu 1\n").ok());
  EXPECT_FALSE(ParseBootTime("btime soon\n").ok());
}

}  // namespace
}  // namespace diskidle
