// CheckHostPaths: what --check_config and start-up both check of paths.procfs,
// paths.sysfs and the kernel's BTF under it.
#include "config/host_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace diskidle {
namespace {

class HostPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/diskidle-host-paths-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // A fake sysfs holding kernel/btf/vmlinux.
  std::string SysfsWithBtf() {
    const std::string sysfs = dir_ + "/sys";
    for (const std::string& d : {sysfs, sysfs + "/kernel", sysfs + "/kernel/btf"}) {
      EXPECT_EQ(mkdir(d.c_str(), 0755), 0);
    }
    std::ofstream(sysfs + "/kernel/btf/vmlinux") << "btf";
    return sysfs;
  }
  std::string dir_;
};

std::string Message(const Config& config) {
  return std::string(CheckHostPaths(config).message());
}

TEST_F(HostPathsTest, TheRealProcAndAFakeSysfsWithBtfPass) {
  Config config;
  config.paths.sysfs = SysfsWithBtf();
  EXPECT_TRUE(CheckHostPaths(config).ok()) << CheckHostPaths(config);
}

TEST_F(HostPathsTest, AMissingRootNamesTheKey) {
  Config config;
  config.paths.procfs = "/nonexistent";
  EXPECT_EQ(Message(config),
            "paths.procfs: /nonexistent is not a directory (in a container, mount the host's "
            "/proc there and point paths.procfs at it)");
  config = Config{};
  config.paths.sysfs = "/nonexistent";
  EXPECT_EQ(Message(config),
            "paths.sysfs: /nonexistent is not a directory (in a container, mount the host's "
            "/sys there and point paths.sysfs at it)");
}

TEST_F(HostPathsTest, AFileIsNotARoot) {
  Config config;
  config.paths.procfs = "/proc/stat";
  EXPECT_EQ(Message(config).rfind("paths.procfs: /proc/stat is not a directory", 0), 0u);
}

TEST_F(HostPathsTest, ADirectoryWithoutStatIsNotAProcfs) {
  Config config;
  config.paths.procfs = dir_;
  EXPECT_EQ(Message(config),
            "paths.procfs: " + dir_ + " has no stat file, so it is not a procfs (in a "
            "container, mount the host's /proc there and point paths.procfs at it)");
}

TEST_F(HostPathsTest, ASysfsWithoutBtfFailsWhenABpfCollectorIsOn) {
  Config config;
  config.paths.sysfs = dir_;  // a directory, but no kernel/btf/vmlinux
  EXPECT_EQ(Message(config),
            "kernel BTF not found at " + dir_ + "/kernel/btf/vmlinux: check paths.sysfs (it must "
            "be the host's /sys; the kernel also needs CONFIG_DEBUG_INFO_BTF=y, Linux 5.15+)");
  // Each collector that loads a program at start-up needs it alone too.
  config.collectors.bio.enabled = false;
  config.collectors.syscalls.enabled = true;
  EXPECT_FALSE(CheckHostPaths(config).ok());
  config.collectors.syscalls.enabled = false;
  config.collectors.disk_latency.enabled = true;
  EXPECT_FALSE(CheckHostPaths(config).ok());
}

TEST_F(HostPathsTest, WithoutBpfCollectorsNoBtfIsNeeded) {
  Config config;
  config.paths.sysfs = dir_;
  config.collectors.bio.enabled = false;
  config.collectors.syscalls.enabled = false;
  config.collectors.disk_latency.enabled = false;
  EXPECT_TRUE(CheckHostPaths(config).ok()) << CheckHostPaths(config);
}

TEST_F(HostPathsTest, TheDefaultsPassWhereTheKernelHasBtf) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF here";
  EXPECT_TRUE(CheckHostPaths(Config{}).ok()) << CheckHostPaths(Config{});
}

}  // namespace
}  // namespace diskidle
