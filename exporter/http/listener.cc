#include "http/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace diskidle::http {
namespace {

std::string Display(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::Status BindError(const std::string& shown, int err) {
  if (err == EADDRINUSE) {
    return absl::UnavailableError(absl::StrCat(
        "listen on ", shown, ": address already in use (is another exporter running?); "
        "choose another with --web.listen-address"));
  }
  if (err == EADDRNOTAVAIL) {
    return absl::UnavailableError(absl::StrCat(
        "listen on ", shown, ": no such address on this host; use an address of one of its "
        "interfaces, or :PORT for all"));
  }
  // An IPv6 link-local address is only bindable with a zone (fe80::1%eth0),
  // which host:port addresses here cannot carry.
  if (err == EINVAL && absl::StartsWithIgnoreCase(shown, "[fe8")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen on ", shown, ": an IPv6 link-local address needs a zone, which "
        "--web.listen-address cannot take; use a global address, or [::]:PORT for all"));
  }
  if (err == EACCES) {
    return absl::PermissionDeniedError(absl::StrCat(
        "listen on ", shown, ": permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"));
  }
  return absl::UnavailableError(absl::StrCat("listen on ", shown, ": ", std::strerror(err)));
}

// One listening socket, or the errno of the step that failed.
int ListenOn(const sockaddr* addr, socklen_t len, bool v6only, int* err) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (addr->sa_family == AF_INET6) {
    int value = v6only ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &value, sizeof(value));
  }
  if (bind(fd, addr, len) != 0 || listen(fd, 1024) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string BoundAddress(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    return absl::StrCat("[", text, "]:", ntohs(a->sin6_port));
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&addr);
  inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
  return absl::StrCat(text, ":", ntohs(a->sin_port));
}

absl::StatusOr<std::vector<int>> Listen(const std::string& host, uint16_t port) {
  int err = 0;
  // "[::]" means every address, IPv4 included, as in Go's net.Listen (what
  // node_exporter users know).
  if (host.empty() || host == "::") {
    // Dual-stack [::] takes IPv4 too; a kernel or container without IPv6
    // refuses the socket or the address, and then 0.0.0.0 does.
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(port);
    int fd = ListenOn(reinterpret_cast<sockaddr*>(&any6), sizeof(any6), false, &err);
    if (fd >= 0) return std::vector<int>{fd};
    if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL) return BindError(absl::StrCat(":", port), err);
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = htons(port);
    fd = ListenOn(reinterpret_cast<sockaddr*>(&any4), sizeof(any4), false, &err);
    if (fd >= 0) return std::vector<int>{fd};
    return BindError(absl::StrCat(":", port), err);
  }

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("listen on ", Display(host, port),
                                                   ": cannot resolve \"", host, "\": ",
                                                   gai_strerror(rc)));
  }
  std::vector<int> fds;
  absl::Status first_error;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ListenOn(ai->ai_addr, ai->ai_addrlen, true, &err);
    if (fd >= 0) {
      fds.push_back(fd);
    } else if (err == EADDRINUSE && !fds.empty()) {
      // getaddrinfo can list one address twice (e.g. localhost in /etc/hosts
      // twice); the second bind then collides with our own first.
      continue;
    } else if (first_error.ok()) {
      first_error = BindError(Display(host, port), err);
    }
  }
  freeaddrinfo(found);
  // A name resolving to an address this host lacks (::1 without IPv6) is fine
  // as long as one address works; a port in use anywhere is an error.
  if (fds.empty() || (absl::IsUnavailable(first_error) &&
                       absl::StrContains(first_error.message(), "already in use"))) {
    for (int fd : fds) close(fd);
    if (first_error.ok()) first_error = BindError(Display(host, port), EADDRNOTAVAIL);
    return first_error;
  }
  return fds;
}

}  // namespace diskidle::http
