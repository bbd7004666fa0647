#include "collectors/text_exposition.h"

#include <charconv>

namespace diskidle {
namespace {

void AppendNumber(std::string& out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendNumber(std::string& out, double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);  // shortest exact form
  out.append(buf, end);
}

}  // namespace

std::string RenderLabels(
    const std::vector<std::pair<std::string_view, std::string_view>>& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (value.empty()) continue;
    if (!out.empty()) out += ',';
    out.append(name);
    out += "=\"";
    AppendEscaped(out, value);
    out += '"';
  }
  return out;
}

void TextExposition::Family(std::string_view name, std::string_view help, std::string_view type) {
  out_ += "# HELP ";
  out_.append(name);
  out_ += ' ';
  // HELP text escapes backslash and newline only.
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_.append(name);
  out_ += ' ';
  out_.append(type);
  out_ += '\n';
}

void TextExposition::Series(std::string_view name, std::string_view suffix,
                            std::string_view labels, std::string_view extra_label) {
  out_.append(name);
  out_.append(suffix);
  if (labels.empty() && extra_label.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  out_.append(labels);
  if (!extra_label.empty()) {
    if (!labels.empty()) out_ += ',';
    out_.append(extra_label);
  }
  out_ += "} ";
}

void TextExposition::Sample(std::string_view name, std::string_view labels, uint64_t value) {
  Series(name, "", labels, "");
  AppendNumber(out_, value);
  out_ += '\n';
}

void TextExposition::Bucket(std::string_view name, std::string_view labels,
                            std::string_view le_value, uint64_t cumulative) {
  std::string le = "le=\"";
  le.append(le_value);
  le += '"';
  Series(name, "_bucket", labels, le);
  AppendNumber(out_, cumulative);
  out_ += '\n';
}

template <typename Sum>
void TextExposition::HistogramEnd(std::string_view name, std::string_view labels, Sum sum,
                                  uint64_t count) {
  Bucket(name, labels, "+Inf", count);
  Series(name, "_sum", labels, "");
  AppendNumber(out_, sum);
  out_ += '\n';
  Series(name, "_count", labels, "");
  AppendNumber(out_, count);
  out_ += '\n';
}

void TextExposition::Histogram(std::string_view name, std::string_view labels,
                               const std::vector<std::pair<uint64_t, uint64_t>>& cumulative_buckets,
                               uint64_t sum, uint64_t count) {
  std::string bound_text;
  for (const auto& [bound, cumulative] : cumulative_buckets) {
    bound_text.clear();
    AppendNumber(bound_text, bound);
    Bucket(name, labels, bound_text, cumulative);
  }
  HistogramEnd(name, labels, sum, count);
}

void TextExposition::HistogramWithLe(
    std::string_view name, std::string_view labels,
    const std::vector<std::pair<std::string_view, uint64_t>>& cumulative_buckets, double sum,
    uint64_t count) {
  for (const auto& [bound, cumulative] : cumulative_buckets) {
    Bucket(name, labels, bound, cumulative);
  }
  HistogramEnd(name, labels, sum, count);
}

}  // namespace diskidle
