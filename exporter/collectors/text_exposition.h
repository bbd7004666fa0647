// Writes the Prometheus text format (version 0.0.4) straight into a string:
// for the views with thousands of series, where building prometheus-cpp's
// structures would cost several allocations per label and per sample.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diskidle {

// `name="value",name="value"` with values escaped as the format requires
// (backslash, double quote, newline). Empty values are left out.
std::string RenderLabels(const std::vector<std::pair<std::string_view, std::string_view>>& labels);

class TextExposition {
 public:
  explicit TextExposition(std::string& out) : out_(out) {}

  void Family(std::string_view name, std::string_view help, std::string_view type);
  // name{labels} value; `labels` from RenderLabels (may be empty).
  void Sample(std::string_view name, std::string_view labels, uint64_t value);
  // A histogram series: _bucket for each bound (cumulative) and +Inf, _sum, _count.
  void Histogram(std::string_view name, std::string_view labels,
                 const std::vector<std::pair<uint64_t, uint64_t>>& cumulative_buckets,
                 uint64_t sum, uint64_t count);
  // The same with `le` values given as text (e.g. seconds, "0.005") and a
  // fractional sum.
  void HistogramWithLe(std::string_view name, std::string_view labels,
                       const std::vector<std::pair<std::string_view, uint64_t>>& cumulative_buckets,
                       double sum, uint64_t count);

 private:
  void Series(std::string_view name, std::string_view suffix, std::string_view labels,
              std::string_view extra_label);
  // name_bucket{labels,le="le_value"} cumulative
  void Bucket(std::string_view name, std::string_view labels, std::string_view le_value,
              uint64_t cumulative);
  // The +Inf bucket, _sum and _count of a histogram series.
  template <typename Sum>
  void HistogramEnd(std::string_view name, std::string_view labels, Sum sum, uint64_t count);
  std::string& out_;
};

}  // namespace diskidle
