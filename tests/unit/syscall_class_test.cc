#include "model/syscall_class.h"

#include <linux/types.h>

#include <set>
#include <string>

#include "bio_stats.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

struct Case {
  int nr;
  const char* want;
};

TEST(SyscallClass, X86_64Table) {
  const Case cases[] = {
      {0, "read"},     {17, "read"},     {19, "read"},           {295, "read"},
      {327, "read"},   {1, "write"},     {18, "pwrite"},         {20, "writev"},
      {296, "pwritev"}, {328, "pwritev"}, {74, "fsync"},         {75, "fdatasync"},
      {277, "sync_file_range"},           {162, "sync"},         {306, "syncfs"},
      {26, "msync"},   {426, "io_uring"}, {209, "aio"},          {2, "other"} /* open */,
      {60, "other"} /* exit */,           {231, "other"} /* exit_group */,
      {100000, "other"},
  };
  for (const Case& c : cases) EXPECT_EQ(ClassifySyscallX86_64(c.nr), c.want) << c.nr;
}

TEST(SyscallClass, Arm64Table) {
  const Case cases[] = {
      {63, "read"},    {67, "read"},     {65, "read"},           {69, "read"},
      {286, "read"},   {64, "write"},    {68, "pwrite"},         {66, "writev"},
      {70, "pwritev"}, {287, "pwritev"}, {82, "fsync"},          {83, "fdatasync"},
      {84, "sync_file_range"},           {81, "sync"},           {267, "syncfs"},
      {227, "msync"},  {426, "io_uring"}, {2, "aio"},            {56, "other"} /* openat */,
      {74, "other"} /* x86 fsync number means nothing on arm64 */,
  };
  for (const Case& c : cases) EXPECT_EQ(ClassifySyscallArm64(c.nr), c.want) << c.nr;
}

TEST(SyscallClass, MarkersOnEveryArchitecture) {
  for (auto classify : {ClassifySyscallX86_64, ClassifySyscallArm64}) {
    EXPECT_EQ(classify(DISKIDLE_SYSCALL_KERNEL_THREAD), "kernel");
    EXPECT_EQ(classify(DISKIDLE_SYSCALL_IO_WORKER), "io_uring");
    EXPECT_EQ(classify(DISKIDLE_SYSCALL_NONE), "pagefault");
    EXPECT_EQ(classify(DISKIDLE_SYSCALL_WRITEBACK), "writeback");
    EXPECT_EQ(classify(DISKIDLE_SYSCALL_SWAP), "swap");
    EXPECT_EQ(classify(-6), "other");  // a marker this build does not know
    EXPECT_EQ(classify(-12345), "other");
    EXPECT_EQ(classify(INT32_MIN), "other");
    EXPECT_EQ(classify(INT32_MAX), "other");
  }
}

TEST(SyscallClass, EveryResultIsADocumentedLabelValue) {
  std::set<std::string> documented(std::begin(kSyscallClasses), std::end(kSyscallClasses));
  for (int nr = -6; nr < 1000; ++nr) {
    EXPECT_TRUE(documented.count(std::string(ClassifySyscall(nr)))) << nr;
  }
}

}  // namespace
}  // namespace diskidle
