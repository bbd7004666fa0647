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
