#include "collectors/readiness.h"

#include <gtest/gtest.h>

namespace diskidle {
namespace {

TEST(ReadinessTest, ReadyOnlyWhenEveryRequiredConditionIsMet) {
  Readiness readiness(/*require_bpf_attached=*/true, /*require_diskstats_read=*/true);
  EXPECT_FALSE(readiness.Ready());
  EXPECT_EQ(readiness.Missing(), "BPF program not attached yet; diskstats not read yet");
  readiness.SetDiskstatsRead();
  EXPECT_FALSE(readiness.Ready());
  EXPECT_EQ(readiness.Missing(), "BPF program not attached yet");
  readiness.SetBpfAttached();
  EXPECT_TRUE(readiness.Ready());
  EXPECT_EQ(readiness.Missing(), "");
}

TEST(ReadinessTest, ConditionsOfDisabledCollectorsAreMet) {
  Readiness bio_only(/*require_bpf_attached=*/true, /*require_diskstats_read=*/false);
  EXPECT_FALSE(bio_only.Ready());
  bio_only.SetBpfAttached();
  EXPECT_TRUE(bio_only.Ready());

  Readiness diskstats_only(/*require_bpf_attached=*/false, /*require_diskstats_read=*/true);
  EXPECT_FALSE(diskstats_only.Ready());
  diskstats_only.SetDiskstatsRead();
  EXPECT_TRUE(diskstats_only.Ready());

  EXPECT_TRUE(Readiness(false, false).Ready());
}

}  // namespace
}  // namespace diskidle
