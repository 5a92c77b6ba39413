// ApiKeyListener: keeps an ApiKeySet equal to the active keys in the database, on a thread and a PostgreSQL
// session of its own (never an Asio thread). It LISTENs on api_keys_changed (every change to
// api_key_changes notifies, with the key id, in the changing transaction), so a created or revoked key
// takes effect a few milliseconds after it commits; it reloads every key every reload_interval_ms as a
// fallback; when its session drops it reconnects with backoff and reloads everything (a notification may
// have been missed meanwhile). Until the first load, the set reports itself not loaded.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "auth/api_key_set.h"
#include "eventstore/status.h"

namespace ledger {

struct ApiKeyListenerOptions {
  std::string database_url;
  int reload_interval_ms = 30000;        // full reload this often, whatever the notifications say
  int reconnect_backoff_min_ms = 100;    // first wait after a lost session; doubles per failure
  int reconnect_backoff_max_ms = 5000;
  int wait_slice_ms = 100;               // longest wait for a notification before checking for stop
  int load_statement_timeout_ms = 60000; // a full load of up to keys_max rows
  std::size_t pending_ids_max = 10000;   // changed ids collected before a full reload is cheaper
};

class ApiKeyListener {
 public:
  ApiKeyListener(ApiKeyListenerOptions options, ApiKeySet* keys);
  ~ApiKeyListener();  // stop()

  ApiKeyListener(const ApiKeyListener&) = delete;
  ApiKeyListener& operator=(const ApiKeyListener&) = delete;

  // Starts the thread and waits, at most timeout_ms, for the first full load. Ok once loaded; Invalid when
  // the database holds more active keys than the set allows; Unavailable when the database could not be
  // read in time (the thread keeps trying; until it succeeds every key check answers "unavailable").
  Status start(int timeout_ms);

  // Stops the thread (within wait_slice_ms, or a connect attempt's PGCONNECT_TIMEOUT). Idempotent.
  void stop();

  // Full loads and notification-driven updates done so far (for logs and tests).
  std::size_t full_loads() const { return full_loads_.load(); }
  // Reads of the keys named by notifications (one per wake-up that had some), done so far.
  std::size_t notified_loads() const { return notified_loads_.load(); }

 private:
  class Receiver;

  void run();
  void connect();
  void disconnect();
  Status full_reload(const char* why);
  void apply_pending();
  void acknowledge(const std::set<std::string>& ids);  // NOTIFY api_keys_applied for each, for `keys`
  void sleep_ms(int ms);  // returns early on stop
  void note_first_load(Status status);

  const ApiKeyListenerOptions options_;
  ApiKeySet* const keys_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Receiver> receiver_;
  std::thread thread_;
  std::atomic<std::size_t> full_loads_{0};
  std::atomic<std::size_t> notified_loads_{0};

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool first_load_done_ = false;
  Status first_load_status_ = Status::Unavailable("API keys not loaded yet");
};

}  // namespace ledger
