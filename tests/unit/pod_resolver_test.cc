// PodResolver on this machine's own cgroup2 tree, without making cgroups
// (tests/privileged/test_pod_resolver.py makes pods' cgroups and resolves them).
#include "kubernetes/pod_resolver.h"

#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "kubernetes/cgroup_mount.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

TEST(PodResolverTest, NoCgroup2MountIsAOneLineErrorNamingTheFix) {
  PodResolverOptions options;
  options.cgroup2_mount = "/tmp";
  auto resolver = PodResolver::Create(options);
  ASSERT_FALSE(resolver.ok());
  std::string message(resolver.status().message());
  EXPECT_NE(message.find("/tmp is not a cgroup2 mount"), std::string::npos) << message;
  // The fix names the key, with the path hybrid nodes need, and what v1 nodes can do.
  EXPECT_NE(message.find("set kubernetes.cgroup2_mount to the cgroup2 mount (on hybrid nodes "
                         "/tmp/unified)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("drop namespace, pod and container"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(PodResolverTest, HostRootIsEmptyAndUnknownIdsAreMissesCountedOnce) {
  auto mountinfo = ReadFileToString("/proc/self/mountinfo");
  ASSERT_TRUE(mountinfo.ok());
  auto mount = FindCgroup2Mount(*mountinfo);
  if (!mount.ok()) GTEST_SKIP() << "no cgroup2 mount on this machine";
  struct stat root;
  ASSERT_EQ(stat(mount->mount_point.c_str(), &root), 0);

  auto resolver = PodResolver::Create({});
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  EXPECT_EQ((*resolver)->Resolve(root.st_ino), PodLabels{});
  EXPECT_EQ((*resolver)->misses(), 0u);
  // Cgroup ids count up from 1 and are never reused; this one does not exist.
  constexpr uint64_t kNever = uint64_t{1} << 62;
  EXPECT_EQ((*resolver)->Resolve(kNever), PodLabels{});
  EXPECT_EQ((*resolver)->misses(), 1u);
  EXPECT_EQ((*resolver)->Resolve(kNever), PodLabels{});
  EXPECT_EQ((*resolver)->misses(), 1u);  // served from the cache
}

}  // namespace
}  // namespace diskidle
