// An HTTP response and its wire form. Every response closes the connection:
// scrapes are seconds apart, so keep-alive would only let idle clients hold
// connections.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace diskidle::http {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones

  // A plain-text response, e.g. Text(404, "not found\n").
  static HttpResponse Text(int status, std::string body);
};

// Status line, headers and (unless `head_only`, for HEAD) the body.
std::string SerializeResponse(const HttpResponse& response, bool head_only);

const char* StatusText(int status);

}  // namespace diskidle::http
