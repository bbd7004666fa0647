// The page at /: names from the system stay text, a collector that is off is
// said, and the page loads nothing from elsewhere.
#include "http/landing_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace diskidle::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

LiveRates Sample() {
  LiveRates live;
  live.disks.window = absl::Seconds(10);
  live.disks.disks.push_back({.device = "loop3",
                              .utilization = 0.5,
                              .writes_per_second = 120,
                              .written_bytes_per_second = 4096,
                              .flushes_per_second = 100});
  live.processes.window = absl::Seconds(8);
  ProcessRate row{.pid = "42",
                  .comm = "<b id=x>&amp;",  // 13 bytes: fits a comm
                  .syscall = "fsync",
                  .device = "loop3",
                  .bios = 80,
                  .zero_byte_bios = 80,
                  .bios_per_second = 10,
                  .zero_byte_bios_per_second = 10};
  live.processes.top_by_bios.push_back(row);
  live.processes.top_by_zero_byte_bios.push_back(row);
  return live;
}

TEST(LandingPageTest, ProcessNamesAreTextNotMarkup) {
  const std::string html = RenderLiveSection(Sample());
  EXPECT_THAT(html, HasSubstr("<td class=\"comm\">&lt;b id=x&gt;&amp;amp;</td>"));
  EXPECT_THAT(html, Not(HasSubstr("<b id=x>")));
}

TEST(LandingPageTest, EscapesForTextAndQuotedAttributes) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\" title='y'>&</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  LiveRates live = Sample();
  live.disks.disks[0].device = "d\"><i>";
  EXPECT_THAT(RenderLiveSection(live), HasSubstr("data-device=\"d&quot;&gt;&lt;i&gt;\""));
}

TEST(LandingPageTest, RowsCarryTheRateTheCountAndTheWindow) {
  const std::string html = RenderLiveSection(Sample());
  EXPECT_THAT(html, HasSubstr("id=\"process-rates\" data-window-seconds=\"8\""));
  EXPECT_THAT(html,
              HasSubstr("<td class=\"rate num\" data-value=\"10\" data-count=\"80\">10.0</td>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"flushes num\" data-value=\"100\">100.0</td>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"util num\" data-value=\"0.5\">50.0%</td>"));
  EXPECT_THAT(html, HasSubstr("4.0 KiB/s"));
}

TEST(LandingPageTest, SaysWhatIsUnavailableInsteadOfATable) {
  LiveRates live;
  live.disks.unavailable = "The diskstats collector is off (collectors.diskstats.enabled: false).";
  live.processes.unavailable = "The bio collector is off <b>";
  const std::string html = RenderLiveSection(live);
  EXPECT_THAT(html, HasSubstr("<p class=\"unavailable\">The diskstats collector is off"));
  EXPECT_THAT(html, HasSubstr("The bio collector is off &lt;b&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<table")));
}

TEST(LandingPageTest, LinksStayAndNothingIsLoadedFromElsewhere) {
  const std::string html = RenderLandingPage({.telemetry_path = "/metrics",
                                              .ready = true,
                                              .collector_status = {{"bio", "ok"}},
                                              .live = Sample()});
  EXPECT_THAT(html, HasSubstr("<a href=\"/metrics\">"));
  EXPECT_THAT(html, HasSubstr("<a href=\"/healthz\">"));
  EXPECT_THAT(html, HasSubstr("<td>bio</td><td>ok</td>"));
  EXPECT_THAT(html, HasSubstr("fetch(location.origin + location.pathname + '?part=live'"));
  for (const char* external : {"src=", "http://", "https://", "@import", "url("}) {
    EXPECT_THAT(html, Not(HasSubstr(external))) << external;
  }
}

}  // namespace
}  // namespace diskidle::http
