#include "http/landing_page.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "version.h"

namespace diskidle::http {
namespace {

// Numbers for machines (data-value, data-count, data-window-seconds: what the
// tests read) keep 9 significant digits; numbers for people are rounded.
std::string Exact(double value) { return absl::StrFormat("%.9g", value); }

std::string Rate(double per_second) {
  return absl::StrFormat(per_second < 10 ? "%.2f" : "%.1f", per_second);
}

std::string Bytes(double per_second) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (per_second >= 1024 && unit < 4) {
    per_second /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s/s", per_second, kUnits[unit]);
}

std::string Seconds(absl::Duration window) {
  return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(window));
}

std::string Cell(absl::string_view css_class, absl::string_view text) {
  return absl::StrCat("<td class=\"", css_class, "\">", HtmlEscape(text), "</td>");
}

std::string NumberCell(absl::string_view css_class, double value, absl::string_view text,
                       absl::string_view extra_attributes = "") {
  return absl::StrCat("<td class=\"", css_class, " num\" data-value=\"", Exact(value), "\"",
                      extra_attributes, ">", HtmlEscape(text), "</td>");
}

std::string Unavailable(const std::string& reason) {
  return absl::StrCat("<p class=\"unavailable\">", HtmlEscape(reason), "</p>");
}

std::string DiskPart(const DiskRatesView& view) {
  std::string html = "<div id=\"disk-rates\"";
  if (!view.unavailable.empty()) {
    return absl::StrCat(html, "><h2>Disks</h2>", Unavailable(view.unavailable), "</div>");
  }
  absl::StrAppend(&html, " data-window-seconds=\"", Exact(absl::ToDoubleSeconds(view.window)),
                  "\"><h2>Disks</h2><p class=\"note\">From /proc/diskstats over the last ",
                  Seconds(view.window), ".</p>",
                  "<table id=\"disks\"><thead><tr><th>disk</th><th>%util</th><th>writes/s</th>"
                  "<th>written bytes/s</th><th>flushes/s</th></tr></thead><tbody>");
  for (const DiskRates& disk : view.disks) {
    absl::StrAppend(
        &html, "<tr data-device=\"", HtmlEscape(disk.device), "\">", Cell("device", disk.device),
        NumberCell("util", disk.utilization, absl::StrFormat("%.1f%%", disk.utilization * 100)),
        NumberCell("writes", disk.writes_per_second, Rate(disk.writes_per_second)),
        NumberCell("written-bytes", disk.written_bytes_per_second,
                   Bytes(disk.written_bytes_per_second)));
    if (disk.flushes_per_second) {
      absl::StrAppend(
          &html, NumberCell("flushes", *disk.flushes_per_second, Rate(*disk.flushes_per_second)));
    } else {
      // Kernels before 5.5 do not count flushes in /proc/diskstats.
      absl::StrAppend(&html, "<td class=\"flushes num\">n/a</td>");
    }
    absl::StrAppend(&html, "</tr>");
  }
  absl::StrAppend(&html, "</tbody></table></div>");
  return html;
}

std::string ProcessTable(absl::string_view id, absl::string_view rate_header,
                         const std::vector<ProcessRate>& rows, uint64_t ProcessRate::*count,
                         double ProcessRate::*rate) {
  std::string html = absl::StrCat("<table id=\"", id,
                                  "\"><thead><tr><th>pid</th><th>process</th><th>syscall</th>"
                                  "<th>disk</th><th>",
                                  rate_header, "</th></tr></thead><tbody>");
  for (const ProcessRate& row : rows) {
    absl::StrAppend(&html, "<tr>", Cell("pid", row.pid), Cell("comm", row.comm),
                    Cell("syscall", row.syscall), Cell("device", row.device),
                    NumberCell("rate", row.*rate, Rate(row.*rate),
                               absl::StrCat(" data-count=\"", row.*count, "\"")),
                    "</tr>");
  }
  if (rows.empty()) absl::StrAppend(&html, "<tr><td colspan=\"5\">none in the window</td></tr>");
  absl::StrAppend(&html, "</tbody></table>");
  return html;
}

std::string ProcessPart(const ProcessRatesView& view) {
  std::string html = "<div id=\"process-rates\"";
  if (!view.unavailable.empty()) {
    return absl::StrCat(html, "><h2>Processes</h2>", Unavailable(view.unavailable), "</div>");
  }
  absl::StrAppend(
      &html, " data-window-seconds=\"", Exact(absl::ToDoubleSeconds(view.window)),
      "\"><h2>Processes by bios/s</h2><p class=\"note\">Block I/O requests (bios) counted "
      "where they were submitted, by process, syscall and disk, over the last ",
      Seconds(view.window), ".</p>",
      ProcessTable("top-bios", "bios/s", view.top_by_bios, &ProcessRate::bios,
                   &ProcessRate::bios_per_second),
      "<h2>Processes by zero-byte bios/s</h2><p class=\"note\">Zero-byte bios are cache "
      "flushes: what fsync() of an unchanged file costs a disk.</p>",
      ProcessTable("top-zero-byte-bios", "zero-byte bios/s", view.top_by_zero_byte_bios,
                   &ProcessRate::zero_byte_bios, &ProcessRate::zero_byte_bios_per_second),
      "</div>");
  return html;
}

// Re-fetches the live section every 2 s and swaps it in; the fragment is
// rendered (and escaped) by the server like the page. data-refreshes on
// <body> counts the swaps (the browser test waits for one).
constexpr char kScript[] = R"js(
(function () {
  var refreshes = 0;
  function say(text) { document.getElementById('refresh-status').textContent = text; }
  function poll() {
    // Built from origin and path: a URL with user:password@ in it (also one
    // resolved against such a page) cannot be fetched, and the browser sends
    // the page's credentials to its own origin anyway.
    fetch(location.origin + location.pathname + '?part=live',
          {cache: 'no-store', credentials: 'same-origin'})
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (html) {
        document.getElementById('live').outerHTML = html;
        refreshes += 1;
        document.body.setAttribute('data-refreshes', String(refreshes));
        say('Updated ' + new Date().toLocaleTimeString() + '; refreshes every 2 s.');
      })
      .catch(function (e) { say('Refresh failed (' + e.message + '); retrying.'); })
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
)js";

constexpr char kStyle[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".note,#refresh-status{color:#666;font-size:.9em}.unavailable{color:#a40}"
    "h2{font-size:1.15em;margin-top:1.2em}";

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

std::string RenderLiveSection(const LiveRates& live) {
  return absl::StrCat("<section id=\"live\">", DiskPart(live.disks), ProcessPart(live.processes),
                      "</section>");
}

std::string RenderLandingPage(const LandingPageInput& input) {
  std::string rows;
  for (const auto& [name, status] : input.collector_status) {
    absl::StrAppend(&rows, "<tr><td>", HtmlEscape(name), "</td><td>", HtmlEscape(status),
                    "</td></tr>");
  }
  if (rows.empty()) rows = "<tr><td colspan=\"2\">no scrape yet</td></tr>";
  return absl::StrCat(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      // No favicon request: the page loads nothing but itself.
      "<link rel=\"icon\" href=\"data:,\">"
      "<title>diskidle_exporter</title><style>",
      kStyle,
      "</style>"
      // Without JavaScript the whole page reloads instead.
      "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript></head><body>"
      "<h1>diskidle_exporter ",
      HtmlEscape(DISKIDLE_VERSION),
      "</h1>"
      "<p>Which process, through which syscall, sends which sizes of block I/O to which disk "
      "&mdash; next to the disk's /proc/diskstats counters. "
      "<a href=\"",
      HtmlEscape(input.telemetry_path),
      "\">Metrics</a> &middot; "
      "<a href=\"/healthz\">Health</a> (",
      input.ready ? "ready" : "not ready",
      ")</p>"
      "<p id=\"refresh-status\">Refreshes every 2 s.</p>",
      RenderLiveSection(input.live),
      "<h2>Collectors (last scrape)</h2><table id=\"collectors\"><thead><tr><th>collector</th>"
      "<th>status</th></tr></thead><tbody>",
      rows, "</tbody></table><script>", kScript, "</script></body></html>\n");
}

}  // namespace diskidle::http
