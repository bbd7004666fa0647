#include "http/request.h"

#include <string>

#include "gtest/gtest.h"

namespace diskidle::http {
namespace {

using State = RequestParser::State;

TEST(RequestParserTest, ParsesAHeadInPieces) {
  RequestParser parser;
  const std::string head =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding:  gzip \r\n\r\nBODY";
  for (size_t i = 0; i + 1 < head.find("\r\n\r\n") + 3; ++i) {
    ASSERT_EQ(parser.Feed(head.substr(i, 1)), State::kIncomplete) << i;
  }
  ASSERT_EQ(parser.Feed(head.substr(head.find("\r\n\r\n") + 3)), State::kComplete);
  const HttpRequest& request = parser.request();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path, "/metrics");
  EXPECT_EQ(request.query, "x=1");
  EXPECT_EQ(request.Header("accept-encoding"), "gzip");
  EXPECT_EQ(request.Header("host"), "a");
  EXPECT_EQ(request.Header("authorization"), std::nullopt);
}

TEST(RequestParserTest, AcceptsBareLineFeedsAndAbsoluteForm) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed("HEAD http://node:9436/healthz HTTP/1.0\n\n"), State::kComplete);
  EXPECT_EQ(parser.request().method, "HEAD");
  EXPECT_EQ(parser.request().path, "/healthz");
}

struct BadHead {
  std::string input;
  int status;
};

class BadHeadTest : public ::testing::TestWithParam<BadHead> {};

TEST_P(BadHeadTest, IsRefusedWithTheRightStatus) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed(GetParam().input), State::kError);
  EXPECT_EQ(parser.error_status(), GetParam().status);
  EXPECT_FALSE(parser.error_reason().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Heads, BadHeadTest,
    ::testing::Values(BadHead{"GET /\r\n\r\n", 400}, BadHead{"GET / HTTP/1.1 x\r\n\r\n", 400},
                      BadHead{"GET metrics HTTP/1.1\r\n\r\n", 400},
                      BadHead{"GET / HTTP/2.0\r\n\r\n", 505},
                      BadHead{"G(T / HTTP/1.1\r\n\r\n", 400},
                      BadHead{"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400},
                      BadHead{"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
                      BadHead{"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414},
                      BadHead{"GET / HTTP/1.1\r\nX: " + std::string(17000, 'a') + "\r\n\r\n", 431}),
    [](const ::testing::TestParamInfo<BadHead>& info) {
      return "Case" + std::to_string(info.index);
    });

TEST(RequestParserTest, AnEndlessRequestLineFailsAtItsLimitNotAtTheEnd) {
  RequestParser parser;
  std::string chunk(1024, 'a');
  ASSERT_EQ(parser.Feed("GET /"), State::kIncomplete);
  State state = State::kIncomplete;
  for (int i = 0; i < 9 && state == State::kIncomplete; ++i) state = parser.Feed(chunk);
  EXPECT_EQ(state, State::kError);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(RequestParserTest, EndlessHeadersFailAtTheHeadLimit) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed("GET / HTTP/1.1\r\n"), State::kIncomplete);
  State state = State::kIncomplete;
  for (int i = 0; i < 3000 && state == State::kIncomplete; ++i) state = parser.Feed("X-A: b\r\n");
  EXPECT_EQ(state, State::kError);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(RequestParserTest, TooManyHeaders) {
  RequestParser parser(RequestLimits{8192, 16384, 3});
  EXPECT_EQ(parser.Feed("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), State::kError);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(RequestParserTest, AgreeingContentLengthsGiveTheLength) {
  for (const char* headers : {"Content-Length: 0\r\n", "Content-Length: 5\r\ncontent-length: 5\r\n",
                              "Content-Length: 7, 7\r\n"}) {
    RequestParser parser;
    ASSERT_EQ(parser.Feed(std::string("GET / HTTP/1.1\r\n") + headers + "\r\n"), State::kComplete)
        << headers;
    EXPECT_TRUE(parser.request().content_length.has_value()) << headers;
  }
  RequestParser without;
  ASSERT_EQ(without.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), State::kComplete);
  EXPECT_EQ(without.request().content_length, std::nullopt);
}

TEST(RequestParserTest, ConflictingOrMalformedContentLengthIsABadRequest) {
  for (const char* headers :
       {"Content-Length: 0\r\nContent-Length: 5\r\n", "Content-Length: 5, 6\r\n",
        "Content-Length: -1\r\n", "Content-Length: 1e3\r\n", "Content-Length:\r\n",
        "Content-Length: 5,\r\n", "Content-Length: +5\r\n",
        "Content-Length: 99999999999999999999999\r\n"}) {
    RequestParser parser;
    EXPECT_EQ(parser.Feed(std::string("GET / HTTP/1.1\r\n") + headers + "\r\n"), State::kError)
        << headers;
    EXPECT_EQ(parser.error_status(), 400) << headers;
  }
}

}  // namespace
}  // namespace diskidle::http
