// The exporter's pages on the HTTP server: the scrape at the telemetry path
// (gzip when asked), a small HTML page at / and /healthz. Handed callbacks, so
// http/ knows nothing of collectors.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"

namespace diskidle::http {

struct ExporterPages {
  std::string telemetry_path = "/metrics";
  // The text exposition of every collector.
  std::function<std::string()> render_metrics;
  // /healthz: 200 when true, else 503 with the reason.
  std::function<bool()> ready;
  std::function<std::string()> not_ready_reason;
  // (collector, "ok" or its error) from the last scrape, for "/".
  std::function<std::vector<std::pair<std::string, std::string>>()> collector_status;
};

std::vector<Route> ExporterRoutes(ExporterPages pages);

}  // namespace diskidle::http
