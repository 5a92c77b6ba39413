// The HTTP front of `carbon-ledger serve`: an async Boost.Beast server that routes commands to the event
// store and queries to the read model, with a limit on everything a client can make it hold.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "command/credit_appender.h"

namespace ledger {

struct ServerOptions {
  std::string database_url;
  std::string address = "127.0.0.1";
  unsigned short port = 8080;               // 0 picks a free port (logged at start)
  std::size_t io_threads = 2;
  BatchOptions appender;                    // group commit of commands
  BatchOptions reader{2, 4096, 128, 0};     // coalesced record lookups
  std::size_t connections_max = 1024;       // open client connections; beyond: 503 and close
  std::uint64_t body_limit_bytes = 64 * 1024;
  std::uint32_t header_limit_bytes = 8 * 1024;
  int read_timeout_ms = 10000;              // a whole request, headers included, must arrive within this
  int idle_timeout_ms = 30000;              // keep-alive connections with no request are closed after this
  int write_timeout_ms = 10000;
  int shutdown_grace_ms = 10000;            // in-flight requests get this long to finish on SIGINT/SIGTERM
  int key_reload_interval_ms = 30000;       // all API keys are re-read this often, besides on every NOTIFY
  std::size_t keys_max = 1000000;           // active API keys held in memory at most; beyond: refuse to start
  // Set by the process's own signal handler before the server's takes over: a stop asked for during
  // start-up is honoured instead of lost.
  const std::atomic<bool>* stop_requested = nullptr;
};

// Serves until SIGINT or SIGTERM, then lets in-flight requests finish. Returns the process exit code.
int run_server(const ServerOptions& options);

}  // namespace ledger
