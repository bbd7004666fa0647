#include "http/request.h"

#include <algorithm>
#include <cctype>

namespace diskidle::http {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Position just past the blank line ending the head, or npos. Lines may end
// in CRLF or a bare LF (RFC 9112 allows servers to accept LF).
size_t EndOfHead(std::string_view buffer) {
  for (size_t pos = buffer.find('\n'); pos != std::string_view::npos;
       pos = buffer.find('\n', pos + 1)) {
    if (pos + 1 < buffer.size() && buffer[pos + 1] == '\n') return pos + 2;
    if (pos + 2 < buffer.size() && buffer[pos + 1] == '\r' && buffer[pos + 2] == '\n') {
      return pos + 3;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return std::string_view(value);
  }
  return std::nullopt;
}

RequestParser::State RequestParser::Fail(int status, std::string reason) {
  state_ = State::kError;
  error_status_ = status;
  error_reason_ = std::move(reason);
  buffer_.clear();
  return state_;
}

RequestParser::State RequestParser::Feed(std::string_view bytes) {
  if (state_ != State::kIncomplete) return state_;
  // Only look at what could still belong to the head.
  const size_t room = limits_.max_head + 4 - std::min(buffer_.size(), limits_.max_head + 4);
  buffer_.append(bytes.substr(0, room));
  // A request line longer than its limit fails before the head is complete.
  const size_t first_newline = buffer_.find('\n');
  const size_t line_length = first_newline == std::string::npos ? buffer_.size() : first_newline;
  if (line_length > limits_.max_request_line) return Fail(414, "request line too long");
  const size_t end = EndOfHead(buffer_);
  if (end == std::string::npos) {
    if (buffer_.size() > limits_.max_head) return Fail(431, "request head too large");
    return state_;
  }
  if (end > limits_.max_head + 1) return Fail(431, "request head too large");
  std::string head = buffer_.substr(0, end);
  buffer_.clear();
  buffer_.shrink_to_fit();
  return ParseHead(head);
}

RequestParser::State RequestParser::ParseHead(std::string_view head) {
  // Tolerate empty lines before the request line (RFC 9112 section 2.2).
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) head.remove_prefix(1);
  size_t eol = head.find('\n');
  std::string_view line = Trim(head.substr(0, eol));
  head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);

  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(400, "malformed method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.substr(0, 5) == "HTTP/") return Fail(505, "HTTP version not supported");
    return Fail(400, "malformed request line");
  }
  // absolute-form (a proxy-style "http://host/path") carries the path after the authority.
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return Fail(400, "malformed request target");
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return Fail(400, "malformed request target");
  }
  request_.method = std::string(method);
  size_t question = target.find('?');
  request_.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request_.query = std::string(target.substr(question + 1));

  while (!head.empty()) {
    eol = head.find('\n');
    std::string_view header_line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
    if (!header_line.empty() && header_line.back() == '\r') header_line.remove_suffix(1);
    if (header_line.empty()) break;
    // Obsolete line folding is refused (RFC 9112 section 5.2).
    if (header_line[0] == ' ' || header_line[0] == '\t') return Fail(400, "folded header line");
    const size_t colon = header_line.find(':');
    if (colon == std::string_view::npos) return Fail(400, "malformed header line");
    std::string_view name = header_line.substr(0, colon);
    if (!IsToken(name)) return Fail(400, "malformed header name");
    if (request_.headers.size() >= limits_.max_headers) return Fail(431, "too many headers");
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    request_.headers.emplace_back(std::move(lower), std::string(Trim(header_line.substr(colon + 1))));
  }
  return CheckContentLength();
}

// Every Content-Length header, and every element of a comma-separated one
// ("5, 5" is what a proxy that merged duplicates sends), must be the same run
// of digits.
RequestParser::State RequestParser::CheckContentLength() {
  for (const auto& [name, value] : request_.headers) {
    if (name != "content-length") continue;
    std::string_view rest = value;
    while (true) {
      const size_t comma = rest.find(',');
      std::string_view element = Trim(rest.substr(0, comma));
      if (element.empty() || element.size() > 18 ||
          !std::all_of(element.begin(), element.end(),
                       [](unsigned char c) { return c >= '0' && c <= '9'; })) {
        return Fail(400, "invalid Content-Length");
      }
      const unsigned long long length = std::stoull(std::string(element));
      if (request_.content_length && *request_.content_length != length) {
        return Fail(400, "conflicting Content-Length headers");
      }
      request_.content_length = length;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  state_ = State::kComplete;
  return state_;
}

}  // namespace diskidle::http
