// The HTTP endpoint on prometheus-cpp's Exposer (civetweb): the scrape at the
// telemetry path (collectors serialised by prometheus-cpp, gzip when asked), a small
// HTML page at / and /healthz (200 once the BPF programs are attached).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/collector_set.h"
#include "http/web_config.h"

namespace prometheus {
class Exposer;
}

namespace diskidle {

struct ServerOptions {
  std::string listen_address = ":9436";
  std::string telemetry_path = "/metrics";
  int threads = 4;
  // From the exporter-toolkit web-config.yml (http::LoadWebSecurityConfig);
  // default: plain HTTP, no auth. /healthz is never authenticated.
  http::WebSecurityConfig web_security;
};

class HttpServer {
 public:
  // `ready` answers /healthz. Only one HttpServer may exist at a time.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const ServerOptions& options, std::shared_ptr<CollectorSet> collectors,
      std::function<bool()> ready);
  ~HttpServer();

  std::vector<int> ports() const;

 private:
  HttpServer() = default;
  std::shared_ptr<CollectorSet> collectors_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string listen_host_;  // "" when listening on every address
};

// ":9436" -> "9436", "127.0.0.1:9436" unchanged; error when there is no port.
absl::StatusOr<std::string> CivetwebListeningPort(const std::string& listen_address);

}  // namespace diskidle
