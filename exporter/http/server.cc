#include "http/server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "http/basic_auth.h"
#include "http/listener.h"
#include "http/tls_context.h"
#include "http/work_queue.h"
#include "util/log.h"

namespace diskidle::http {
namespace {

using Clock = std::chrono::steady_clock;

// After the response, the connection is shut for writing and what the client
// still sends is read and dropped for a moment before closing: closing a socket
// with unread input makes the kernel send a reset, which can destroy the
// response before the client reads it (a 413 to a client still sending its
// body). Bounded in time and bytes, so it is not "draining" a body.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 64 * 1024;
constexpr uint64_t kWakeId = 0;
constexpr uint64_t kFirstListenerId = 1;
constexpr uint64_t kFirstConnectionId = 1 << 16;

Clock::duration ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

enum class Phase { kHandshake, kReading, kWaiting, kWriting, kLingering };

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

struct Connection {
  uint64_t id = 0;
  int fd = -1;
  std::unique_ptr<SSL, SslDeleter> ssl;
  Phase phase = Phase::kReading;
  Clock::time_point accepted;
  Clock::time_point deadline;
  RequestParser parser;
  bool head_only = false;
  bool has_client_certificate = false;
  std::string out;
  size_t written = 0;
  size_t lingered = 0;
  uint32_t events = 0;  // what epoll watches now
};

// Outcome of one non-blocking read or write.
enum class Io { kProgress, kWantRead, kWantWrite, kClosed };

// What SSL_read/SSL_write's return value `n` means for the event loop. With
// TLS a read may need the socket writable (and a write readable), during
// renegotiation-free key updates and the handshake's tail alike.
Io SslOutcome(SSL* ssl, int n, size_t* done) {
  if (n > 0) {
    *done = static_cast<size_t>(n);
    return Io::kProgress;
  }
  const int err = SSL_get_error(ssl, n);
  ERR_clear_error();
  if (err == SSL_ERROR_WANT_READ) return Io::kWantRead;
  if (err == SSL_ERROR_WANT_WRITE) return Io::kWantWrite;
  return Io::kClosed;
}

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(ServerOptions options) : options_(std::move(options)) {}
  ~Impl();

  absl::Status Init();
  std::vector<std::string> addresses() const;

 private:
  void Loop();
  void Accept(int listener);
  void OnEvent(Connection& c, uint32_t events);
  void Advance(Connection& c);
  void Handshake(Connection& c);
  void ReadHead(Connection& c);
  void Dispatch(Connection& c);
  void Serve(Connection& c, const Route* route);
  void RunHandler(uint64_t id, const Route& route, HttpRequest request, bool head_only);
  void Respond(Connection& c, const HttpResponse& response);
  void Write(Connection& c);
  void Linger(Connection& c);
  void Watch(Connection& c, uint32_t events);
  void Close(uint64_t id);
  void Sweep(Clock::time_point now);
  bool EvictOldestStalled();
  Io ReadSome(Connection& c, char* buf, size_t size, size_t* got);
  Io WriteSome(Connection& c, const char* data, size_t size, size_t* put);
  void Complete(uint64_t id, HttpResponse response, bool head_only);
  void DrainCompletions();
  void Wake();
  const Route* FindRoute(const std::string& path) const;
  Clock::duration ResponseTimeout(const Route* route) const;

  ServerOptions options_;
  std::vector<int> listeners_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<TlsContextSource> tls_;
  std::unique_ptr<BasicAuthenticator> auth_;
  std::unique_ptr<WorkQueue> handlers_;
  std::unique_ptr<WorkQueue> verifier_;  // one thread: one bcrypt at a time

  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;  // loop thread only
  uint64_t next_id_ = kFirstConnectionId;
  size_t max_connections_ = 0;
  bool accept_paused_ = false;

  struct Completion {
    uint64_t id;
    HttpResponse response;
    bool head_only;
  };
  std::mutex completions_mu_;
  std::vector<Completion> completions_;

  std::atomic<bool> stop_{false};
  std::thread loop_;
};

absl::Status HttpServer::Impl::Init() {
  // A client that disconnects mid-response must not kill the process: writes
  // then fail with EPIPE instead (OpenSSL writes with plain write()).
  signal(SIGPIPE, SIG_IGN);
  if (options_.tls) {
    auto tls = TlsContextSource::Create(*options_.tls);
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
  }
  if (!options_.basic_auth_users.empty()) {
    auth_ = std::make_unique<BasicAuthenticator>(options_.basic_auth_users);
  }
  auto listeners = Listen(options_.host, options_.port);
  if (!listeners.ok()) return listeners.status();
  listeners_ = *std::move(listeners);

  // Leave descriptors for the exporter's own files (procfs, BPF maps).
  rlimit nofile{};
  max_connections_ = options_.max_connections;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    size_t budget = nofile.rlim_cur > 128 ? nofile.rlim_cur - 128 : 16;
    max_connections_ = std::min(max_connections_, budget);
  }

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll/eventfd: ", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (size_t i = 0; i < listeners_.size(); ++i) {
    ev.events = EPOLLIN;
    ev.data.u64 = kFirstListenerId + i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listeners_[i], &ev);
  }
  handlers_ = std::make_unique<WorkQueue>(options_.handler_threads, options_.handler_queue);
  if (auth_) verifier_ = std::make_unique<WorkQueue>(1, options_.auth_queue);
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

HttpServer::Impl::~Impl() {
  stop_.store(true);
  Wake();
  if (loop_.joinable()) loop_.join();
  // Handler threads may still post completions: stop them before the fds go.
  verifier_.reset();
  handlers_.reset();
  for (auto& [id, c] : connections_) close(c->fd);
  connections_.clear();
  for (int fd : listeners_) close(fd);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

std::vector<std::string> HttpServer::Impl::addresses() const {
  std::vector<std::string> out;
  for (int fd : listeners_) out.push_back(BoundAddress(fd));
  return out;
}

void HttpServer::Impl::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t rc = write(wake_fd_, &one, sizeof(one));
  (void)rc;  // a full counter means a wake-up is pending anyway
}

void HttpServer::Impl::Loop() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  auto next_sweep = Clock::now();
  while (!stop_.load()) {
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, 100);
    if (n < 0 && errno != EINTR) {
      LogError(absl::StrCat("http: epoll_wait: ", strerror(errno)));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) {
        uint64_t count;
        while (read(wake_fd_, &count, sizeof(count)) > 0) {
        }
        DrainCompletions();
      } else if (id < kFirstConnectionId) {
        Accept(listeners_[id - kFirstListenerId]);
      } else if (auto it = connections_.find(id); it != connections_.end()) {
        OnEvent(*it->second, events[i].events);
      }
    }
    const auto now = Clock::now();
    if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + std::chrono::milliseconds(100);
    }
  }
}

void HttpServer::Impl::Accept(int listener) {
  while (true) {
    if (connections_.size() >= max_connections_ && !EvictOldestStalled()) {
      // Every slot serves a real request: let the backlog wait a moment.
      accept_paused_ = true;
      for (size_t i = 0; i < listeners_.size(); ++i) {
        epoll_event ev{};
        ev.data.u64 = kFirstListenerId + i;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listeners_[i], &ev);
      }
      return;
    }
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && EvictOldestStalled()) continue;
      return;  // EAGAIN, or out of descriptors with nothing to evict
    }
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->fd = fd;
    c->accepted = Clock::now();
    c->deadline = c->accepted + ToChrono(options_.head_timeout);
    c->parser = RequestParser(options_.request_limits);
    if (tls_) {
      std::shared_ptr<SSL_CTX> ctx = tls_->Current();
      c->ssl.reset(SSL_new(ctx.get()));  // holds its own reference to ctx
      if (!c->ssl || SSL_set_fd(c->ssl.get(), fd) != 1) {
        ERR_clear_error();
        close(fd);
        continue;
      }
      SSL_set_accept_state(c->ssl.get());
      c->phase = Phase::kHandshake;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    c->events = EPOLLIN;
    Connection& ref = *c;
    connections_.emplace(c->id, std::move(c));
    Advance(ref);  // the request may already be there
  }
}

bool HttpServer::Impl::EvictOldestStalled() {
  Connection* oldest = nullptr;
  for (auto& [id, c] : connections_) {
    bool stalled = c->phase == Phase::kHandshake || c->phase == Phase::kReading ||
                   c->phase == Phase::kLingering;
    if (stalled && (oldest == nullptr || c->accepted < oldest->accepted)) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  Close(oldest->id);
  return true;
}

void HttpServer::Impl::Watch(Connection& c, uint32_t events) {
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void HttpServer::Impl::Close(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  close(it->second->fd);
  connections_.erase(it);
  if (accept_paused_ && connections_.size() < max_connections_) {
    accept_paused_ = false;
    for (size_t i = 0; i < listeners_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kFirstListenerId + i;
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listeners_[i], &ev);
    }
  }
}

void HttpServer::Impl::Sweep(Clock::time_point now) {
  std::vector<uint64_t> expired;
  for (auto& [id, c] : connections_) {
    if (now >= c->deadline) expired.push_back(id);
  }
  for (uint64_t id : expired) Close(id);
}

void HttpServer::Impl::OnEvent(Connection& c, uint32_t events) {
  if ((events & (EPOLLERR | EPOLLHUP)) && c.phase != Phase::kReading &&
      c.phase != Phase::kHandshake && c.phase != Phase::kLingering) {
    Close(c.id);  // the peer is gone; nothing more to write
    return;
  }
  Advance(c);
}

// Runs the connection's state machine as far as it goes without blocking.
// May close (and free) the connection.
void HttpServer::Impl::Advance(Connection& c) {
  switch (c.phase) {
    case Phase::kHandshake:
      return Handshake(c);
    case Phase::kReading:
      return ReadHead(c);
    case Phase::kWaiting:
      return;
    case Phase::kWriting:
      return Write(c);
    case Phase::kLingering:
      return Linger(c);
  }
}

Io HttpServer::Impl::ReadSome(Connection& c, char* buf, size_t size, size_t* got) {
  *got = 0;
  if (c.ssl) return SslOutcome(c.ssl.get(), SSL_read(c.ssl.get(), buf, static_cast<int>(size)), got);
  ssize_t n = recv(c.fd, buf, size, 0);
  if (n > 0) {
    *got = static_cast<size_t>(n);
    return Io::kProgress;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::kWantRead;
  return Io::kClosed;
}

Io HttpServer::Impl::WriteSome(Connection& c, const char* data, size_t size, size_t* put) {
  *put = 0;
  if (c.ssl) {
    const int n = SSL_write(c.ssl.get(), data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    return SslOutcome(c.ssl.get(), n, put);
  }
  ssize_t n = send(c.fd, data, size, MSG_NOSIGNAL);
  if (n > 0) {
    *put = static_cast<size_t>(n);
    return Io::kProgress;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::kWantWrite;
  return Io::kClosed;
}

void HttpServer::Impl::Handshake(Connection& c) {
  int rc = SSL_do_handshake(c.ssl.get());
  if (rc == 1) {
    // With SSL_VERIFY_PEER a certificate that fails verification has already
    // failed the handshake, so one present here is acceptable for the mode.
    c.has_client_certificate = SSL_get0_peer_certificate(c.ssl.get()) != nullptr;
    c.phase = Phase::kReading;
    return ReadHead(c);
  }
  int err = SSL_get_error(c.ssl.get(), rc);
  ERR_clear_error();
  if (err == SSL_ERROR_WANT_READ) return Watch(c, EPOLLIN);
  if (err == SSL_ERROR_WANT_WRITE) return Watch(c, EPOLLOUT);
  Close(c.id);  // failed handshake: wrong CA, wrong version, not TLS at all
}

void HttpServer::Impl::ReadHead(Connection& c) {
  char buf[4096];
  while (true) {
    size_t got = 0;
    Io io = ReadSome(c, buf, sizeof(buf), &got);
    if (io == Io::kWantRead) return Watch(c, EPOLLIN);
    if (io == Io::kWantWrite) return Watch(c, EPOLLOUT);
    if (io == Io::kClosed) return Close(c.id);
    RequestParser::State state = c.parser.Feed(std::string_view(buf, got));
    if (state == RequestParser::State::kIncomplete) continue;
    if (state == RequestParser::State::kError) {
      return Respond(c, HttpResponse::Text(c.parser.error_status(),
                                           absl::StrCat(c.parser.error_reason(), "\n")));
    }
    return Dispatch(c);
  }
}

const Route* HttpServer::Impl::FindRoute(const std::string& path) const {
  for (const Route& route : options_.routes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

Clock::duration HttpServer::Impl::ResponseTimeout(const Route* route) const {
  if (route != nullptr && route->timeout > absl::ZeroDuration()) return ToChrono(route->timeout);
  return ToChrono(options_.response_timeout);
}

void HttpServer::Impl::Dispatch(Connection& c) {
  const HttpRequest& request = c.parser.request();
  c.head_only = request.method == "HEAD";
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse response = HttpResponse::Text(405, "only GET and HEAD are served\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return Respond(c, response);
  }
  // A body is never read: answer and close instead of draining it.
  if (request.Header("transfer-encoding") || request.content_length.value_or(0) != 0) {
    return Respond(c, HttpResponse::Text(413, "request bodies are not accepted\n"));
  }
  const Route* route = FindRoute(request.path);
  if (route == nullptr || !route->open) {
    if (tls_ && RequiresClientCertificate(tls_->config().client_auth_type) &&
        !c.has_client_certificate) {
      return Respond(c, HttpResponse::Text(403, "a client certificate is required\n"));
    }
    if (auth_) {
      HttpResponse unauthorized = HttpResponse::Text(401, "401 Unauthorized\n");
      unauthorized.headers.emplace_back(
          "WWW-Authenticate", absl::StrCat("Basic realm=\"", options_.realm, "\", charset=\"UTF-8\""));
      auto header = request.Header("authorization");
      std::optional<BasicCredentials> credentials =
          header ? ParseBasicAuthorization(*header) : std::nullopt;
      if (!credentials) return Respond(c, unauthorized);
      switch (auth_->Cached(*credentials)) {
        case BasicAuthenticator::Verdict::kAllowed:
          break;
        case BasicAuthenticator::Verdict::kDenied:
          return Respond(c, unauthorized);
        case BasicAuthenticator::Verdict::kUnknown: {
          c.phase = Phase::kWaiting;
          c.deadline = Clock::now() + ResponseTimeout(route);
          Watch(c, 0);
          const uint64_t id = c.id;
          const bool head_only = c.head_only;
          bool queued = verifier_->TryPush(
              [this, id, route, request, head_only, credentials = *std::move(credentials),
               unauthorized] {
                const auto started = Clock::now();
                if (!auth_->Verify(credentials)) {
                  Complete(id, unauthorized, head_only);
                  // Rest as long as the failed check took: a flood of new
                  // passwords then costs at most half a core.
                  std::this_thread::sleep_for(Clock::now() - started);
                  return;
                }
                if (route == nullptr) {
                  return Complete(id, HttpResponse::Text(404, "404 Not Found\n"), head_only);
                }
                RunHandler(id, *route, request, head_only);
              });
          if (!queued) {
            HttpResponse busy = HttpResponse::Text(429, "too many authentication attempts\n");
            busy.headers.emplace_back("Retry-After", "1");
            return Respond(c, busy);
          }
          return;
        }
      }
    }
  }
  Serve(c, route);
}

void HttpServer::Impl::Serve(Connection& c, const Route* route) {
  if (route == nullptr) return Respond(c, HttpResponse::Text(404, "404 Not Found\n"));
  if (route->run_inline) return Respond(c, route->handler(c.parser.request()));
  c.phase = Phase::kWaiting;
  c.deadline = Clock::now() + ResponseTimeout(route);
  Watch(c, 0);
  RunHandler(c.id, *route, c.parser.request(), c.head_only);
}

// Queues the handler on the handler threads (from the loop or the verifier).
void HttpServer::Impl::RunHandler(uint64_t id, const Route& route, HttpRequest request,
                                  bool head_only) {
  const Route* r = &route;
  bool queued = handlers_->TryPush([this, id, r, request = std::move(request), head_only] {
    HttpResponse response;
    try {
      response = r->handler(request);
    } catch (const std::exception& e) {
      LogError(absl::StrCat("http: handler for ", request.path, " failed: ", e.what()));
      response = HttpResponse::Text(500, "internal error\n");
    }
    Complete(id, std::move(response), head_only);
  });
  if (!queued) {
    HttpResponse busy = HttpResponse::Text(503, "busy, try again\n");
    busy.headers.emplace_back("Retry-After", "1");
    Complete(id, std::move(busy), head_only);
  }
}

void HttpServer::Impl::Complete(uint64_t id, HttpResponse response, bool head_only) {
  {
    std::lock_guard<std::mutex> lock(completions_mu_);
    completions_.push_back(Completion{id, std::move(response), head_only});
  }
  Wake();
}

void HttpServer::Impl::DrainCompletions() {
  std::vector<Completion> done;
  {
    std::lock_guard<std::mutex> lock(completions_mu_);
    done.swap(completions_);
  }
  for (Completion& completion : done) {
    auto it = connections_.find(completion.id);
    if (it == connections_.end()) continue;  // timed out or evicted meanwhile
    it->second->head_only = completion.head_only;
    Respond(*it->second, completion.response);
  }
}

void HttpServer::Impl::Respond(Connection& c, const HttpResponse& response) {
  c.out = SerializeResponse(response, c.head_only);
  c.written = 0;
  c.phase = Phase::kWriting;
  c.deadline = Clock::now() + ToChrono(options_.response_timeout);
  Write(c);
}

void HttpServer::Impl::Write(Connection& c) {
  while (c.written < c.out.size()) {
    size_t put = 0;
    Io io = WriteSome(c, c.out.data() + c.written, c.out.size() - c.written, &put);
    if (io == Io::kWantWrite) return Watch(c, EPOLLOUT);
    if (io == Io::kWantRead) return Watch(c, EPOLLIN);
    if (io == Io::kClosed) return Close(c.id);
    c.written += put;
  }
  c.out.clear();
  c.out.shrink_to_fit();
  if (c.ssl) {
    SSL_shutdown(c.ssl.get());  // sends close_notify; the reply is not awaited
    ERR_clear_error();
  }
  shutdown(c.fd, SHUT_WR);
  c.phase = Phase::kLingering;
  c.deadline = Clock::now() + kLingerTime;
  Linger(c);
}

void HttpServer::Impl::Linger(Connection& c) {
  char buf[4096];
  while (true) {
    ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      c.lingered += static_cast<size_t>(n);
      if (c.lingered > kLingerBytes) return Close(c.id);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return Watch(c, EPOLLIN);
    }
    return Close(c.id);  // the client closed too: done
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status status = impl->Init(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::vector<std::string> HttpServer::addresses() const { return impl_->addresses(); }

}  // namespace diskidle::http
