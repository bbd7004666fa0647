// GET /debug/stacks: the HTTP face of StackCollector. Bad parameters are 400
// with a one-line reason, a second collection while one runs is 429.
#pragma once

#include <memory>

#include "http/server.h"
#include "stacks/stack_collector.h"

namespace diskidle {

inline constexpr char kStacksPath[] = "/debug/stacks";

// The route, behind the same authentication as /metrics (not open). It runs
// on one of the server's handler threads for the whole collection; the
// collector refuses a second collection at once, so at most one thread is
// ever held and the other keeps serving scrapes.
http::Route StacksRoute(std::shared_ptr<StackCollector> collector);

// The handler itself (for tests).
http::HttpResponse ServeStacks(StackCollector& collector, const http::HttpRequest& request);

}  // namespace diskidle
