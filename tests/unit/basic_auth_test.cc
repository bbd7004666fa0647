#include "http/basic_auth.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace diskidle::http {
namespace {

// Made with `htpasswd -nbBC 4 alice 'correct horse'` (apache2-utils, $2y$) and
// Python's crypt.crypt('s3cret', mksalt(METHOD_BLOWFISH, rounds=16)) ($2b$).
constexpr char kAliceHash[] = "$2y$04$jxP1gSamQpbY8Dmr4/7ySOmg7jgp8AIYcRPMhWny24cSTlv.ExANK";
constexpr char kBobHash[] = "$2b$04$XfAIk3OQ/4MXfUDJZuRGoucW1qCH2koQF1bspeKsfwNXRBEZKy9ue";
// Only the cost field of these is read.
constexpr char kCost6Hash[] = "$2y$06$2xFuEbeJwCqUa1f/CrWBd.Jp5x9ahu8ObNZPTE7yR6vN4T9ClZfNa";

using Verdict = BasicAuthenticator::Verdict;

TEST(CryptVerifyTest, AcceptsTheRightPasswordForBothBcryptPrefixes) {
  EXPECT_TRUE(CryptVerify("correct horse", kAliceHash));
  EXPECT_TRUE(CryptVerify("s3cret", kBobHash));
}

TEST(CryptVerifyTest, RefusesWrongPasswords) {
  EXPECT_FALSE(CryptVerify("correct horsE", kAliceHash));
  EXPECT_FALSE(CryptVerify("", kAliceHash));
  EXPECT_FALSE(CryptVerify(std::string_view("correct horse\0x", 15), kAliceHash));
  EXPECT_FALSE(CryptVerify("anything", "not a hash"));
  EXPECT_FALSE(CryptVerify("anything", ""));
}

TEST(BasicAuthenticatorTest, VerifiesUserAndPassword) {
  BasicAuthenticator auth({{"alice", kAliceHash}, {"bob", kBobHash}});
  EXPECT_TRUE(auth.Verify({"alice", "correct horse"}));
  EXPECT_FALSE(auth.Verify({"alice", "s3cret"}));  // bob's password
  EXPECT_TRUE(auth.Verify({"bob", "s3cret"}));
  EXPECT_FALSE(auth.Verify({"carol", "correct horse"}));
  EXPECT_FALSE(auth.Verify({"", ""}));
}

TEST(BasicAuthenticatorTest, RemembersBothVerdictsAndNothingElse) {
  BasicAuthenticator auth(std::map<std::string, std::string>{{"alice", kAliceHash}});
  EXPECT_EQ(auth.Cached({"alice", "correct horse"}), Verdict::kUnknown);
  EXPECT_EQ(auth.Cached({"alice", "wrong"}), Verdict::kUnknown);
  auth.Verify({"alice", "correct horse"});
  auth.Verify({"alice", "wrong"});
  EXPECT_EQ(auth.Cached({"alice", "correct horse"}), Verdict::kAllowed);
  EXPECT_EQ(auth.Cached({"alice", "wrong"}), Verdict::kDenied);
  // A remembered verdict is for that exact user and password only.
  EXPECT_EQ(auth.Cached({"alice", "correct horse "}), Verdict::kUnknown);
  EXPECT_EQ(auth.Cached({"alicecorrect", " horse"}), Verdict::kUnknown);
  EXPECT_EQ(auth.Cached({"bob", "correct horse"}), Verdict::kUnknown);
}

TEST(BasicAuthenticatorTest, UnknownUsersCostTheDearestConfiguredHash) {
  using Users = std::map<std::string, std::string>;
  EXPECT_EQ(BasicAuthenticator(Users{{"alice", kAliceHash}}).stand_in_cost(), 10);  // the floor
  EXPECT_EQ(
      BasicAuthenticator(Users{{"alice", kAliceHash}, {"carol", kCost6Hash}}).stand_in_cost(), 10);
  EXPECT_EQ(BasicAuthenticator(Users{{"alice", kAliceHash},
                                     {"carol", "$2y$12$" + std::string(53, 'a')}})
                .stand_in_cost(),
            12);
  EXPECT_EQ(BcryptCost(kCost6Hash), 6);
  EXPECT_EQ(BcryptCost(kBobHash), 4);
  EXPECT_EQ(BcryptCost("nonsense"), std::nullopt);
}

TEST(ParseBasicAuthorizationTest, DecodesUserAndPassword) {
  // base64("alice:correct horse")
  auto credentials = ParseBasicAuthorization("Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==");
  ASSERT_TRUE(credentials.has_value());
  EXPECT_EQ(credentials->user, "alice");
  EXPECT_EQ(credentials->password, "correct horse");
  // The scheme is case-insensitive; a password may hold colons.
  credentials = ParseBasicAuthorization("basic YTpiOmM=");  // a:b:c
  ASSERT_TRUE(credentials.has_value());
  EXPECT_EQ(credentials->user, "a");
  EXPECT_EQ(credentials->password, "b:c");
}

TEST(ParseBasicAuthorizationTest, RefusesOtherSchemesAndBadEncodings) {
  EXPECT_FALSE(ParseBasicAuthorization("Bearer abc").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic !!!").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic YWxpY2U=").has_value());  // "alice", no colon
}

}  // namespace
}  // namespace diskidle::http
