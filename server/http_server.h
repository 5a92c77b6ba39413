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
  std::size_t connections_max = 1024;       // open client connections; beyond: a canned 503 at accept, then close
  // Open connections from one peer address; beyond: the same. 0: a quarter of connections_max (at least 1).
  std::size_t connections_per_peer_max = 0;
  // Commands (register, sell, retire) one API key may have waiting or being applied; beyond: 429.
  std::size_t commands_in_flight_per_key_max = 128;  // bench/soak: 128 connections, one key
  std::uint64_t body_limit_bytes = 64 * 1024;
  std::uint32_t header_limit_bytes = 8 * 1024;
  int read_timeout_ms = 10000;              // a whole request, from its first byte, must arrive within this
  int idle_timeout_ms = 5000;               // a keep-alive connection whose next request has not begun by then is closed
  int write_timeout_ms = 10000;
  int shutdown_grace_ms = 10000;            // in-flight requests get this long to finish on SIGINT/SIGTERM
  int key_reload_interval_ms = 30000;       // all API keys are re-read this often, besides on every NOTIFY
  std::size_t keys_max = 1000000;           // active API keys held in memory at most; beyond: refuse to start
  int min_version_wait_ms = 2000;           // GET /records/{id}?min_version=N waits this long at most, then 504
  // Set by the process's own signal handler before the server's takes over: a stop asked for during
  // start-up is honoured instead of lost.
  const std::atomic<bool>* stop_requested = nullptr;
};

// Descriptors kept free beyond the client connections: listening socket, stdio, database connections
// and their reconnects (each may briefly need two), the descriptor of a refused connection.
inline constexpr std::size_t kDescriptorsReservedBase = 64;

// Raises the soft RLIMIT_NOFILE to the hard limit (logging both), then lowers connections_max when the
// limit cannot hold it plus the reserve (logging that too), and settles connections_per_peer_max.
void fit_connection_limits(ServerOptions* options);

// Serves until SIGINT or SIGTERM, then lets in-flight requests finish. Returns the process exit code.
int run_server(const ServerOptions& options);

}  // namespace ledger
