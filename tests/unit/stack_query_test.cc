// GET /debug/stacks parameters: what is accepted and the one-line reasons for
// what is not; and the query string decoding under them.
#include "stacks/stack_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/query_string.h"
#include "stacks/stacks_endpoint.h"

namespace diskidle {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<StackQuery> Parse(std::string_view query) {
  auto params = http::ParseQueryString(query);
  if (!params.ok()) return params.status();
  return ParseStackQuery(*params);
}

TEST(QueryStringTest, DecodesEscapesAndPlus) {
  auto params = http::ParseQueryString("comm=kworker%2Fu8%3A1&a+b=c+d&&flag");
  ASSERT_TRUE(params.ok());
  EXPECT_THAT(*params,
              ::testing::ElementsAre(std::make_pair("comm", "kworker/u8:1"),
                                     std::make_pair("a b", "c d"), std::make_pair("flag", "")));
  EXPECT_THAT(http::ParseQueryString("a=%zz").status().message(),
              HasSubstr("bad %-escape \"%zz\""));
  EXPECT_FALSE(http::ParseQueryString("a=%4").ok());
}

TEST(StackQueryTest, PidWithDefaults) {
  auto q = Parse("pid=4242");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->pid, 4242u);
  EXPECT_EQ(q->comm, "");
  EXPECT_EQ(q->device, "");
  EXPECT_EQ(q->op, std::nullopt);
  EXPECT_EQ(q->duration, absl::Seconds(10));
}

TEST(StackQueryTest, CommWithEveryOption) {
  auto q = Parse("comm=java&device=nvme0n1&op=flush&seconds=60");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->pid, 0u);
  EXPECT_EQ(q->comm, "java");
  EXPECT_EQ(q->device, "nvme0n1");
  EXPECT_EQ(q->op, 2);  // DISKIDLE_OP_FLUSH
  EXPECT_EQ(q->duration, absl::Seconds(60));
  EXPECT_EQ(Parse("pid=1&op=read")->op, 0);
  EXPECT_EQ(Parse("pid=1&op=write_zeroes")->op, 4);
  EXPECT_EQ(Parse("pid=1&seconds=1")->duration, absl::Seconds(1));
}

TEST(StackQueryTest, BadParametersGiveOneLineReasons) {
  struct Case {
    const char* query;
    const char* reason;
  } cases[] = {
      {"", "expected exactly one of pid=<pid> and comm=<name>"},
      {"seconds=5", "expected exactly one of pid=<pid> and comm=<name>"},
      {"pid=1&comm=x", "expected exactly one of pid=<pid> and comm=<name>"},
      {"pid=abc", "pid: expected a process id, got \"abc\""},
      {"pid=0", "pid: expected a process id, got \"0\""},
      {"pid=-3", "pid: expected a process id"},
      {"pid=1&pid=2", "parameter pid given twice"},
      {"comm=", "comm: expected a process name of 1 to 15 characters"},
      {"comm=a-name-of-16-chr", "comm: expected a process name of 1 to 15 characters"},
      {"pid=1&seconds=0", "seconds: expected a whole number from 1 to 60, got \"0\""},
      {"pid=1&seconds=61", "seconds: expected a whole number from 1 to 60, got \"61\""},
      {"pid=1&seconds=2.5", "seconds: expected a whole number from 1 to 60"},
      {"pid=1&op=fsync", "op: expected read, write, flush, discard, write_zeroes or other"},
      {"pid=1&device=../etc", "device: expected a disk name"},
      {"pid=1&device=sda/queue", "device: expected a disk name"},
      {"pid=1&tid=2", "unknown parameter \"tid\""},
  };
  for (const Case& c : cases) {
    auto q = Parse(c.query);
    ASSERT_FALSE(q.ok()) << c.query;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << c.query;
    EXPECT_THAT(q.status().message(), HasSubstr(c.reason)) << c.query;
    EXPECT_EQ(q.status().message().find('\n'), absl::string_view::npos) << c.query;
  }
}

}  // namespace
}  // namespace diskidle

namespace diskidle {
namespace {

// An empty fake procfs/sysfs: no process, no disk.
StackCollectorOptions NowhereOptions() {
  StackCollectorOptions options;
  options.procfs = "/nonexistent/proc";
  options.sysfs = "/nonexistent/sys";
  return options;
}

http::HttpRequest StacksRequest(std::string query) {
  http::HttpRequest request;
  request.method = "GET";
  request.path = kStacksPath;
  request.query = std::move(query);
  return request;
}

TEST(StacksEndpointTest, BadParametersAre400BeforeAnythingIsLoaded) {
  // Nothing here may reach BPF.
  StackCollector collector(NowhereOptions());
  http::HttpResponse response = ServeStacks(collector, StacksRequest("pid=1&seconds=0"));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "seconds: expected a whole number from 1 to 60, got \"0\"\n");
  response = ServeStacks(collector, StacksRequest("comm=%zz"));
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("bad %-escape"));
  response = ServeStacks(collector, StacksRequest("pid=12345"));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "pid: no process 12345\n");
  response = ServeStacks(collector, StacksRequest("pid=1&device=sda"));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "device: no disk named \"sda\" (see /sys/block)\n");
}

TEST(StacksEndpointTest, AfterShutdownItIs503) {
  StackCollector collector(NowhereOptions());
  collector.Shutdown();
  EXPECT_EQ(ServeStacks(collector, StacksRequest("pid=1")).status, 503);
}

TEST(StacksEndpointTest, TheRouteIsBehindAuthAndOutlivesALongCollection) {
  http::Route route = StacksRoute(std::make_shared<StackCollector>(StackCollectorOptions{}));
  EXPECT_EQ(route.path, "/debug/stacks");
  EXPECT_FALSE(route.open);
  EXPECT_FALSE(route.run_inline);
  EXPECT_GT(route.timeout, absl::Seconds(kMaxStackSeconds));
}

}  // namespace
}  // namespace diskidle
