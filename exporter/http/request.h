// An HTTP/1.x request head (request line + headers), parsed incrementally from
// bytes as they arrive, with hard limits so that no client can make the server
// buffer without bound. Bodies are never read: the exporter only serves GET/HEAD.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diskidle::http {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // the target without its query, e.g. "/metrics"
  std::string query;   // after '?', without it
  // Header names lower-cased; values with surrounding whitespace removed.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body length every Content-Length header agrees on (the parser refuses
  // a head where they disagree or one is not a number); nullopt without one.
  std::optional<unsigned long long> content_length;

  // The first header of that (lower-case) name, or nullopt.
  std::optional<std::string_view> Header(std::string_view lower_name) const;
};

struct RequestLimits {
  size_t max_request_line = 8 * 1024;
  size_t max_head = 16 * 1024;  // request line + all headers
  size_t max_headers = 64;
};

// Feed bytes until the head is complete or broken. Anything after the blank
// line (a body, a pipelined request) is left unread.
class RequestParser {
 public:
  enum class State { kIncomplete, kComplete, kError };

  explicit RequestParser(RequestLimits limits = {}) : limits_(limits) {}

  // Appends `bytes`; returns the new state. Once kComplete or kError, further
  // input is ignored.
  State Feed(std::string_view bytes);

  State state() const { return state_; }
  // Valid when kComplete.
  const HttpRequest& request() const { return request_; }
  // When kError: the status to answer (400, 414, 431, 505) and a short reason.
  // A Content-Length that is not a number, or several that disagree, is a 400:
  // the body's framing is unknown (RFC 9112 section 6.3), so no proxy in front
  // and this server may read the request differently.
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }

 private:
  State Fail(int status, std::string reason);
  State ParseHead(std::string_view head);
  State CheckContentLength();

  RequestLimits limits_;
  State state_ = State::kIncomplete;
  std::string buffer_;
  HttpRequest request_;
  int error_status_ = 0;
  std::string error_reason_;
};

}  // namespace diskidle::http
