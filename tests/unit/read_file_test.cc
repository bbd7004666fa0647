#include "util/read_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

using ::testing::HasSubstr;

class ReadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/diskidle-read-file-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* name : {"fifo", "file", "big"}) unlink((dir_ + "/" + name).c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(ReadFileTest, ReadsRegularAndProcFiles) {
  std::ofstream(dir_ + "/file") << "a b c\n";
  auto text = ReadFileToString(dir_ + "/file");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "a b c\n");
  // proc files are regular files of size 0: read to their end all the same.
  auto stat = ReadFileToString("/proc/self/stat");
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_THAT(*stat, HasSubstr(" ("));
}

// A FIFO with no writer: the open would wait forever without O_NONBLOCK. The
// test would hang, not fail, if it did; ctest's timeout then fails it.
TEST_F(ReadFileTest, RefusesAFifoAtOnce) {
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  auto text = ReadFileToString(dir_ + "/fifo");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            dir_ + "/fifo is a named pipe (FIFO), not a regular file: give a file's path");
}

TEST_F(ReadFileTest, RefusesDevicesAndDirectories) {
  auto zero = ReadFileToString("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().message(),
            "/dev/zero is a character device, not a regular file: give a file's path");
  auto dir = ReadFileToString(dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.status().message(), HasSubstr("is a directory, not a regular file"));
}

TEST_F(ReadFileTest, RefusesAFileLongerThanTheLimit) {
  std::ofstream(dir_ + "/big") << std::string(100, 'x');
  EXPECT_TRUE(ReadFileToString(dir_ + "/big", 100).ok());
  auto text = ReadFileToString(dir_ + "/big", 99);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            dir_ + "/big is longer than 99 bytes: is it the right file?");
}

TEST_F(ReadFileTest, AMissingFileNamesThePath) {
  auto text = ReadFileToString(dir_ + "/none");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), HasSubstr("open " + dir_ + "/none"));
}

}  // namespace
}  // namespace diskidle
