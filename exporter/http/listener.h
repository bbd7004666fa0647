// Listening sockets for a host and port, IPv4 and IPv6.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace diskidle::http {

// Binds and listens (non-blocking, close-on-exec). `host` "" listens on every
// address: [::] accepting IPv4 too, or 0.0.0.0 where the kernel has no IPv6
// ("::" too, as in Go). An
// IPv4 or IPv6 literal (without brackets) binds that address; a name such as
// "localhost" binds every address it resolves to. Errors name the address and
// the fix, e.g. a port already in use.
absl::StatusOr<std::vector<int>> Listen(const std::string& host, uint16_t port);

// "127.0.0.1:9436", "[::]:9436": what a listening socket is bound to.
std::string BoundAddress(int fd);

}  // namespace diskidle::http
