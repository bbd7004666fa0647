// Finding the cgroup2 mount in mountinfo text.
#include "kubernetes/cgroup_mount.h"

#include "gtest/gtest.h"

namespace diskidle {
namespace {

// This project's VM (Linux 6.18): v1 controllers and a controller-less cgroup2.
constexpr char kHybrid[] =
    "23 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A pure v2 systemd host: optional fields (shared:N) before the separator.
constexpr char kPureV2[] =
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
    "26 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "27 26 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(Cgroup2MountTest, Hybrid) {
  auto mount = FindCgroup2Mount(kHybrid);
  ASSERT_TRUE(mount.ok()) << mount.status();
  EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(mount->root, "/");
}

TEST(Cgroup2MountTest, PureV2) {
  auto mount = FindCgroup2Mount(kPureV2);
  ASSERT_TRUE(mount.ok()) << mount.status();
  EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(mount->root, "/");
}

TEST(Cgroup2MountTest, NoneIsNotFound) {
  constexpr char kV1Only[] =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
  EXPECT_TRUE(absl::IsNotFound(FindCgroup2Mount(kV1Only).status()));
  EXPECT_TRUE(absl::IsNotFound(FindCgroup2Mount("").status()));
  // A path named cgroup2 is not a cgroup2 file system.
  EXPECT_TRUE(
      absl::IsNotFound(FindCgroup2Mount("50 23 0:40 / /cgroup2 rw - tmpfs cgroup2 rw\n").status()));
  // Truncated lines do not crash.
  EXPECT_TRUE(absl::IsNotFound(FindCgroup2Mount("41 31 0:38 / /x rw -\n41 31\n").status()));
}

TEST(Cgroup2MountTest, WholeTreeWinsOverASubtreeAndEscapesAreDecoded) {
  // A container's own cgroup namespace mount shows a subtree; the host's
  // hierarchy bind-mounted (as the DaemonSet does) shows "/".
  constexpr char kInPod[] =
      "700 600 0:30 /../.. /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n"
      "701 600 0:30 / /host/sys\\040fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";
  auto mount = FindCgroup2Mount(kInPod);
  ASSERT_TRUE(mount.ok()) << mount.status();
  EXPECT_EQ(mount->mount_point, "/host/sys fs/cgroup");
  EXPECT_EQ(mount->root, "/");
  auto only_subtree =
      FindCgroup2Mount("700 600 0:30 /kubepods.slice /sys/fs/cgroup ro - cgroup2 cgroup rw\n");
  ASSERT_TRUE(only_subtree.ok());
  EXPECT_EQ(only_subtree->root, "/kubepods.slice");
}

TEST(Cgroup2MountTest, At) {
  auto mount = FindCgroup2MountAt(kHybrid, "/sys/fs/cgroup/unified");
  ASSERT_TRUE(mount.ok()) << mount.status();
  EXPECT_EQ(mount->root, "/");
  EXPECT_FALSE(FindCgroup2MountAt(kHybrid, "/sys/fs/cgroup").ok());  // the tmpfs
  // A tmpfs mounted over the cgroup2 mount hides it.
  std::string covered = std::string(kPureV2) + "90 27 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
  EXPECT_FALSE(FindCgroup2MountAt(covered, "/sys/fs/cgroup").ok());
}

}  // namespace
}  // namespace diskidle
