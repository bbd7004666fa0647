// Folded output and the assembly of symbolized stacks from what the kernel
// counted (SymbolizeStacks), over a fixture kallsyms and a fake procfs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "stacks/folded.h"
#include "stacks/stack_collector.h"

namespace diskidle {
namespace {

TEST(FoldedTest, OneLinePerStackRootFirstWithItsCount) {
  EXPECT_EQ(RenderFolded({{{"python3", "fsync", "ext4_sync_file"}, 500},
                          {{"jbd2/loop0-8", "kjournald2"}, 3}}),
            "jbd2/loop0-8;kjournald2 3\npython3;fsync;ext4_sync_file 500\n");
}

TEST(FoldedTest, EqualStacksAreMergedAndCountsAdded) {
  // Two kernel stack ids can symbolize to the same frames (different offsets
  // inside the same functions): one line, the sum.
  EXPECT_EQ(RenderFolded({{{"a", "b"}, 2}, {{"a", "c"}, 1}, {{"a", "b"}, 5}}), "a;b 7\na;c 1\n");
}

TEST(FoldedTest, ZeroCountsAreLeftOutAndNothingIsEmpty) {
  EXPECT_EQ(RenderFolded({{{"a"}, 0}}), "");
  EXPECT_EQ(RenderFolded({}), "");
}

TEST(FoldedTest, SeparatorsInsideFrameNamesCannotChangeTheStack) {
  // A JIT may name a function with ';' (Java descriptors) or a line break.
  EXPECT_EQ(RenderFolded({{{"java", "Lcom/Foo;.bar(I)V", "x\ny"}, 1}}),
            "java;Lcom/Foo:.bar(I)V;x y 1\n");
}

class SymbolizeStacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(std::string(DISKIDLE_TESTDATA_DIR) + "/symbolize/kallsyms.txt");
    kernel_ = KernelSymbols::Parse(
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    // One directory per test: ctest runs the tests of this fixture in parallel
    // processes, and a shared one would be emptied under another test's feet.
    root_ = ::testing::TempDir() + "/folded-stacks-procfs-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/100");
    // Process 100: one anonymous code mapping named through its perf map.
    std::ofstream(root_ + "/100/maps") << "7f0000000000-7f0000010000 r-xp 00000000 00:00 0 \n";
    std::ofstream(root_ + "/perf-100.map")
        << "7f0000000100 100 outer\n7f0000000200 100 fsync_wrapper\n";
  }

  void TearDown() override { std::filesystem::remove_all(root_); }

  KernelSymbols kernel_;
  std::string root_;
};

TEST_F(SymbolizeStacksTest, RootIsCommThenUserThenKernelAndTracingFramesAreCut) {
  UserSymbolizer user({.procfs = root_, .debug_dir = root_, .tmp_dir = root_});
  ASSERT_TRUE(user.Capture(100));
  StackCounts counts;
  StackSample s;
  s.tgid = 100;
  s.comm = "python3";
  // Leaf first, as the kernel records them. Kernel frames are return
  // addresses; the tracepoint's own frames sit at the leaf end.
  s.kernel_ips = {0xffffffffc0001010, 0xffffffff81001710, 0xffffffff81001610,
                  0xffffffff81001510, 0xffffffff81001310, 0xffffffff81001110};
  // The user leaf is exact (the syscall instruction); the caller's frame is a
  // return address at the very start of the next function (a call that ends
  // its function): it must still name the caller, "outer".
  s.user_ips = {0x7f0000000210, 0x7f0000000200};
  s.count = 42;
  counts.samples.push_back(s);
  counts.matched_bios = 42;
  std::vector<FoldedStack> stacks = SymbolizeStacks(counts, kernel_, user);
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_THAT(stacks[0].frames,
              ::testing::ElementsAre("python3", "outer", "fsync_wrapper", "do_syscall_64",
                                     "ext4_sync_file", "submit_bio_noacct_nocheck"));
  EXPECT_EQ(stacks[0].count, 42u);
}

TEST_F(SymbolizeStacksTest, LostStacksAndFullMapsStillAddUpToTheBiosCounted) {
  UserSymbolizer user({.procfs = root_, .debug_dir = root_, .tmp_dir = root_});
  StackCounts counts;
  StackSample kthread;
  kthread.tgid = 0;
  kthread.comm = "kworker/u8:1";
  kthread.kernel_ips = {0xffffffff81001510};
  kthread.user_error = -EFAULT;  // kernel threads have no user stack
  kthread.count = 5;
  StackSample collided;
  collided.tgid = 100;
  collided.comm = "python3";
  collided.kernel_error = -EEXIST;
  collided.user_error = -ENOMEM;
  collided.count = 2;
  counts.samples = {kthread, collided};
  counts.uncounted_bios = 3;
  counts.matched_bios = 10;
  std::string folded = RenderFolded(SymbolizeStacks(counts, kernel_, user));
  EXPECT_EQ(folded,
            "[stack count map full] 3\n"
            "kworker/u8:1;submit_bio_noacct_nocheck 5\n"
            "python3;[user stack lost];[kernel stack lost] 2\n");
}

}  // namespace
}  // namespace diskidle
