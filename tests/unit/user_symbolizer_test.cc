// ELF symbols and the user-space symbolizer on real code in this process: the
// test binary, libc, and a fixture library stripped as distributions strip
// theirs, with and without its separate debug file.
#include "symbolize/user_symbolizer.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "symbolize/elf_symbols.h"

extern "C" __attribute__((noinline)) int DiskidleSymbolizerTestFunction(int x) { return x * 7 + 3; }

namespace diskidle {
namespace {

using ::testing::MatchesRegex;
using ::testing::StartsWith;

const std::string kStripped =
    std::string(DISKIDLE_ELF_FIXTURE_DIR) + "/libdiskidle_elf_fixture_stripped.so";
const std::string kDebugFile =
    std::string(DISKIDLE_ELF_FIXTURE_DIR) + "/libdiskidle_elf_fixture.debug";

uint64_t Address(const void* p) { return reinterpret_cast<uint64_t>(p); }

// A fresh empty directory for this test, one per `purpose`.
std::string TempDir(const std::string& purpose) {
  std::string dir = ::testing::TempDir() + "/symbolizer-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" + purpose;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct Fixture {
  void* handle = nullptr;
  uint64_t exported = 0;
  uint64_t local = 0;
};

Fixture LoadStrippedFixture() {
  Fixture f;
  f.handle = dlopen(kStripped.c_str(), RTLD_NOW);
  EXPECT_NE(f.handle, nullptr) << dlerror();
  if (f.handle == nullptr) return f;
  f.exported = Address(dlsym(f.handle, "elf_fixture_exported"));
  auto local_address = reinterpret_cast<void* (*)()>(dlsym(f.handle, "elf_fixture_local_address"));
  f.local = Address(local_address());
  return f;
}

TEST(ElfSymbolsTest, RejectsWhatIsNotAnElfFileAndSurvivesTruncation) {
  EXPECT_FALSE(ElfSymbols::Parse("").ok());
  EXPECT_FALSE(ElfSymbols::Parse("#!/bin/sh\necho hi\n").ok());
  std::ifstream in(DISKIDLE_ELF_FIXTURE_UNSTRIPPED, std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(image.size(), 4096u);
  auto whole = ElfSymbols::Parse(image);
  ASSERT_TRUE(whole.ok());
  EXPECT_GE(whole->size(), 3u);  // exported, local, address getter
  // Every prefix parses or fails cleanly; none reads out of bounds (ASan/valgrind-visible).
  for (size_t cut = 0; cut < image.size(); cut += 97) {
    auto part = ElfSymbols::Parse(std::string_view(image).substr(0, cut));
    if (part.ok()) {
      EXPECT_LE(part->size(), whole->size());
    }
  }
}

TEST(ElfSymbolsTest, StrippedLibraryKeepsItsBuildIdAndDebugLink) {
  auto elf = ReadElfSymbols(kStripped);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_THAT(elf->build_id(), MatchesRegex("[0-9a-f]{40}"));
  EXPECT_EQ(elf->debuglink(), "libdiskidle_elf_fixture.debug");
}

TEST(UserSymbolizerTest, NamesAFunctionOfTheExecutableAndOfLibc) {
  UserSymbolizer symbolizer(
      {.procfs = "/proc", .debug_dir = TempDir("debug"), .tmp_dir = TempDir("tmp")});
  ASSERT_TRUE(symbolizer.Capture(getpid()));
  // Somewhere inside the function, not only its first byte.
  EXPECT_EQ(symbolizer.Name(getpid(),
                            Address(reinterpret_cast<void*>(&DiskidleSymbolizerTestFunction)) + 1),
            "DiskidleSymbolizerTestFunction");
  // Debian's libc is stripped to .dynsym; fsync is exported there.
  EXPECT_EQ(symbolizer.Name(getpid(), Address(dlsym(RTLD_DEFAULT, "fsync"))), "fsync");
}

TEST(UserSymbolizerTest, DemanglesCppNames) {
  UserSymbolizer symbolizer(
      {.procfs = "/proc", .debug_dir = TempDir("debug"), .tmp_dir = TempDir("tmp")});
  ASSERT_TRUE(symbolizer.Capture(getpid()));
  EXPECT_EQ(symbolizer.Name(getpid(), Address(reinterpret_cast<void*>(&LoadStrippedFixture))),
            "diskidle::(anonymous namespace)::LoadStrippedFixture()");
}

TEST(UserSymbolizerTest, StrippedLibraryWithoutDebugFileGivesModulePlusOffset) {
  Fixture f = LoadStrippedFixture();
  ASSERT_NE(f.handle, nullptr);
  UserSymbolizer symbolizer(
      {.procfs = "/proc", .debug_dir = TempDir("debug"), .tmp_dir = TempDir("tmp")});
  ASSERT_TRUE(symbolizer.Capture(getpid()));
  EXPECT_EQ(symbolizer.Name(getpid(), f.exported), "elf_fixture_exported");  // .dynsym
  EXPECT_THAT(symbolizer.Name(getpid(), f.local),
              MatchesRegex("libdiskidle_elf_fixture_stripped\\.so\\+0x[0-9a-f]+"));
  dlclose(f.handle);
}

TEST(UserSymbolizerTest, SeparateDebugFileIsFoundByBuildId) {
  Fixture f = LoadStrippedFixture();
  ASSERT_NE(f.handle, nullptr);
  auto stripped = ReadElfSymbols(kStripped);
  ASSERT_TRUE(stripped.ok());
  const std::string& id = stripped->build_id();
  const std::string debug_dir = TempDir("debug");
  std::filesystem::create_directories(debug_dir + "/.build-id/" + id.substr(0, 2));
  std::filesystem::copy_file(
      kDebugFile, debug_dir + "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug");
  UserSymbolizer symbolizer({.procfs = "/proc", .debug_dir = debug_dir, .tmp_dir = TempDir("tmp")});
  ASSERT_TRUE(symbolizer.Capture(getpid()));
  EXPECT_EQ(symbolizer.Name(getpid(), f.local), "elf_fixture_local");
  dlclose(f.handle);
}

TEST(UserSymbolizerTest, AnonymousCodeIsNamedFromThePerfMap) {
  // A fake procfs: one anonymous executable mapping, as a JIT's code cache.
  const std::string root = TempDir("root");
  std::filesystem::create_directories(root + "/proc/4242");
  std::ofstream(root + "/proc/4242/maps")
      << "7f3e1a800000-7f3e1a810000 rwxp 00000000 00:00 0 \n"
         "7f3e1a900000-7f3e1a901000 r-xp 00000000 fe:01 42   /nonexistent/libgone.so\n";
  std::filesystem::create_directories(root + "/tmp");
  std::ofstream(root + "/tmp/perf-4242.map")
      << "7f3e1a800100 40 LazyCompile:*flushLoop app.js:12\n";
  UserSymbolizer symbolizer(
      {.procfs = root + "/proc", .debug_dir = TempDir("debug"), .tmp_dir = root + "/tmp"});
  ASSERT_TRUE(symbolizer.Capture(4242));
  EXPECT_EQ(symbolizer.Name(4242, 0x7f3e1a800110), "LazyCompile:*flushLoop app.js:12");
  EXPECT_EQ(symbolizer.Name(4242, 0x7f3e1a800500), "[anon]");
  // A file we cannot read: its name and the offset in it.
  EXPECT_EQ(symbolizer.Name(4242, 0x7f3e1a900123), "libgone.so+0x123");
  EXPECT_EQ(symbolizer.Name(4242, 0x1000), "[unknown]");
  EXPECT_EQ(symbolizer.Name(4243, 0x7f3e1a800110), "[unknown]");  // never captured
}

TEST(UserSymbolizerTest, AProcessThatIsGoneKeepsItsEarlierCapture) {
  const std::string root = TempDir("root");
  std::filesystem::create_directories(root + "/proc/77");
  std::ofstream(root + "/proc/77/maps")
      << "7f3e1a800000-7f3e1a810000 r-xp 00000000 00:00 0   [vdso]\n";
  UserSymbolizer symbolizer(
      {.procfs = root + "/proc", .debug_dir = TempDir("debug"), .tmp_dir = root});
  ASSERT_TRUE(symbolizer.Capture(77));
  std::filesystem::remove_all(root + "/proc/77");
  EXPECT_TRUE(symbolizer.Capture(77));
  EXPECT_EQ(symbolizer.Name(77, 0x7f3e1a800010), "[vdso]");
  EXPECT_FALSE(symbolizer.Capture(78));
}

}  // namespace
}  // namespace diskidle
