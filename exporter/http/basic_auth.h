// HTTP basic authentication against bcrypt hashes (exporter-toolkit's
// basic_auth_users), built so that it cannot be turned against the exporter:
//  - verdicts are remembered (good ones so a scrape every few seconds does not
//    pay bcrypt, bad ones so a repeated wrong password costs nothing);
//  - the verifications that do run are serialised on one thread by the server
//    (see server.h), so a flood of new passwords costs at most one core;
//  - an unknown user costs as much as the dearest configured hash, so response
//    time does not tell which names exist.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace diskidle::http {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// Decodes an `Authorization: Basic <base64(user:password)>` header value.
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header_value);

class BasicAuthenticator {
 public:
  enum class Verdict { kAllowed, kDenied, kUnknown };

  // `users`: name -> bcrypt hash ($2a$/$2b$/$2y$), already validated.
  explicit BasicAuthenticator(std::map<std::string, std::string> users);

  // From memory only, never slow: kUnknown means Verify() must run.
  Verdict Cached(const BasicCredentials& credentials) const;

  // Runs bcrypt (tens to hundreds of milliseconds) and remembers the verdict.
  bool Verify(const BasicCredentials& credentials);

  // The bcrypt cost an unknown user is checked at (the dearest configured).
  int stand_in_cost() const { return stand_in_cost_; }

 private:
  // (user, SHA-256 of the password): the key of remembered verdicts.
  std::string CacheKey(const BasicCredentials& credentials) const;
  void Remember(const std::string& key, bool allowed);

  std::map<std::string, std::string> users_;
  std::string stand_in_hash_;
  int stand_in_cost_ = 10;

  mutable absl::Mutex mu_;
  // Bounded LRU of verdicts: a client cycling through passwords cannot grow memory.
  struct Entry {
    bool allowed;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  absl::flat_hash_map<std::string, Entry> verdicts_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
};

// Checks a password against a crypt(3) hash with a constant-time comparison.
bool CryptVerify(std::string_view password, const std::string& hash);

// The cost of a $2?$NN$ bcrypt hash, or nullopt.
std::optional<int> BcryptCost(std::string_view hash);

}  // namespace diskidle::http
