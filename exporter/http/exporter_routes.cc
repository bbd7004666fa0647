#include "http/exporter_routes.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "http/gzip.h"
#include "http/landing_page.h"

namespace diskidle::http {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

HttpResponse Metrics(const ExporterPages& pages, const HttpRequest& request) {
  HttpResponse response;
  response.content_type = kMetricsContentType;
  response.body = pages.render_metrics();
  auto accept = request.Header("accept-encoding");
  if (accept && AcceptsGzip(absl::string_view(accept->data(), accept->size()))) {
    if (auto gzipped = GzipCompress(response.body); gzipped.ok()) {
      response.body = *std::move(gzipped);
      response.headers.emplace_back("Content-Encoding", "gzip");
    }
  }
  return response;
}

// The landing page, or its live section alone when the page's script asks.
HttpResponse IndexPage(const ExporterPages& pages, const HttpRequest& request) {
  LiveRates live;
  if (pages.live_rates) live = pages.live_rates();
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  // The numbers change every second: a browser must not show a stored copy.
  response.headers.emplace_back("Cache-Control", "no-store");
  if (request.query == kLivePartQuery) {
    response.body = RenderLiveSection(live);
    return response;
  }
  response.body = RenderLandingPage({.telemetry_path = pages.telemetry_path,
                                     .ready = pages.ready(),
                                     .collector_status = pages.collector_status(),
                                     .live = std::move(live)});
  return response;
}

}  // namespace

std::vector<Route> ExporterRoutes(ExporterPages pages) {
  auto shared = std::make_shared<const ExporterPages>(std::move(pages));
  std::vector<Route> routes;
  routes.push_back(Route{"/healthz", /*open=*/true, /*run_inline=*/true,
                         [shared](const HttpRequest&) {
                           if (shared->ready()) return HttpResponse::Text(200, "ok\n");
                           return HttpResponse::Text(
                               503, absl::StrCat("not ready: ", shared->not_ready_reason(), "\n"));
                         }});
  routes.push_back(Route{shared->telemetry_path, false, false,
                         [shared](const HttpRequest& request) { return Metrics(*shared, request); }});
  if (shared->telemetry_path != "/") {
    routes.push_back(
        Route{"/", false, false,
              [shared](const HttpRequest& request) { return IndexPage(*shared, request); }});
  }
  return routes;
}

}  // namespace diskidle::http
