// The web-config.yml parser in config/ (no OpenSSL: the TLS pre-flight is http/'s).
#include <crypt.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "config/web_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

using ::testing::HasSubstr;

// Made with `htpasswd -nbBC 4 alice 'correct horse'` (apache2-utils, $2y$) and
// Python's crypt.crypt('s3cret', mksalt(METHOD_BLOWFISH, rounds=16)) ($2b$).
constexpr char kAliceHash[] = "$2y$04$jxP1gSamQpbY8Dmr4/7ySOmg7jgp8AIYcRPMhWny24cSTlv.ExANK";
constexpr char kBobHash[] = "$2b$04$XfAIk3OQ/4MXfUDJZuRGoucW1qCH2koQF1bspeKsfwNXRBEZKy9ue";

absl::StatusOr<WebSecurityConfig> Parse(const std::string& yaml) {
  return ParseWebSecurityConfig(yaml, "web.yml", "/etc/diskidle/");
}

TEST(WebConfigParseTest, EmptyFileMeansPlainHttpWithoutAuth) {
  for (const char* text : {"", "# nothing\n", "---\n", "~\n"}) {
    absl::StatusOr<WebSecurityConfig> config = Parse(text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(*config, WebSecurityConfig{}) << text;
  }
}

TEST(WebConfigParseTest, ParsesTheExporterToolkitFormat) {
  absl::StatusOr<WebSecurityConfig> config = Parse(std::string(R"(
tls_server_config:
  cert_file: tls.crt
  key_file: /abs/tls.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
basic_auth_users:
  alice: )") + kAliceHash + "\n  bob: " + kBobHash +
                                                   "\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  // Relative paths are relative to the web config's directory.
  EXPECT_EQ(config->tls->cert_file, "/etc/diskidle/tls.crt");
  EXPECT_EQ(config->tls->key_file, "/abs/tls.key");
  EXPECT_EQ(config->tls->client_ca_file, "/etc/diskidle/ca.crt");
  EXPECT_EQ(config->tls->client_auth_type, ClientAuthType::kRequireAndVerifyClientCert);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls13);
  EXPECT_EQ(config->tls->max_version, TlsVersion::kTls13);
  EXPECT_FALSE(config->tls->prefer_server_cipher_suites);
  ASSERT_EQ(config->basic_auth_users.size(), 2u);
  EXPECT_EQ(config->basic_auth_users.at("alice"), kAliceHash);
  EXPECT_EQ(config->basic_auth_users.at("bob"), kBobHash);
}

TEST(WebConfigParseTest, DefaultsMatchExporterToolkit) {
  absl::StatusOr<WebSecurityConfig> config =
      Parse("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->client_auth_type, ClientAuthType::kNoClientCert);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls12);
  EXPECT_EQ(config->tls->max_version, TlsVersion::kTls13);
  EXPECT_TRUE(config->tls->prefer_server_cipher_suites);
}

TEST(WebConfigParseTest, EveryClientAuthTypeIsRead) {
  struct Case {
    const char* name;
    ClientAuthType want;
  } cases[] = {
      {"RequestClientCert", ClientAuthType::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
      {"RequireClientCert", ClientAuthType::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert},
  };
  for (const Case& c : cases) {
    absl::StatusOr<WebSecurityConfig> config =
        Parse(std::string("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                          "  client_ca_file: ca\n  client_auth_type: ") +
              c.name + "\n");
    ASSERT_TRUE(config.ok()) << c.name << ": " << config.status();
    ASSERT_TRUE(config->tls.has_value());
    EXPECT_EQ(config->tls->client_auth_type, c.want) << c.name;
  }
}

TEST(WebConfigParseTest, EmptyTlsSectionMeansPlainHttp) {
  for (const char* text : {"tls_server_config: {}\n", "tls_server_config:\n",
                           "tls_server_config:\n  cert_file: ''\n"}) {
    absl::StatusOr<WebSecurityConfig> config = Parse(text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_FALSE(config->tls.has_value()) << text;
  }
}

struct BadConfig {
  const char* yaml;
  const char* message;  // the exact one-line error
};

class BadWebConfigParseTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadWebConfigParseTest, IsAOneLineErrorNamingTheProblem) {
  absl::StatusOr<WebSecurityConfig> config = Parse(GetParam().yaml);
  ASSERT_FALSE(config.ok()) << GetParam().yaml;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(config.status().message()), GetParam().message);
  EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos);
}

constexpr char kTlsKeys[] =
    "cert_file, key_file, client_ca_file, client_auth_type, min_version, max_version, "
    "prefer_server_cipher_suites";

INSTANTIATE_TEST_SUITE_P(
    Errors, BadWebConfigParseTest,
    ::testing::Values(
        BadConfig{"tls_config:\n  cert_file: a\n",
                  "web.yml line 1: tls_config: unknown key; expected one of tls_server_config, "
                  "http_server_config, basic_auth_users"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
                  "web.yml line 4: tls_server_config.certfile: unknown key; expected one of "
                  "cert_file, key_file, client_ca_file, client_auth_type, min_version, "
                  "max_version, prefer_server_cipher_suites"},
        BadConfig{"tls_server_config:\n  cert_file: a.crt\n",
                  "web.yml line 2: tls_server_config.key_file: missing"},
        BadConfig{"tls_server_config:\n  key_file: a.key\n",
                  "web.yml line 2: tls_server_config.cert_file: missing"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  client_auth_type: Sometimes\n",
                  "web.yml line 4: tls_server_config.client_auth_type: expected one of "
                  "NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, "
                  "VerifyClientCertIfGiven, RequireAndVerifyClientCert, got \"Sometimes\""},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n",
                  "web.yml line 4: tls_server_config.min_version: expected one of TLS12, TLS13, "
                  "got \"SSL3\""},
        // Debian 12's OpenSSL 3 refuses TLS < 1.2 at its default security level:
        // accepting these would be a setting that silently does nothing.
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                  "web.yml line 4: tls_server_config.min_version: TLS10 is not supported: "
                  "OpenSSL 3 refuses TLS before 1.2 at its default security level; use TLS12 "
                  "or TLS13"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n",
                  "web.yml line 4: tls_server_config.min_version: TLS11 is not supported: "
                  "OpenSSL 3 refuses TLS before 1.2 at its default security level; use TLS12 "
                  "or TLS13"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n",
                  "web.yml line 4: tls_server_config.max_version: TLS11 is not supported: "
                  "OpenSSL 3 refuses TLS before 1.2 at its default security level; use TLS12 "
                  "or TLS13"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
                  "  max_version: TLS12\n",
                  "web.yml line 4: tls_server_config.min_version: TLS13 is greater than "
                  "max_version TLS12"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  client_auth_type: RequireAndVerifyClientCert\n",
                  "web.yml line 2: tls_server_config.client_ca_file: required when "
                  "client_auth_type verifies client certificates"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  client_auth_type: VerifyClientCertIfGiven\n",
                  "web.yml line 2: tls_server_config.client_ca_file: required when "
                  "client_auth_type verifies client certificates"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
                  "web.yml line 2: tls_server_config.client_ca_file: set but client_auth_type "
                  "is NoClientCert (set client_auth_type, e.g. RequireAndVerifyClientCert)"},
        // exporter-toolkit keys we do not implement are refused by name.
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
                  "web.yml line 4: tls_server_config.cipher_suites: not supported by "
                  "diskidle_exporter (remove it; OpenSSL's default cipher suites apply)"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  curve_preferences: [X25519]\n",
                  "web.yml line 4: tls_server_config.curve_preferences: not supported by "
                  "diskidle_exporter (remove it; OpenSSL's default groups apply)"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n"
                  "  client_auth_type: RequireAndVerifyClientCert\n"
                  "  client_allowed_sans: [scraper.example]\n",
                  "web.yml line 6: tls_server_config.client_allowed_sans: not supported by "
                  "diskidle_exporter (remove it; any client certificate that verifies against "
                  "client_ca_file is accepted)"},
        BadConfig{"tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n",
                  "web.yml line 2: tls_server_config.cert: not supported by diskidle_exporter "
                  "(inline PEM; put the certificate in a file and set cert_file)"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key: secret\n",
                  "web.yml line 3: tls_server_config.key: not supported by diskidle_exporter "
                  "(inline PEM; put the key in a file and set key_file)"},
        BadConfig{"tls_server_config:\n  client_ca: pem\n",
                  "web.yml line 2: tls_server_config.client_ca: not supported by "
                  "diskidle_exporter (inline PEM; put the CA certificates in a file and set "
                  "client_ca_file)"},
        BadConfig{"http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
                  "web.yml line 2: http_server_config.headers: not supported by "
                  "diskidle_exporter (remove it; the exporter sets its own response headers)"},
        BadConfig{"rate_limit:\n  interval: 1s\n  burst: 20\n",
                  "web.yml line 1: rate_limit: not supported by diskidle_exporter (remove it; "
                  "diskidle_exporter does not rate-limit requests)"},
        BadConfig{"http_server_config:\n  http2: maybe\n",
                  "web.yml line 2: http_server_config.http2: expected true or false, got "
                  "\"maybe\""},
        BadConfig{"basic_auth_users:\n  alice: hunter2\n",
                  "web.yml line 2: basic_auth_users.alice: not a valid bcrypt hash (expected "
                  "$2y$..., e.g. from `htpasswd -nBC 10 USER`)"},
        // A $1$ (MD5-crypt) hash is a valid crypt(3) hash but not bcrypt.
        BadConfig{"basic_auth_users:\n  alice: $1$abcdefgh$abcdefghijklmnopqrstuv\n",
                  "web.yml line 2: basic_auth_users.alice: not a valid bcrypt hash (expected "
                  "$2y$..., e.g. from `htpasswd -nBC 10 USER`)"},
        BadConfig{"basic_auth_users:\n  alice: $2y$10$short\n",
                  "web.yml line 2: basic_auth_users.alice: not a valid bcrypt hash (expected "
                  "$2y$..., e.g. from `htpasswd -nBC 10 USER`)"},
        // Found by the web_config fuzzer: validating a cost-20 hash ran bcrypt for a minute.
        BadConfig{"basic_auth_users:\n  alice: $2y$20$X0h6.4XzVQ7yB2vW9aL5Ze8oN2Jm0ZzYq8a6mX0y1Z2Q3w4E5r6T7\n",
                  "web.yml line 2: basic_auth_users.alice: bcrypt cost 20 is too high: every "
                  "check of a new password would take seconds to hours; use a cost from 4 to 14 "
                  "(`htpasswd -nBC 10 USER`)"},
        BadConfig{"basic_auth_users:\n  alice: $2y$10$X0h6.4XzVQ7yB2vW9aL5Ze8oN2Jm0ZzYq8a6mX0y1Z2Q3w4E5r6T!\n",
                  "web.yml line 2: basic_auth_users.alice: not a valid bcrypt hash (expected "
                  "$2y$..., e.g. from `htpasswd -nBC 10 USER`)"},
        BadConfig{"basic_auth_users:\n  alice: [x]\n",
                  "web.yml line 2: basic_auth_users.alice: expected a string, got a list"},
        BadConfig{"basic_auth_users:\n  'a:b': $2y$10$short\n",
                  "web.yml line 2: basic_auth_users.a:b: user names must be non-empty printable "
                  "text without ':'"},
        BadConfig{"basic_auth_users: [alice]\n",
                  "web.yml line 1: basic_auth_users: expected a map of user name to bcrypt "
                  "hash, got a list"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  cert_file: b\n",
                  "web.yml line 3: tls_server_config.cert_file: duplicate key"},
        BadConfig{"tls_server_config: [\n",
                  "web.yml line 2: invalid YAML: end of sequence flow not found"},
        BadConfig{"- a\n",
                  "web.yml line 1: top level: expected a map with keys tls_server_config, "
                  "http_server_config, basic_auth_users, got a list"},
        BadConfig{"basic_auth_users: {}\n---\nbasic_auth_users: {}\n",
                  "web.yml line 2: top level: expected a single YAML document, got more"},
        BadConfig{"tls_server_config:\n  cert_file: \"a\\tb\"\n  key_file: b\n",
                  "web.yml line 2: tls_server_config.cert_file: expected printable UTF-8 text "
                  "without control characters, got \"a\\tb\""},
        // Regressions from tests/fuzz/web_config_fuzz.cc: a key or a YAML error
        // carrying a newline must still give a one-line message.
        BadConfig{"\"tls\\nserver\": {}\n",
                  "web.yml line 1: \"tls\\nserver\": unknown key; expected one of "
                  "tls_server_config, http_server_config, basic_auth_users"},
        BadConfig{"tls_server_config:\n  cert_file: \"a\\\x01\"\n",
                  "web.yml line 2: invalid YAML: unknown escape character: \\x01"}),
    // Stable test names (ctest discovers them at build time, runs them later).
    [](const ::testing::TestParamInfo<BadConfig>& info) {
      return "Case" + std::to_string(info.index);
    });

// The old parser kept the last of two entries silently.
TEST(WebConfigParseTest, DuplicateUserIsRefused) {
  absl::StatusOr<WebSecurityConfig> config = Parse(std::string("basic_auth_users:\n  alice: ") +
                                                   kAliceHash + "\n  alice: " + kBobHash + "\n");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(std::string(config.status().message()),
            "web.yml line 3: basic_auth_users.alice: duplicate key");
}

TEST(ReadWebSecurityConfigFileTest, MissingFileIsNamed) {
  absl::StatusOr<WebSecurityConfig> config = ReadWebSecurityConfigFile("/nonexistent/web.yml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(std::string(config.status().message()),
            "web config file: open /nonexistent/web.yml: No such file or directory");
}

TEST(ReadWebSecurityConfigFileTest, RelativePathsAreRelativeToTheFile) {
  char dir_template[] = "/tmp/web_config_parse_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/web.yml";
  { std::ofstream(path) << "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"; }
  absl::StatusOr<WebSecurityConfig> config = ReadWebSecurityConfigFile(path);
  std::remove(path.c_str());
  rmdir(dir.c_str());
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert_file, dir + "/tls.crt");
  EXPECT_EQ(config->tls->key_file, dir + "/tls.key");
}

TEST(ReadWebSecurityConfigFileTest, ErrorsNameTheFile) {
  char dir_template[] = "/tmp/web_config_parse_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/web.yml";
  { std::ofstream(path) << "tls_server_config:\n  min_version: TLS10\n"; }
  absl::StatusOr<WebSecurityConfig> config = ReadWebSecurityConfigFile(path);
  std::remove(path.c_str());
  rmdir(dir_template);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(path + " line 2: tls_server_config.min_version: TLS10 is not supported"));
}

TEST(ReadWebSecurityConfigFileTest, ShippedExampleLoads) {
  absl::StatusOr<WebSecurityConfig> config =
      ReadWebSecurityConfigFile(std::string(DISKIDLE_SOURCE_DIR) + "/config/web-config.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tls.has_value());
  ASSERT_EQ(config->basic_auth_users.count("prometheus"), 1u);
  // docs/security.md documents this example password.
  const std::string& hash = config->basic_auth_users.at("prometheus");
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r("change-me", hash.c_str(), data.get());
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(std::string(out), hash);
}

}  // namespace
}  // namespace diskidle
