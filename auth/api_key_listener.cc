#include "auth/api_key_listener.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <unordered_map>
#include <vector>

#include "auth/api_key_store.h"
#include "eventstore/database.h"
#include "eventstore/log_line.h"

namespace ledger {
namespace {

using SteadyClock = std::chrono::steady_clock;

// stderr from a thread of its own (never an Asio thread); one line each.
void log_line(const std::string& line) { log_to_stderr("serve", LogLevel::kInfo, "api keys: " + line); }

}  // namespace

// Collects the key ids of notifications; anything else (or too many) asks for a full reload.
class ApiKeyListener::Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, std::size_t ids_max)
      : pqxx::notification_receiver(conn, kApiKeysChannel), ids_max_(ids_max) {}

  void operator()(const std::string& payload, int /*backend_pid*/) override {
    if (!key_id_bits(payload).has_value() || ids.size() >= ids_max_) {
      overflow = true;
      return;
    }
    ids.insert(payload);
  }

  std::set<std::string> ids;
  bool overflow = false;

 private:
  const std::size_t ids_max_;
};

ApiKeyListener::ApiKeyListener(ApiKeyListenerOptions options, ApiKeySet* keys)
    : options_(std::move(options)), keys_(keys) {}

ApiKeyListener::~ApiKeyListener() { stop(); }

Status ApiKeyListener::start(int timeout_ms) {
  thread_ = std::thread([this] { run(); });
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return first_load_done_ || stopping_; });
  return first_load_status_;
}

void ApiKeyListener::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ApiKeyListener::note_first_load(Status status) {
  {
    std::lock_guard lock(mutex_);
    if (first_load_done_) return;
    first_load_status_ = std::move(status);
    // Over the limit is final for start(); being unreachable only while start() still waits.
    if (first_load_status_.ok() || first_load_status_.IsInvalid()) first_load_done_ = true;
  }
  changed_.notify_all();
}

void ApiKeyListener::sleep_ms(int ms) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void ApiKeyListener::connect() {
  DatabaseLimits limits;
  limits.key_lookups_only = false;  // a full load reads the whole table
  limits.statement_timeout_ms = options_.load_statement_timeout_ms;
  conn_ = open_connection(options_.database_url, limits);
  // So an operator (and the tests) can find this session in pg_stat_activity.
  pqxx::nontransaction(*conn_).exec(std::string("SET application_name = '") + kApiKeyListenerApplicationName + "'");
  // LISTEN before the load: a change that commits in between is then both loaded and notified, never lost.
  receiver_ = std::make_unique<Receiver>(*conn_, options_.pending_ids_max);
}

void ApiKeyListener::disconnect() {
  // Close the socket first so the receiver's destructor does not UNLISTEN on a dead session.
  if (conn_ != nullptr) conn_->disconnect();
  receiver_.reset();
  conn_.reset();
}

Status ApiKeyListener::full_reload(const char* why) {
  // A notification is delivered after its change commits, so the load below (a later snapshot) covers
  // every one received so far; those that arrive during the load are applied afterwards.
  std::set<std::string> covered;
  covered.swap(receiver_->ids);
  const bool covered_overflow = receiver_->overflow;
  receiver_->overflow = false;
  std::unordered_map<std::string, ActiveKey> keys;
  Status status;
  {
    pqxx::read_transaction tx(*conn_);
    status = read_active_keys(tx, keys_->keys_max(), &keys);
  }
  if (status.ok()) status = keys_->replace_all(keys);
  if (!status.ok()) {
    log_line(std::string("not reloaded (") + why + "), keeping the " + std::to_string(keys_->size()) +
             " keys loaded before: " + status.message());
    // The changes notified before still apply one by one (a revocation must not wait for a reload).
    receiver_->ids.insert(covered.begin(), covered.end());
    if (covered_overflow) log_line("some changed keys could not be applied until a reload succeeds");
    return status;
  }
  acknowledge(covered);
  if (full_loads_.fetch_add(1) == 0 || std::string(why) != "periodic") {
    log_line("loaded " + std::to_string(keys.size()) + " active keys (" + why + "), listening on " +
             kApiKeysChannel);
  }
  return status;
}

void ApiKeyListener::apply_pending() {
  if (receiver_->overflow) {
    full_reload("many changes");
    return;
  }
  if (receiver_->ids.empty()) return;
  const std::vector<std::string> ids(receiver_->ids.begin(), receiver_->ids.end());
  receiver_->ids.clear();  // before the read: ids notified during it are read on the next turn
  std::unordered_map<std::string, std::optional<ActiveKey>> keys;
  {
    pqxx::nontransaction tx(*conn_);  // one statement: one round trip, one snapshot
    Status read = read_keys(tx, ids, &keys);
    if (!read.ok()) log_line("could not read changed keys: " + read.message());
    if (read.ok()) notified_loads_.fetch_add(1);
  }
  for (const auto& [id, key] : keys) {
    Status updated = keys_->update(id, key);
    if (!updated.ok()) log_line(updated.message());
  }
  acknowledge(std::set<std::string>(ids.begin(), ids.end()));
}

void ApiKeyListener::acknowledge(const std::set<std::string>& ids) {
  if (ids.empty()) return;
  std::string array = "{";
  for (const std::string& id : ids) {
    if (array.size() > 1) array += ',';
    array += id;  // well-formed hex ids only (the receiver checked)
  }
  array += '}';
  pqxx::nontransaction(*conn_).exec_params(
      "SELECT pg_catalog.pg_notify($1, id) FROM pg_catalog.unnest($2::text[]) AS id", kApiKeysAppliedChannel,
      array);
}

void ApiKeyListener::run() {
  int backoff_ms = options_.reconnect_backoff_min_ms;
  bool was_connected = false;
  auto is_stopping = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  while (!is_stopping()) {
    try {
      connect();
      Status loaded = full_reload(was_connected ? "reconnected" : "start");
      note_first_load(loaded);
      was_connected = true;
      backoff_ms = options_.reconnect_backoff_min_ms;
      auto next_reload = SteadyClock::now() + std::chrono::milliseconds(options_.reload_interval_ms);
      while (!is_stopping()) {
        conn_->await_notification(0, static_cast<long>(options_.wait_slice_ms) * 1000);
        conn_->get_notifs();  // every other notification already queued: one read for the lot
        apply_pending();
        if (SteadyClock::now() >= next_reload) {
          Status periodic = full_reload("periodic");
          if (periodic.ok()) note_first_load(periodic);
          next_reload = SteadyClock::now() + std::chrono::milliseconds(options_.reload_interval_ms);
        }
      }
    } catch (const std::exception& e) {
      log_line(std::string(was_connected ? "session lost" : "cannot connect") + ", retrying in " +
               std::to_string(backoff_ms) + " ms: " + single_line(e.what()));
      note_first_load(Status::Unavailable("could not load API keys: " + single_line(e.what())));
      disconnect();
      sleep_ms(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, options_.reconnect_backoff_max_ms);
    }
  }
  disconnect();
}

}  // namespace ledger
