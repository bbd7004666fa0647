#include "config/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/str_cat.h"
#include "config/yaml_fields.h"

namespace diskidle {
namespace {

// Debian's abseil has its own string_view type; bridge from std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsIpv6Literal(std::string_view host) {
  in6_addr address;
  return inet_pton(AF_INET6, std::string(host).c_str(), &address) == 1;
}

// Letters, digits, '-' and '.', in dot-separated labels of 1 to 63 characters
// that do not start or end with '-' (RFC 1123). A trailing dot is allowed.
bool IsDnsName(std::string_view host) {
  if (host.empty() || host.size() > 254) return false;
  if (host.back() == '.') host.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (IsIpv6()) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

bool ListenAddress::IsIpv6() const { return host.find(':') != std::string::npos; }

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [text](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected host:port or :port (e.g. \":9436\", \"127.0.0.1:9436\", "
                     "\"[::1]:9436\"), got ",
                     yaml::Quote(text), " (", AV(why), ")"));
  };
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return bad("no spaces or control characters");
    }
  }
  ListenAddress address;
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("unbalanced brackets");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return bad("no port");
    if (rest.front() != ':') return bad("expected \":port\" after \"]\"");
    port = rest.substr(1);
    if (host.empty()) return bad("empty host in brackets; \"[::]:9436\" is every IPv6 address");
    if (!IsIpv6Literal(host)) return bad("not an IPv6 address in brackets");
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("put an IPv6 address in brackets, e.g. \"[::1]:9436\"");
    }
    if (host.find_first_of("[]") != std::string_view::npos) return bad("unbalanced brackets");
    if (!host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos) {
      in_addr ipv4;
      if (inet_pton(AF_INET, std::string(host).c_str(), &ipv4) != 1) {
        return bad("not an IPv4 address");
      }
    } else if (!host.empty() && !IsDnsName(host)) {
      return bad("the host must be an IP address or a DNS name of letters, digits, '-' and '.'");
    }
  }
  uint32_t port_number = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      port_number > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  address.host = std::string(host);
  address.port = static_cast<uint16_t>(port_number);
  return address;
}

}  // namespace diskidle
