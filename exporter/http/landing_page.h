// The page at /: a live view for a person with a browser and no Prometheus
// (per-disk rates, the busiest processes by bios/s and by zero-byte bios/s),
// the links to the metrics and /healthz, and the collectors' last status.
// Plain HTML with an inline script that re-fetches the live section
// (/?part=live) every 2 s; no external assets. Every value that comes from
// the system (process and device names) is HTML-escaped here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "model/live_rates.h"

namespace diskidle::http {

// The query that asks / for the live section alone (what the page polls).
inline constexpr char kLivePartQuery[] = "part=live";

struct LandingPageInput {
  std::string telemetry_path;
  bool ready = false;
  // (collector, "ok" or its error) from the last scrape.
  std::vector<std::pair<std::string, std::string>> collector_status;
  LiveRates live;
};

// & < > " and ' as entities: safe in element text and in quoted attributes.
std::string HtmlEscape(absl::string_view text);

std::string RenderLandingPage(const LandingPageInput& input);
// The <section id="live"> element alone.
std::string RenderLiveSection(const LiveRates& live);

}  // namespace diskidle::http
