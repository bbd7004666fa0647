#include "http/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "util/log.h"

namespace diskidle::http {
namespace {

// Bounded so that a client cycling through passwords cannot grow memory.
constexpr size_t kMaxRememberedVerdicts = 4096;
// A good password is re-verified now and then (a removed user stops working on
// reload anyway: the authenticator is rebuilt with the server).
constexpr auto kAllowedTtl = std::chrono::minutes(10);
// Long enough that a flood repeating a password pays bcrypt once.
constexpr auto kDeniedTtl = std::chrono::minutes(5);

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

// A bcrypt hash of 32 random bytes nobody knows, at `cost`.
std::string MakeStandInHash(int cost) {
  unsigned char random[16];
  RAND_bytes(random, sizeof(random));
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", cost, reinterpret_cast<const char*>(random), sizeof(random), salt,
                       sizeof(salt)) == nullptr) {
    return "";
  }
  unsigned char secret_bytes[32];
  RAND_bytes(secret_bytes, sizeof(secret_bytes));
  std::string secret = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(secret_bytes), sizeof(secret_bytes)));
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(secret.c_str(), salt, data.get());
  return out == nullptr || out[0] == '*' ? "" : std::string(out);
}

}  // namespace

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header_value) {
  absl::string_view value = absl::StripAsciiWhitespace(A(header_value));
  if (value.size() <= 6 || !absl::EqualsIgnoreCase(value.substr(0, 6), "Basic ")) {
    return std::nullopt;
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(value.substr(6)), &decoded)) {
    return std::nullopt;
  }
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    OPENSSL_cleanse(decoded.data(), decoded.size());
    return std::nullopt;
  }
  BasicCredentials credentials{decoded.substr(0, colon), decoded.substr(colon + 1)};
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return credentials;
}

std::optional<int> BcryptCost(std::string_view hash) {
  // $2b$10$<53 chars>
  if (hash.size() < 7 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') {
    return std::nullopt;
  }
  int cost = 0;
  if (!absl::SimpleAtoi(A(hash.substr(4, 2)), &cost)) return std::nullopt;
  return cost;
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users)
    : users_(std::move(users)) {
  for (const auto& [user, hash] : users_) {
    if (auto cost = BcryptCost(hash); cost && *cost > stand_in_cost_) stand_in_cost_ = *cost;
  }
  stand_in_hash_ = MakeStandInHash(stand_in_cost_);
  if (stand_in_hash_.empty()) {
    // Cannot happen with libxcrypt; if it did, unknown users would answer
    // faster than known ones, which is worth a line in the log.
    LogWarning("basic auth: cannot make a bcrypt stand-in hash; unknown users answer faster");
  }
}

std::string BasicAuthenticator::CacheKey(const BasicCredentials& credentials) const {
  return absl::StrCat(A(credentials.user), absl::string_view("\0", 1),
                      Sha256(credentials.password));
}

BasicAuthenticator::Verdict BasicAuthenticator::Cached(const BasicCredentials& credentials) const {
  const std::string key = CacheKey(credentials);
  absl::MutexLock lock(&mu_);
  auto it = verdicts_.find(key);
  if (it == verdicts_.end() || it->second.expires < std::chrono::steady_clock::now()) {
    return Verdict::kUnknown;
  }
  return it->second.allowed ? Verdict::kAllowed : Verdict::kDenied;
}

void BasicAuthenticator::Remember(const std::string& key, bool allowed) {
  absl::MutexLock lock(&mu_);
  if (auto it = verdicts_.find(key); it != verdicts_.end()) {
    lru_.erase(it->second.order);
    verdicts_.erase(it);
  }
  while (verdicts_.size() >= kMaxRememberedVerdicts && !lru_.empty()) {
    verdicts_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  auto ttl = allowed ? std::chrono::steady_clock::duration(kAllowedTtl)
                     : std::chrono::steady_clock::duration(kDeniedTtl);
  verdicts_[key] = Entry{allowed, std::chrono::steady_clock::now() + ttl, lru_.begin()};
}

bool BasicAuthenticator::Verify(const BasicCredentials& credentials) {
  const auto it = users_.find(credentials.user);
  bool allowed;
  if (it == users_.end()) {
    CryptVerify(credentials.password, stand_in_hash_);  // same cost as a known user
    allowed = false;
  } else {
    allowed = CryptVerify(credentials.password, it->second);
  }
  Remember(CacheKey(credentials), allowed);
  return allowed;
}

bool CryptVerify(std::string_view password, const std::string& hash) {
  if (hash.empty() || password.find('\0') != std::string_view::npos) return false;
  const std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  bool ok = out != nullptr && out[0] != '*' && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

}  // namespace diskidle::http
