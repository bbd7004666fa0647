// The address the HTTP server listens on, parsed once with the same rules for
// the --web.listen-address flag and the web.listen_address key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

struct ListenAddress {
  // "" = every address; else an IPv4 literal, an IPv6 literal without
  // brackets, or a DNS name such as "localhost".
  std::string host;
  uint16_t port = 9436;

  bool operator==(const ListenAddress&) const = default;

  // ":9436", "127.0.0.1:9436", "[::1]:9436", "localhost:9436": what
  // ParseListenAddress accepts, so it round-trips.
  std::string ToString() const;

  // The host is an IPv6 literal (and is written in brackets by ToString).
  bool IsIpv6() const;
};

// Parses host:port, [ipv6]:port or :port; port 0 asks the kernel for a free
// port. Errors are one line naming the input with an example, e.g.
// `expected host:port or :port (e.g. ":9436", "127.0.0.1:9436", "[::1]:9436"),
// got "::1:9436" (put an IPv6 address in brackets)`; callers prefix the key or flag.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace diskidle
