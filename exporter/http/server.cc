#include "http/server.h"

#include <arpa/inet.h>
#include <CivetServer.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "http/gzip.h"
#include "http/web_config.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"
#include "util/log.h"
#include "version.h"

namespace diskidle {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct PageState {
  std::string telemetry_path;
  std::shared_ptr<CollectorSet> collectors;
  std::function<bool()> ready;
  std::unique_ptr<http::BasicAuthenticator> auth;  // null: no basic auth
};

// civetweb's C callbacks carry no pointer of ours, hence one global.
std::atomic<PageState*> g_page_state{nullptr};

std::string HtmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// civetweb runs without keep-alive, so every response says it closes the
// connection (clients such as wrk count an unannounced close as an error).
void Reply(mg_connection* conn, int status, const char* content_type, const std::string& body,
           const char* extra_headers = "") {
  const mg_request_info* request = mg_get_request_info(conn);
  bool head = request != nullptr && request->request_method != nullptr &&
              strcmp(request->request_method, "HEAD") == 0;
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status), content_type, body.size(),
            extra_headers);
  if (!head) mg_write(conn, body.data(), body.size());
}

// The scrape itself: every collector, serialised in the text format
// (gzip-compressed when the client accepts it, as Prometheus does).
void ServeMetrics(mg_connection* conn, const PageState& state) {
  std::string text = prometheus::TextSerializer().Serialize(state.collectors->Collect());
  const char* accept = mg_get_header(conn, "Accept-Encoding");
  if (accept != nullptr && AcceptsGzip(accept)) {
    if (auto gzipped = GzipCompress(text); gzipped.ok()) {
      Reply(conn, 200, kMetricsContentType, *gzipped, "Content-Encoding: gzip\r\n");
      return;
    }
  }
  Reply(conn, 200, kMetricsContentType, text);
}

std::string IndexPage(const PageState& state) {
  std::string rows;
  for (const auto& [name, status] : state.collectors->LastStatus()) {
    rows += absl::StrCat("<tr><td>", HtmlEscape(name), "</td><td>", HtmlEscape(status),
                         "</td></tr>");
  }
  if (rows.empty()) rows = "<tr><td colspan=2>no scrape yet</td></tr>";
  return absl::StrCat(
      "<!DOCTYPE html><html><head><title>diskidle_exporter</title></head><body>"
      "<h1>diskidle_exporter ", DISKIDLE_VERSION, "</h1>"
      "<p>Which process, through which syscall, sends which sizes of block I/O to which disk "
      "&mdash; next to the disk's /proc/diskstats counters.</p>"
      "<ul><li><a href=\"", HtmlEscape(state.telemetry_path), "\">Metrics</a></li>"
      "<li><a href=\"/healthz\">Health</a> (", state.ready() ? "ready" : "not ready", ")</li></ul>"
      "<h2>Collectors (last scrape)</h2><table border=1><tr><th>collector</th><th>status</th></tr>",
      rows, "</table></body></html>\n");
}

// Serves the telemetry path, "/" and "/healthz"; civetweb answers 404 for the rest.
int BeginRequest(mg_connection* conn) {
  PageState* state = g_page_state.load();
  const mg_request_info* request = mg_get_request_info(conn);
  if (state == nullptr || request == nullptr || request->local_uri == nullptr) return 0;
  std::string_view uri = request->local_uri;
  if (uri == "/healthz") {
    bool ready = state->ready();
    Reply(conn, ready ? 200 : 503, "text/plain; charset=utf-8",
          ready ? "ok\n" : "BPF programs not attached yet\n");
    return 200;
  }
  // Everything but /healthz (the index page, metrics, 404s) needs credentials.
  if (state->auth && !state->auth->AuthorizeRequest(conn, "diskidle_exporter")) return 401;
  if (uri == state->telemetry_path) {
    ServeMetrics(conn, *state);
    return 200;
  }
  if (uri == "/") {
    Reply(conn, 200, "text/html; charset=utf-8", IndexPage(*state));
    return 200;
  }
  return 0;
}

// civetweb's own errors (e.g. "cannot load libssl.so") would otherwise go nowhere.
int LogMessage(const mg_connection*, const char* message) {
  LogWarning(absl::StrCat("civetweb: ", message));
  return 1;
}

// An IPv4 socket address, or false when `host` is not an IPv4 literal.
bool Ipv4Address(const std::string& host, int port, sockaddr_in* addr) {
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &addr->sin_addr) == 1;
}

// Binds once ourselves to turn civetweb's generic failure into a reason.
absl::Status ProbeBind(const std::string& listen_address) {
  std::string host = "0.0.0.0";
  std::string port_text = listen_address;
  if (size_t colon = listen_address.rfind(':'); colon != std::string::npos) {
    host = listen_address.substr(0, colon);
    port_text = listen_address.substr(colon + 1);
    if (host.empty()) host = "0.0.0.0";
  }
  int port = 0;
  sockaddr_in addr;
  if (!absl::SimpleAtoi(port_text, &port) || !Ipv4Address(host, port, &addr)) {
    return absl::OkStatus();  // not IPv4: let civetweb decide
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::OkStatus();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  close(fd);
  if (rc == 0) return absl::OkStatus();
  if (err == EADDRINUSE) {
    return absl::UnavailableError(absl::StrCat(
        "listen on ", listen_address, ": address already in use (is another exporter running?); "
        "choose another with --listen_address"));
  }
  return absl::UnavailableError(
      absl::StrCat("listen on ", listen_address, ": ", strerror(err)));
}

// Opens and closes a TCP connection to host:port (IPv4 only), ignoring errors.
void PokeListener(const std::string& host, int port) {
  sockaddr_in addr;
  if (!Ipv4Address(host, port, &addr)) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

}  // namespace

absl::StatusOr<std::string> CivetwebListeningPort(const std::string& listen_address) {
  size_t colon = listen_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen_address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", listen_address, "\": expected host:port or :port, e.g. :9436"));
  }
  if (colon == 0) return listen_address.substr(1);
  return listen_address;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const ServerOptions& options, std::shared_ptr<CollectorSet> collectors,
    std::function<bool()> ready) {
  auto port = CivetwebListeningPort(options.listen_address);
  if (!port.ok()) return port.status();
  if (absl::Status s = ProbeBind(*port); !s.ok()) return s;
  const http::WebSecurityConfig& web_security = options.web_security;

  auto server = std::unique_ptr<HttpServer>(new HttpServer());
  server->collectors_ = collectors;
  if (size_t colon = port->rfind(':'); colon != std::string::npos) {
    server->listen_host_ = port->substr(0, colon);
  }
  static PageState state;
  state = PageState{options.telemetry_path, collectors, std::move(ready), nullptr};
  if (!web_security.basic_auth_users.empty()) {
    state.auth = std::make_unique<http::BasicAuthenticator>(web_security.basic_auth_users);
  }
  g_page_state.store(&state);

  static CivetCallbacks callbacks{};
  callbacks.begin_request = BeginRequest;
  callbacks.log_message = LogMessage;
  if (web_security.tls) {
    *port = http::TlsListeningPorts(*port);
    http::InstallTlsCallback(&callbacks,
                             std::make_shared<const http::TlsServerConfig>(*web_security.tls));
  }
  std::vector<std::string> civet_options = {
      "listening_ports", *port,
      "num_threads", absl::StrCat(options.threads),
      // A client that stalls cannot hold a worker forever.
      "request_timeout_ms", "30000",
  };
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(civet_options, &callbacks);
  } catch (const std::exception& e) {
    g_page_state.store(nullptr);
    return absl::UnavailableError(
        absl::StrCat("listen on ", options.listen_address, ": ", e.what()));
  }
  return server;
}

HttpServer::~HttpServer() {
  // civetweb's mg_stop() waits for its accept thread, which only looks at the
  // stop flag between poll()s of up to 2 s. Connecting to ourselves wakes it,
  // so SIGTERM exits promptly.
  std::atomic<bool> stopped{false};
  std::vector<int> ports = exposer_->GetListeningPorts();
  std::string host = listen_host_.empty() || listen_host_ == "0.0.0.0" ? "127.0.0.1" : listen_host_;
  std::thread waker([&] {
    while (!stopped.load()) {
      for (int port : ports) PokeListener(host, port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();  // stops civetweb's threads before the page state goes
  stopped.store(true);
  waker.join();
  g_page_state.store(nullptr);
}

std::vector<int> HttpServer::ports() const { return exposer_->GetListeningPorts(); }

}  // namespace diskidle
