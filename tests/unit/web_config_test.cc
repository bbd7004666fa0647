#include "http/web_config.h"

#include "http/basic_auth.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle::http {
namespace {

using ::testing::HasSubstr;

// Made with `htpasswd -nbBC 4 alice 'correct horse'` (apache2-utils, $2y$) and
// Python's crypt.crypt('s3cret', mksalt(METHOD_BLOWFISH, rounds=16)) ($2b$).
constexpr char kAliceHash[] = "$2y$04$jxP1gSamQpbY8Dmr4/7ySOmg7jgp8AIYcRPMhWny24cSTlv.ExANK";
constexpr char kBobHash[] = "$2b$04$XfAIk3OQ/4MXfUDJZuRGoucW1qCH2koQF1bspeKsfwNXRBEZKy9ue";

absl::StatusOr<WebSecurityConfig> Parse(const std::string& yaml) {
  return ParseWebSecurityConfig(yaml, "web.yml", "/etc/diskidle/");
}

TEST(WebConfigTest, EmptyFileMeansPlainHttpWithoutAuth) {
  absl::StatusOr<WebSecurityConfig> config = Parse("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tls.has_value());
  EXPECT_TRUE(config->basic_auth_users.empty());
}

TEST(WebConfigTest, ParsesTheExporterToolkitFormat) {
  absl::StatusOr<WebSecurityConfig> config = Parse(std::string(R"(
tls_server_config:
  cert_file: tls.crt
  key_file: /abs/tls.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
http_server_config:
  http2: false
basic_auth_users:
  alice: )") + kAliceHash + "\n  bob: " + kBobHash + "\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  // Relative paths are relative to the web config's directory.
  EXPECT_EQ(config->tls->cert_file, "/etc/diskidle/tls.crt");
  EXPECT_EQ(config->tls->key_file, "/abs/tls.key");
  EXPECT_EQ(config->tls->client_ca_file, "/etc/diskidle/ca.crt");
  EXPECT_EQ(config->tls->client_auth_type, ClientAuthType::kRequireAndVerifyClientCert);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls13);
  EXPECT_EQ(config->tls->max_version, TlsVersion::kTls13);
  EXPECT_EQ(config->basic_auth_users.size(), 2u);
  EXPECT_EQ(config->basic_auth_users.at("alice"), kAliceHash);
}

TEST(WebConfigTest, DefaultsMatchExporterToolkit) {
  absl::StatusOr<WebSecurityConfig> config =
      Parse("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls->client_auth_type, ClientAuthType::kNoClientCert);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls12);
}

TEST(WebConfigTest, EmptyTlsSectionMeansPlainHttp) {
  absl::StatusOr<WebSecurityConfig> config = Parse("tls_server_config: {}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tls.has_value());
}

struct BadConfig {
  const char* yaml;
  const char* message;
};

class BadWebConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadWebConfigTest, IsAOneLineErrorNamingTheProblem) {
  absl::StatusOr<WebSecurityConfig> config = Parse(GetParam().yaml);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(GetParam().message));
  EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadWebConfigTest,
    ::testing::Values(
        BadConfig{"tls_config:\n  cert_file: a\n", "web.yml line 1: tls_config: unknown key"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
                  "web.yml line 4: tls_server_config.certfile: unknown key"},
        BadConfig{"tls_server_config:\n  cert_file: a.crt\n", "tls_server_config.key_file: missing"},
        BadConfig{"tls_server_config:\n  key_file: a.key\n", "tls_server_config.cert_file: missing"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  client_auth_type: Sometimes\n",
                  "line 4: tls_server_config.client_auth_type: unknown value \"Sometimes\" "
                  "(expected one of NoClientCert, RequestClientCert"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n",
                  "tls_server_config.min_version: unknown value \"SSL3\""},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
                  "  max_version: TLS12\n",
                  "min_version: is greater than max_version"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n"
                  "  client_auth_type: RequireAndVerifyClientCert\n",
                  "tls_server_config.client_ca_file: required"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
                  "client_ca_file: set but client_auth_type is NoClientCert"},
        BadConfig{"tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
                  "tls_server_config.cipher_suites: not supported"},
        BadConfig{"basic_auth_users:\n  alice: hunter2\n",
                  "line 2: basic_auth_users.alice: not a valid bcrypt hash"},
        // A $1$ (MD5-crypt) hash is a valid crypt(3) hash but not bcrypt.
        BadConfig{"basic_auth_users:\n  alice: $1$abcdefgh$abcdefghijklmnopqrstuv\n",
                  "basic_auth_users.alice: not a valid bcrypt hash"},
        BadConfig{"basic_auth_users:\n  alice: $2y$10$short\n",
                  "basic_auth_users.alice: not a valid bcrypt hash"},
        BadConfig{"basic_auth_users: [alice]\n", "basic_auth_users: expected a mapping"},
        BadConfig{"http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
                  "http_server_config.headers: not supported"},
        BadConfig{"tls_server_config: [\n", "web.yml line"},
        BadConfig{"- a\n", "expected a mapping at the top level"},
        // Regressions from tests/fuzz/web_config_fuzz.cc: a key or a YAML error
        // carrying a newline must still give a one-line message.
        BadConfig{"\"tls\\nserver\": {}\n", "tls\\nserver: unknown key"},
        BadConfig{"tls_server_config:\n  cert_file: \"a\\\x01\"\n", "invalid YAML: unknown escape"}),
    // Stable test names (ctest discovers them at build time, runs them later).
    [](const ::testing::TestParamInfo<BadConfig>& info) {
      return "Case" + std::to_string(info.index);
    });

TEST(LoadWebSecurityConfigTest, MissingFileIsNamed) {
  absl::StatusOr<WebSecurityConfig> config = LoadWebSecurityConfig("/nonexistent/web.yml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("web config \"/nonexistent/web.yml\": No such file or directory"));
}

TEST(LoadWebSecurityConfigTest, ShippedExampleLoads) {
  absl::StatusOr<WebSecurityConfig> config =
      LoadWebSecurityConfig(std::string(DISKIDLE_SOURCE_DIR) + "/config/web-config.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->basic_auth_users.count("prometheus"), 1u);
  // docs/security.md documents this example password.
  EXPECT_TRUE(CryptVerify("change-me", config->basic_auth_users.at("prometheus")));
}

}  // namespace
}  // namespace diskidle::http
