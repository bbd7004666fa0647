#include "http/exporter_routes.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "http/gzip.h"
#include "version.h"

namespace diskidle::http {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string HtmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(text,
                             {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

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

HttpResponse IndexPage(const ExporterPages& pages) {
  std::string rows;
  for (const auto& [name, status] : pages.collector_status()) {
    rows += absl::StrCat("<tr><td>", HtmlEscape(name), "</td><td>", HtmlEscape(status),
                         "</td></tr>");
  }
  if (rows.empty()) rows = "<tr><td colspan=2>no scrape yet</td></tr>";
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = absl::StrCat(
      "<!DOCTYPE html><html><head><title>diskidle_exporter</title></head><body>"
      "<h1>diskidle_exporter ", DISKIDLE_VERSION, "</h1>"
      "<p>Which process, through which syscall, sends which sizes of block I/O to which disk "
      "&mdash; next to the disk's /proc/diskstats counters.</p>"
      "<ul><li><a href=\"", HtmlEscape(pages.telemetry_path), "\">Metrics</a></li>"
      "<li><a href=\"/healthz\">Health</a> (", pages.ready() ? "ready" : "not ready", ")</li></ul>"
      "<h2>Collectors (last scrape)</h2><table border=1><tr><th>collector</th><th>status</th></tr>",
      rows, "</table></body></html>\n");
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
        Route{"/", false, false, [shared](const HttpRequest&) { return IndexPage(*shared); }});
  }
  return routes;
}

}  // namespace diskidle::http
