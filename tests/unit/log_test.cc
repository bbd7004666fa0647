#include "util/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

TEST(LogTest, Logfmt) {
  EXPECT_EQ(FormatLogLine(LogFormat::kLogfmt, "T", LogLevel::kWarn, "say \"hi\" \\ now"),
            "ts=T level=warn msg=\"say \\\"hi\\\" \\\\ now\"\n");
}

TEST(LogTest, JsonOneObjectPerLineWithValidEscaping) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, "T", LogLevel::kError, "a\"b\\c\nd\xff"),
            "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"a\\\"b\\\\c\\\\x0ad\\\\xff\"}\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, "T", LogLevel::kDebug, "п"),
            "{\"ts\":\"T\",\"level\":\"debug\",\"msg\":\"п\"}\n");
}

TEST(LogTest, ParseLevelAndFormat) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("warning").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("text").ok());
}

}  // namespace
}  // namespace diskidle
