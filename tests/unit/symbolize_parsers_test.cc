// The text parsers of the symbolizer over fixtures: /proc/kallsyms,
// /proc/<pid>/maps and /tmp/perf-<pid>.map.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "symbolize/kallsyms.h"
#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"

namespace diskidle {
namespace {

using ::testing::Optional;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(DISKIDLE_TESTDATA_DIR) + "/symbolize/" + name);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(KallsymsTest, NamesTheFunctionHoldingAnAddress) {
  KernelSymbols kernel = KernelSymbols::Parse(Testdata("kallsyms.txt"));
  // A function's first byte, a byte inside it, its last byte.
  EXPECT_THAT(kernel.Name(0xffffffff81001300), Optional(std::string_view("ext4_sync_file")));
  EXPECT_THAT(kernel.Name(0xffffffff81001342), Optional(std::string_view("ext4_sync_file")));
}

TEST(KallsymsTest, EdgesOfAFunctionBelongToIt) {
  KernelSymbols kernel = KernelSymbols::Parse(Testdata("kallsyms.txt"));
  EXPECT_THAT(kernel.Name(0xffffffff810014ff), Optional(std::string_view("weak_function")));
  EXPECT_THAT(kernel.Name(0xffffffff81001500),
              Optional(std::string_view("submit_bio_noacct_nocheck")));
  EXPECT_THAT(kernel.Name(0xffffffff81000fff), Optional(std::string_view("startup_64")));
}

TEST(KallsymsTest, DataSymbolsAndZeroAddressesAreSkipped) {
  KernelSymbols kernel = KernelSymbols::Parse(Testdata("kallsyms.txt"));
  // some_data_object (D) is not a function: its range belongs to do_syscall_64.
  EXPECT_THAT(kernel.Name(0xffffffff81001210), Optional(std::string_view("do_syscall_64")));
  EXPECT_EQ(kernel.Name(0x10), std::nullopt);  // below the first symbol
}

TEST(KallsymsTest, ModuleSymbolsAreNamedWithoutTheirModule) {
  KernelSymbols kernel = KernelSymbols::Parse(Testdata("kallsyms.txt"));
  EXPECT_THAT(kernel.Name(0xffffffffc0001010),
              Optional(std::string_view("bpf_prog_060d864b0647f39c_stack_bio_queue_btf")));
  // The last symbol has no known end: nothing beyond it is claimed.
  EXPECT_EQ(kernel.Name(0xffffffffc0002010), std::nullopt);
}

TEST(KallsymsTest, HiddenAddressesGiveAnEmptyTable) {
  // kptr_restrict: every address reads 0.
  KernelSymbols kernel =
      KernelSymbols::Parse("0000000000000000 T _stext\n0000000000000000 T ext4_sync_file\n");
  EXPECT_EQ(kernel.size(), 0u);
  EXPECT_EQ(kernel.Name(0xffffffff81001300), std::nullopt);
}

TEST(ProcMapsTest, ParsesFilesAnonymousAndPseudoMappings) {
  std::vector<Mapping> maps = ParseProcMaps(Testdata("maps.txt"));
  ASSERT_EQ(maps.size(), 9u);  // the garbage line is skipped
  EXPECT_EQ(maps[1].start, 0x55d0c8a6a000u);
  EXPECT_EQ(maps[1].end, 0x55d0c8d38000u);
  EXPECT_EQ(maps[1].offset, 0x6a000u);
  EXPECT_TRUE(maps[1].executable);
  EXPECT_FALSE(maps[0].executable);
  EXPECT_EQ(maps[1].inode, 1315883u);
  EXPECT_EQ(maps[1].path, "/usr/bin/python3.11");
  EXPECT_EQ(maps[2].path, "[heap]");
  EXPECT_EQ(maps[5].path, "");  // anonymous (JIT) memory
  EXPECT_EQ(maps[6].path, "/opt/my app/lib with spaces.so");
  EXPECT_EQ(maps[7].path, "[vdso]");
}

TEST(ProcMapsTest, FindsTheMappingHoldingAnAddressEndExclusive) {
  std::vector<Mapping> maps = ParseProcMaps(Testdata("maps.txt"));
  const Mapping* libc = FindMapping(maps, 0x7f3e1a626000);
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(libc->offset, 0x26000u);
  EXPECT_EQ(FindMapping(maps, 0x7f3e1a77afff), libc);
  EXPECT_NE(FindMapping(maps, 0x7f3e1a77b000), libc);     // end is exclusive
  EXPECT_EQ(FindMapping(maps, 0x7f3e1a77b000), nullptr);  // a hole
  EXPECT_EQ(FindMapping(maps, 0x1000), nullptr);
}

TEST(PerfMapTest, NamesJitCodeAndTheLatestEntryWins) {
  PerfMap map = PerfMap::Parse(Testdata("perf-4242.map"));
  EXPECT_THAT(map.Name(0x7f3e1a800100),
              Optional(std::string_view("LazyCompile:*flushLoop /app/server.js:12")));
  EXPECT_THAT(map.Name(0x7f3e1a80013f),
              Optional(std::string_view("LazyCompile:*flushLoop /app/server.js:12")));
  EXPECT_EQ(map.Name(0x7f3e1a800140), std::nullopt);  // past its size
  EXPECT_THAT(map.Name(0x7f3e1a800210), Optional(std::string_view("Builtin:ReplacedLater")));
  // Beyond the replacement's 0x20 bytes, the earlier, longer entry still covers it.
  EXPECT_THAT(map.Name(0x7f3e1a800250), Optional(std::string_view("Builtin:CallFunction")));
  EXPECT_EQ(map.Name(0x7f3e1a800300), std::nullopt);  // zero-sized entry skipped
}

}  // namespace
}  // namespace diskidle
