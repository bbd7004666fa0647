// The YAML field reader shared by the config and web-config parsers.
#include "config/yaml_fields.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle::yaml {
namespace {

using ::testing::ElementsAre;

// Loads `text` and returns the field at `key` of its top-level map.
Field Child(const FieldReader& r, const std::string& text, const std::string& key) {
  absl::StatusOr<Field> root = r.Load(text);
  EXPECT_TRUE(root.ok()) << root.status();
  Field found;
  if (!root.ok()) return found;
  absl::Status s = r.ForEachKey(*root, {{key, [&](const Field& f) {
                                           found = f;
                                           return absl::OkStatus();
                                         }}});
  EXPECT_TRUE(s.ok()) << s;
  return found;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(FieldReaderTest, LoadsOneDocument) {
  FieldReader r("src");
  for (const char* empty : {"", "\n", "# comment\n", "---\n", "~\n"}) {
    absl::StatusOr<Field> root = r.Load(empty);
    ASSERT_TRUE(root.ok()) << empty << ": " << root.status();
    EXPECT_TRUE(root->value.IsNull()) << empty;
    EXPECT_EQ(root->path, "");
  }
  absl::StatusOr<Field> root = r.Load("a: 1\n");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->value.IsMap());
}

TEST(FieldReaderTest, RefusesStreamsAndBadYamlOnOneLine) {
  FieldReader r("src");
  absl::StatusOr<Field> two = r.Load("a: 1\n---\na: 2\n");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(Message(two.status()),
            "src line 2: top level: expected a single YAML document, got more");
  // yaml-cpp's LoadAll never returns on this one (found by the config fuzzer).
  absl::StatusOr<Field> hang = r.Load("&a,\n");
  ASSERT_FALSE(hang.ok());
  absl::StatusOr<Field> bad = r.Load("a: \"\\\x01\"\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Message(bad.status()), "src line 1: invalid YAML: unknown escape character: \\x01");
  absl::StatusOr<Field> open = r.Load("a: [1,\n");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(Message(open.status()), "src line 2: invalid YAML: end of sequence flow not found");
  // yaml-cpp stops at 2000 levels with the message "bad file".
  absl::StatusOr<Field> deep = r.Load("a: " + std::string(100000, '[') + std::string(100000, ']'));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(Message(deep.status()),
            "src line 1: invalid YAML: nested too deeply for the parser (a config here needs a "
            "handful of levels)");
}

TEST(FieldReaderTest, ForEachKeyReadsKnownKeysInDocumentOrderWithPathsAndLines) {
  FieldReader r("src");
  absl::StatusOr<Field> root = r.Load("b:\n  x: 1\na: 2\n");
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<std::string> seen;
  absl::Status s = r.ForEachKey(
      *root, {{"a",
               [&](const Field& f) {
                 seen.push_back(f.path + "@" + std::to_string(f.line));
                 return absl::OkStatus();
               }},
              {"b", [&](const Field& f) {
                 seen.push_back(f.path + "@" + std::to_string(f.line));
                 return r.ForEachKey(f, {{"x", [&](const Field& g) {
                                            seen.push_back(g.path + "@" + std::to_string(g.line));
                                            return absl::OkStatus();
                                          }}});
               }}});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(seen, ElementsAre("b@2", "b.x@2", "a@3"));
}

TEST(FieldReaderTest, ForEachKeyErrors) {
  FieldReader r("f.yml");
  auto run = [&](const std::string& text) {
    absl::StatusOr<Field> root = r.Load(text);
    if (!root.ok()) return root.status();
    auto ok = [](const Field&) { return absl::OkStatus(); };
    return r.ForEachKey(*root, {{"alpha", ok}, {"beta", ok}}, {{"gamma", "use beta"}});
  };
  EXPECT_EQ(Message(run("alpha: 1\ndelta: 2\n")),
            "f.yml line 2: delta: unknown key; expected one of alpha, beta");
  EXPECT_EQ(Message(run("alpha: 1\nalpha: 2\n")), "f.yml line 2: alpha: duplicate key");
  EXPECT_EQ(Message(run("gamma: 1\n")),
            "f.yml line 1: gamma: not supported by diskidle_exporter (use beta)");
  EXPECT_EQ(Message(run("[1]\n")),
            "f.yml line 1: top level: expected a map with keys alpha, beta, got a list");
  EXPECT_EQ(Message(run("just text\n")),
            "f.yml line 1: top level: expected a map with keys alpha, beta, got \"just text\"");
  EXPECT_EQ(Message(run("? [1]\n: 2\n")),
            "f.yml line 1: top level: expected keys alpha, beta, got a list as a key");
  // User text in a key is escaped and bounded so the error stays one line.
  EXPECT_EQ(Message(run("\"al\\npha\": 1\n")),
            "f.yml line 1: \"al\\npha\": unknown key; expected one of alpha, beta");
  EXPECT_EQ(Message(run(std::string(70, 'k') + ": 1\n")),
            "f.yml line 1: \"" + std::string(60, 'k') +
                "...\": unknown key; expected one of alpha, beta");
  EXPECT_TRUE(run("").ok());
}

TEST(FieldReaderTest, ForEachEntryRefusesDuplicatesAndOddKeys) {
  FieldReader r("f");
  auto run = [&](const std::string& text, std::vector<std::string>* keys) {
    Field users = Child(r, text, "users");
    return r.ForEachEntry(users, "a map of users", [&](const std::string& key, const Field& value) {
      keys->push_back(key + "=" + value.value.Scalar() + "@" + value.path);
      return absl::OkStatus();
    });
  };
  std::vector<std::string> keys;
  ASSERT_TRUE(run("users:\n  b: 1\n  a: 2\n", &keys).ok());
  EXPECT_THAT(keys, ElementsAre("b=1@users.b", "a=2@users.a"));
  EXPECT_EQ(Message(run("users:\n  a: 1\n  a: 2\n", &keys)), "f line 3: users.a: duplicate key");
  EXPECT_EQ(Message(run("users: [a]\n", &keys)),
            "f line 1: users: expected a map of users, got a list");
  EXPECT_EQ(Message(run("users:\n  {a: 1}: 2\n", &keys)),
            "f line 2: users: expected a map of users, got a map as a key");
  EXPECT_TRUE(run("users:\n", &keys).ok());
}

TEST(FieldReaderTest, Bool) {
  FieldReader r("f");
  for (const char* yes : {"true", "True", "TRUE"}) {
    absl::StatusOr<bool> v = r.Bool(Child(r, std::string("k: ") + yes + "\n", "k"));
    ASSERT_TRUE(v.ok()) << yes;
    EXPECT_TRUE(*v) << yes;
  }
  for (const char* no : {"false", "False", "FALSE"}) {
    absl::StatusOr<bool> v = r.Bool(Child(r, std::string("k: ") + no + "\n", "k"));
    ASSERT_TRUE(v.ok()) << no;
    EXPECT_FALSE(*v) << no;
  }
  // YAML 1.1's yes/no/on/off are refused: "no" meaning false surprises people.
  for (const char* other : {"yes", "no", "on", "1", "''", "[true]"}) {
    absl::StatusOr<bool> v = r.Bool(Child(r, std::string("k: ") + other + "\n", "k"));
    ASSERT_FALSE(v.ok()) << other;
    EXPECT_THAT(Message(v.status()),
                ::testing::StartsWith("f line 1: k: expected true or false, got "));
  }
}

TEST(FieldReaderTest, IntWithRange) {
  FieldReader r("f");
  struct Case {
    const char* text;
    bool ok;
    int64_t want;
  } cases[] = {{"1", true, 1},
               {"10", true, 10},
               {"0", false, 0},
               {"11", false, 0},
               {"-1", false, 0},
               {"1.5", false, 0},
               {"0x5", false, 0},
               {"5 ", false, 0},
               {"+5", false, 0},
               {"", false, 0},
               {"99999999999999999999", false, 0}};
  for (const Case& c : cases) {
    absl::StatusOr<int64_t> v = r.Int(Child(r, std::string("k: '") + c.text + "'\n", "k"), 1, 10);
    ASSERT_EQ(v.ok(), c.ok) << "'" << c.text << "': " << v.status();
    if (c.ok) {
      EXPECT_EQ(*v, c.want) << c.text;
    } else {
      EXPECT_THAT(Message(v.status()),
                  ::testing::StartsWith("f line 1: k: expected an integer from 1 to 10, got "));
    }
  }
}

TEST(FieldReaderTest, TextIsPrintableUtf8) {
  FieldReader r("f");
  absl::StatusOr<std::string> v = r.Text(Child(r, "k: \"gr\\u00f6\\u00dfe\"\n", "k"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v,
            "gr\xc3\xb6\xc3\x9f"
            "e");
  for (const char* bad : {"\"a\\tb\"", "\"a\\x7f\"", "\"\\u0085\"", "'\xff'", "'\xc3'",
                          "'\xe0\x80\x80'", "'\xed\xa0\x80'"}) {
    absl::StatusOr<std::string> text = r.Text(Child(r, std::string("k: ") + bad + "\n", "k"));
    ASSERT_FALSE(text.ok()) << bad;
    EXPECT_THAT(Message(text.status()),
                ::testing::StartsWith("f line 1: k: expected printable UTF-8 text without "
                                      "control characters, got \""));
    EXPECT_EQ(Message(text.status()).find('\n'), std::string::npos);
  }
  // String takes any scalar; neither takes a map.
  absl::StatusOr<std::string> raw = r.String(Child(r, "k: \"a\\tb\"\n", "k"));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, "a\tb");
  EXPECT_EQ(Message(r.Text(Child(r, "k: {a: 1}\n", "k")).status()),
            "f line 1: k: expected a string, got a map");
  EXPECT_EQ(Message(r.Text(Child(r, "k:\n", "k")).status()),
            "f line 1: k: expected a string, got nothing (null)");
  absl::StatusOr<std::string> empty = r.Text(Child(r, "k:\n", "k"), /*null_is_empty=*/true);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(FieldReaderTest, Durations) {
  FieldReader r("f");
  struct Case {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"5m", absl::Minutes(5)},     {"2s", absl::Seconds(2)}, {"100ms", absl::Milliseconds(100)},
      {"1h30m", absl::Minutes(90)}, {"1d", absl::Hours(24)},  {"0", absl::ZeroDuration()}};
  for (const Case& c : cases) {
    absl::StatusOr<absl::Duration> d = r.Duration(Child(r, std::string("k: ") + c.text + "\n", "k"),
                                                  absl::ZeroDuration(), absl::Hours(48));
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_EQ(*d, c.want) << c.text;
    // The formatted form parses back to the same duration.
    std::optional<absl::Duration> again = ParsePromDuration(FormatPromDuration(c.want));
    ASSERT_TRUE(again.has_value()) << FormatPromDuration(c.want);
    EXPECT_EQ(*again, c.want);
  }
  for (const char* bad : {"10", "1m1h", "5 m", "ms", "-1s", "1.5s", "1s1s", "9999999999999h"}) {
    absl::StatusOr<absl::Duration> d = r.Duration(Child(r, std::string("k: '") + bad + "'\n", "k"),
                                                  absl::ZeroDuration(), absl::Hours(48));
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_THAT(Message(d.status()),
                ::testing::StartsWith("f line 1: k: expected a duration like \"500ms\""));
  }
  EXPECT_EQ(
      Message(r.Duration(Child(r, "k: 3d\n", "k"), absl::Seconds(1), absl::Hours(48)).status()),
      "f line 1: k: expected a duration from 1s to 2d, got \"3d\"");
  EXPECT_EQ(FormatPromDuration(absl::Milliseconds(90500)), "1m30s500ms");
}

TEST(FieldReaderTest, OneOfListsTheSpellings) {
  FieldReader r("f");
  enum class Color { kRed, kBlue };
  const std::vector<std::pair<std::string_view, Color>> names = {{"red", Color::kRed},
                                                                 {"blue", Color::kBlue}};
  absl::StatusOr<Color> blue = r.OneOf(Child(r, "k: blue\n", "k"), names);
  ASSERT_TRUE(blue.ok());
  EXPECT_EQ(*blue, Color::kBlue);
  EXPECT_EQ(Message(r.OneOf(Child(r, "k: Blue\n", "k"), names).status()),
            "f line 1: k: expected one of red, blue, got \"Blue\"");
  EXPECT_EQ(Message(r.OneOf(Child(r, "k: [red]\n", "k"), names).status()),
            "f line 1: k: expected one of red, blue, got a list");
}

TEST(FieldReaderTest, ItemsHaveIndexedPathsAndLines) {
  FieldReader r("f");
  absl::StatusOr<std::vector<Field>> items =
      r.Items(Child(r, "k:\n  - a\n  - b\n", "k"), "expected a list");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].path, "k[1]");
  EXPECT_EQ((*items)[1].line, 3);
  EXPECT_EQ(Message(r.Items(Child(r, "k: 1\n", "k"), "expected a list").status()),
            "f line 1: k: expected a list, got \"1\"");
  EXPECT_FALSE(r.Items(Child(r, "k: []\n", "k"), "expected a list").ok());
}

}  // namespace
}  // namespace diskidle::yaml
