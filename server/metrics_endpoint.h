// MetricsEndpoint: a tiny HTTP/1.1 server for Prometheus to scrape, on a thread and io_context of its own and
// on a loopback address only: GET (or HEAD) /metrics answers what `render` returns, as the text exposition
// format; any other path is a 404 problem+json. Every read and write has a deadline, requests are parsed with
// small header and body limits, and at most connections_max connections are served at once (beyond: a canned
// 503, then close). Used by `carbon-ledger project`; all Beast code is in metrics_endpoint.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "eventstore/status.h"

namespace ledger {

struct MetricsEndpointOptions {
  std::string address = "127.0.0.1";   // must be a loopback address (127.0.0.0/8 or ::1)
  unsigned short port = 9464;           // 0 picks a free port (see port())
  std::size_t connections_max = 4;
  int read_timeout_ms = 5000;           // a whole request, from when the connection or its previous answer is done
  int write_timeout_ms = 5000;
  std::uint32_t header_limit_bytes = 8 * 1024;
  std::uint64_t body_limit_bytes = 1024;
};

inline constexpr std::size_t kMetricsConnectionsMax = 64;  // upper bound of connections_max

class MetricsEndpoint {
 public:
  // Runs on the endpoint's thread, once per scrape; must not block for long. An exception answers 500.
  using Render = std::function<std::string()>;

  MetricsEndpoint(MetricsEndpointOptions options, Render render);
  ~MetricsEndpoint();  // stop()
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Binds and starts serving. Invalid: the address is not a loopback IP address, or the options are out of
  // range; Unavailable: it cannot listen there (the port is taken, ...). Call once.
  Status start();
  // The bound port once started (the chosen one for port 0).
  unsigned short port() const;
  // "http://<address>:<port>/metrics" once started.
  std::string url() const;
  // Stops accepting and serving, drops open connections, joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger
