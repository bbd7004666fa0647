#include "model/label_text.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace diskidle {
namespace {

// Independent of the implementation: decodes UTF-8 strictly, as Go's
// utf8.ValidString (what Prometheus runs on label values) does.
bool IsValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int k = 1; k < n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

TEST(SanitizeLabelValueTest, KeepsValidText) {
  EXPECT_EQ(SanitizeLabelValue("java"), "java");
  EXPECT_EQ(SanitizeLabelValue("kworker/u8:2"), "kworker/u8:2");
  EXPECT_EQ(SanitizeLabelValue("процесс"), "процесс");
  EXPECT_EQ(SanitizeLabelValue("数据库写入"), "数据库写入");
  EXPECT_EQ(SanitizeLabelValue("\xf0\x9f\x92\xbe disk"), "\xf0\x9f\x92\xbe disk");
  EXPECT_EQ(SanitizeLabelValue("a\"b"), "a\"b");  // the serializer escapes it
  EXPECT_EQ(SanitizeLabelValue(""), "");
}

TEST(SanitizeLabelValueTest, EscapesControlCharacters) {
  EXPECT_EQ(SanitizeLabelValue("a\nb"), "a\\x0ab");
  EXPECT_EQ(SanitizeLabelValue(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(SanitizeLabelValue("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(SanitizeLabelValue("del\x7f"), "del\\x7f");
}

TEST(SanitizeLabelValueTest, EscapesNamesCutInTheMiddleOfACharacter) {
  // The kernel keeps 15 bytes of a name: "обработчик" is 20 bytes, the 15th
  // is the first half of "ч".
  const std::string cyrillic = std::string("обработчик").substr(0, 15);
  EXPECT_EQ(SanitizeLabelValue(cyrillic), "обработ\\xd1");
  // "a数据库写入服务": 15 bytes end after two of the three bytes of "入".
  const std::string chinese = std::string("a数据库写入服务").substr(0, 15);
  EXPECT_EQ(SanitizeLabelValue(chinese), "a数据库写\\xe5\\x85");
}

TEST(SanitizeLabelValueTest, EscapesEveryKindOfInvalidSequence) {
  EXPECT_EQ(SanitizeLabelValue("\xff"), "\\xff");
  EXPECT_EQ(SanitizeLabelValue("\x80x"), "\\x80x");           // lone continuation byte
  EXPECT_EQ(SanitizeLabelValue("\xc0\xaf"), "\\xc0\\xaf");     // overlong '/'
  EXPECT_EQ(SanitizeLabelValue("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong
  EXPECT_EQ(SanitizeLabelValue("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate U+D800
  EXPECT_EQ(SanitizeLabelValue("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
  EXPECT_EQ(SanitizeLabelValue("\xc3"), "\\xc3");              // truncated
  EXPECT_EQ(SanitizeLabelValue("\xc3\xa9"), "\xc3\xa9");       // é is fine
}

TEST(SanitizeLabelValueTest, EveryByteValueGivesValidUtf8) {
  for (int b = 0; b < 256; ++b) {
    for (const std::string& s : {std::string(1, static_cast<char>(b)),
                                 "x" + std::string(1, static_cast<char>(b)) + "\xd0",
                                 std::string(3, static_cast<char>(b))}) {
      const std::string out = SanitizeLabelValue(s);
      EXPECT_TRUE(IsValidUtf8(out)) << b;
      for (unsigned char c : out) EXPECT_TRUE(c >= 0x20 && c != 0x7f) << b;
    }
  }
}

// The inverse of SanitizeLabelValue, written from its documented rules:
// "\\" is a backslash, "\xHH" a byte; nullopt for a value it cannot give.
std::optional<std::string> Unescape(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\') {
      out += value[i];
      continue;
    }
    if (i + 1 < value.size() && value[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (i + 3 < value.size() && value[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(std::string(value.substr(i + 2, 2)), nullptr, 16));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

TEST(SanitizeLabelValueTest, DoublesBackslashesSoThatNoTwoNamesShareAValue) {
  EXPECT_EQ(SanitizeLabelValue("C:\\x"), "C:\\\\x");
  // The pairs a new user found merged into one series before.
  EXPECT_NE(SanitizeLabelValue("q\\xff"), SanitizeLabelValue("q\xff"));
  EXPECT_NE(SanitizeLabelValue("tab\\x09"), SanitizeLabelValue("tab\t"));
  EXPECT_EQ(SanitizeLabelValue("q\\xff"), "q\\\\xff");
  EXPECT_EQ(SanitizeLabelValue("q\xff"), "q\\xff");
}

TEST(SanitizeLabelValueTest, EveryValueDecodesBackToItsName) {
  // Every two-byte name and some longer ones: the value gives back the
  // exact bytes, so no two names can share one.
  std::vector<std::string> names = {"", "\\", "\\\\", "\\x", "\\xff", "a\\x0ab", "\xff\\",
                                    "обработ\xd1", "\\\x80\\"};
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) names.push_back({static_cast<char>(a), static_cast<char>(b)});
  }
  for (const std::string& name : names) {
    EXPECT_EQ(Unescape(SanitizeLabelValue(name)), name);
  }
}

TEST(SanitizeTextTest, KeepsBackslashesAndEscapesTheRest) {
  EXPECT_EQ(SanitizeText("path C:\\x\n\xff"), "path C:\\x\\x0a\\xff");
}

}  // namespace
}  // namespace diskidle
