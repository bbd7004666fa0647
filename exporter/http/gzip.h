#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diskidle {

// gzip (RFC 1952) encoding of `data`, for Content-Encoding: gzip.
absl::StatusOr<std::string> GzipCompress(absl::string_view data);

// Whether an Accept-Encoding header value allows gzip (q > 0).
bool AcceptsGzip(absl::string_view accept_encoding);

}  // namespace diskidle
