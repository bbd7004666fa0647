#include "cli/ecosystem_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EcosystemFlagsTest, ExporterToolkitNamesInBothForms) {
  auto flags = ExtractEcosystemFlags({"exp", "--web.listen-address=127.0.0.1:1", "--web.config.file",
                                      "w.yml", "--web.telemetry-path=/m", "--config.file=c.yaml",
                                      "--log.level=debug", "-log.format=json", "--check_config"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->web_listen_address, "127.0.0.1:1");
  EXPECT_EQ(flags->web_config_file, "w.yml");
  EXPECT_EQ(flags->web_telemetry_path, "/m");
  EXPECT_EQ(flags->config_file, "c.yaml");
  EXPECT_EQ(flags->log_level, "debug");
  EXPECT_EQ(flags->log_format, "json");
  EXPECT_THAT(flags->rest, ElementsAre("exp", "--check_config"));
}

TEST(EcosystemFlagsTest, OldNamesAreAliases) {
  auto flags = ExtractEcosystemFlags(
      {"exp", "--listen_address=:1", "--web_config_file=w.yml", "--config", "c.yaml"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->web_listen_address, ":1");
  EXPECT_EQ(flags->web_config_file, "w.yml");
  EXPECT_EQ(flags->config_file, "c.yaml");
  EXPECT_THAT(flags->rest, ElementsAre("exp"));
}

TEST(EcosystemFlagsTest, DefaultsWhenAbsent) {
  auto flags = ExtractEcosystemFlags({"exp"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->log_level, "info");
  EXPECT_EQ(flags->log_format, "logfmt");
  EXPECT_EQ(flags->web_listen_address, "");
}

TEST(EcosystemFlagsTest, SameValueTwiceIsFineConflictIsAnError) {
  EXPECT_TRUE(ExtractEcosystemFlags({"exp", "--listen_address=:1", "--web.listen-address=:1"}).ok());
  auto conflict = ExtractEcosystemFlags({"exp", "--listen_address=:1", "--web.listen-address=:2"});
  ASSERT_FALSE(conflict.ok());
  EXPECT_THAT(conflict.status().message(), HasSubstr("--listen_address=:1"));
  EXPECT_THAT(conflict.status().message(), HasSubstr("--web.listen-address=:2"));
}

TEST(EcosystemFlagsTest, MissingValueIsAnError) {
  auto flags = ExtractEcosystemFlags({"exp", "--web.config.file"});
  ASSERT_FALSE(flags.ok());
  EXPECT_THAT(flags.status().message(), HasSubstr("--web.config.file: missing value"));
}

TEST(EcosystemFlagsTest, EmptyValueIsAnErrorNotTheDefault) {
  // --web.config.file= would otherwise serve plain HTTP without auth, and
  // --web.listen-address= listen on every interface.
  for (const char* arg : {"--web.config.file=", "--web.listen-address=", "--config.file=",
                          "--web.telemetry-path="}) {
    auto flags = ExtractEcosystemFlags({"exp", arg});
    ASSERT_FALSE(flags.ok()) << arg;
    EXPECT_THAT(flags.status().message(), HasSubstr("empty value; leave the flag out")) << arg;
  }
  EXPECT_FALSE(ExtractEcosystemFlags({"exp", "--web.config.file", ""}).ok());
}

TEST(EcosystemFlagsTest, WhatIsLeftForAbseilIsCheckedToo) {
  EXPECT_TRUE(CheckRemainingFlags({"exp"}).ok());
  EXPECT_TRUE(CheckRemainingFlags({"exp", "--check_config", "--check_config=true", "--version"}).ok());
  EXPECT_TRUE(CheckRemainingFlags({"exp", "--", "--anything"}).ok());
  EXPECT_EQ(CheckRemainingFlags({"exp", "--check_config=1", "--check_config=0"}).message(),
            "--check_config given twice with different values: give it once");
  EXPECT_EQ(CheckRemainingFlags({"exp", "--check_config", "--nocheck_config"}).message(),
            "--check_config given twice with different values: give it once");
  EXPECT_EQ(CheckRemainingFlags({"exp", "--check_config=maybe"}).message(),
            "--check_config=maybe: give true or false, or the flag alone");
  EXPECT_EQ(CheckRemainingFlags({"exp", "--web.listen-adress=:1"}).message(),
            "unknown flag --web.listen-adress (see --help for the flags there are)");
  EXPECT_EQ(CheckRemainingFlags({"exp", "--flagfile=/etc/shadow"}).message(),
            "--flagfile is not supported: give flags on the command line, settings in "
            "--config.file");
  EXPECT_FALSE(CheckRemainingFlags({"exp", "-fromenv=x"}).ok());
}

TEST(EcosystemFlagsTest, StopsAtDoubleDash) {
  auto flags = ExtractEcosystemFlags({"exp", "--", "--config.file=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->config_file, "");
  EXPECT_THAT(flags->rest, ElementsAre("exp", "--", "--config.file=x"));
}

TEST(EcosystemFlagsTest, HelpShowsNewNamesOnly) {
  std::string help = EcosystemFlagsHelp();
  for (const char* name : {"--web.listen-address", "--web.config.file", "--web.telemetry-path",
                           "--config.file", "--log.level", "--log.format"}) {
    EXPECT_THAT(help, HasSubstr(name));
  }
  EXPECT_THAT(help, ::testing::Not(HasSubstr("--listen_address")));
  EXPECT_THAT(help, ::testing::Not(HasSubstr("--web_config_file")));
}

}  // namespace
}  // namespace diskidle
