// The exporter's pages on the HTTP server: the scrape at the telemetry path
// (gzip when asked), the landing page at / (http/landing_page.h) and /healthz. Handed callbacks, so
// http/ knows nothing of collectors.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"
#include "model/live_rates.h"

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
  // The live numbers of "/" (unset: the page says there are none).
  std::function<LiveRates()> live_rates;
};

std::vector<Route> ExporterRoutes(ExporterPages pages);

}  // namespace diskidle::http
