#include "stacks/stacks_endpoint.h"

#include "absl/strings/str_cat.h"
#include "http/query_string.h"

namespace diskidle {
namespace {

// Time for symbolizing and writing the answer after the longest collection.
constexpr absl::Duration kAnswerMargin = absl::Seconds(60);

http::HttpResponse Error(int status, absl::string_view message) {
  return http::HttpResponse::Text(status, absl::StrCat(message, "\n"));
}

}  // namespace

http::HttpResponse ServeStacks(StackCollector& collector, const http::HttpRequest& request) {
  auto params = http::ParseQueryString(request.query);
  if (!params.ok()) return Error(400, params.status().message());
  absl::StatusOr<StackQuery> query = ParseStackQuery(*params);
  if (!query.ok()) return Error(400, query.status().message());
  absl::StatusOr<StackResult> result = collector.Collect(*query);
  if (!result.ok()) {
    switch (result.status().code()) {
      case absl::StatusCode::kInvalidArgument:
        return Error(400, result.status().message());
      case absl::StatusCode::kResourceExhausted: {
        http::HttpResponse busy = Error(429, result.status().message());
        busy.headers.emplace_back("Retry-After", absl::StrCat(kMaxStackSeconds));
        return busy;
      }
      case absl::StatusCode::kCancelled:
        return Error(503, result.status().message());
      default:
        return Error(500, absl::StrCat("stack collection failed: ", result.status().message()));
    }
  }
  http::HttpResponse response;
  response.body = std::move(result->folded);
  // What the kernel counted, to check the folded counts against.
  response.headers.emplace_back("X-Diskidle-Bios", absl::StrCat(result->matched_bios));
  response.headers.emplace_back("X-Diskidle-Attach", AttachModeName(result->attach_mode));
  return response;
}

http::Route StacksRoute(std::shared_ptr<StackCollector> collector) {
  http::Route route;
  route.path = kStacksPath;
  route.handler = [collector](const http::HttpRequest& request) {
    return ServeStacks(*collector, request);
  };
  route.timeout = absl::Seconds(kMaxStackSeconds) + kAnswerMargin;
  return route;
}

}  // namespace diskidle
