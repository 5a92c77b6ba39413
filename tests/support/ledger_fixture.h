// The GoogleTest fixture of the integration tests: a fresh database, `carbon-ledger migrate` on it, then
// `carbon-ledger serve` (on an ephemeral port) and `carbon-ledger project` as real child processes. Helpers
// speak the HTTP API and query the database directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "auth/access_events.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"

namespace ledger::test {

// The credit of the old prototype's README; its id must never change.
inline constexpr const char* kReadmeRegisterBody =
    R"({"project_name":"Project ","registry":"Registry1","vintage":"2023","quantity":100,"serial_number":"SN1234"})";
inline constexpr const char* kReadmeCreditId = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc";

// An SQL condition on `events` rows: a credit event, not one of the access stream (auth/access_events.h) that
// every key and binding change appends, the fixture's own keys included.
inline const std::string kCreditEventsOnly = "stream_id <> '" + std::string(kAccessStreamId) + "'::uuid";

inline constexpr std::chrono::milliseconds kProjectionTimeout{10000};
inline constexpr std::chrono::milliseconds kStartTimeout{15000};
inline constexpr std::chrono::milliseconds kStopTimeout{10000};

// A register request. vintage and quantity are raw JSON so tests can send wrong types.
struct CreditSpec {
  std::string project_name = "Mangrove Restoration";
  std::string registry = "Verra";
  std::string vintage = "2023";
  std::string quantity = "100";
  std::string serial_number = "VCS-0001";

  std::string to_json() const;
};

// Checks that `response` is an RFC 9457 problem: the given status, Content-Type application/problem+json,
// and a JSON object with string type/title/detail and a numeric status equal to the HTTP status.
::testing::AssertionResult IsProblem(const HttpResponse& response, int expected_status);
// The problem's "type" ("<not JSON>" when the body is not a JSON object with one).
std::string problem_type(const HttpResponse& response);
// IsProblem, and its type is "/problems/<slug>".
::testing::AssertionResult IsProblemOf(const HttpResponse& response, int expected_status, const std::string& slug);
// IsProblem, and one of its "errors" names `field`.
::testing::AssertionResult IsProblemNaming(const HttpResponse& response, int expected_status,
                                           const std::string& field);
// The `field` of each entry of a 422 problem's "errors" array (empty when absent).
std::vector<std::string> error_fields(const HttpResponse& response);
// The "detail" of a problem body ("" when absent).
std::string problem_detail(const HttpResponse& response);
// Lower-cased copy, for case-insensitive "contains" checks on details.
std::string lower(std::string text);
bool contains(const std::string& haystack, const std::string& needle);
bool has_item(const std::vector<std::string>& items, const std::string& item);

// Waits for serve's "listening on http://127.0.0.1:<port>" line in its stderr file. nullopt when the
// process exits first or `timeout` passes.
std::optional<std::uint16_t> wait_for_listening(Process& serve, std::chrono::milliseconds timeout);

// Runs `carbon-ledger keys create --account A --role R` against `database_url` (give the owner's: the
// fixture's create_key does) and returns the key it
// prints (stdout, one line). Throws std::runtime_error when it fails or prints anything else.
std::string create_key_with_cli(const std::string& database_url, const std::string& work_dir,
                                const std::string& account, const std::string& role);

class LedgerFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Set in a subclass constructor to get only a migrated database (no serve/project).
  bool start_services_in_setup_ = true;
  // Set false in a subclass constructor for a log with no checkpoint at first: the projector SetUp starts does
  // not seal (the key is made all the same, and later start_projector() calls seal with it).
  bool seal_from_setup_ = true;

  std::uint16_t port() const { return port_; }
  const std::string& work_dir() const { return work_dir_; }
  // As the superuser, for the tests' own queries; the processes get role_url(role_for_command(...)).
  std::string database_url() const { return db_->conninfo(); }
  std::string role_url(const std::string& role) const { return db_->conninfo_as(role); }
  // A login role in `group` (e.g. "ledger_auditor"), unique to this test database; TearDown drops it (and
  // any other role named in login_roles_), ending its sessions first.
  std::string LoginIn(const std::string& group);
  // "" when `sql` commits as `role` ("" for the superuser) in one transaction, else the error message.
  std::string ErrorAs(const std::string& role, const std::string& sql);
  std::vector<std::string> login_roles_;

  // --- processes ---
  // DATABASE_URL as the role `command` runs as (+ LEDGER_HTTP_PORT=0), then extra_env_.
  Environment ledger_env(const std::string& command = "serve") const;
  // More environment for every process the fixture starts from now on (e.g. LEDGER_LOG_FORMAT=json).
  Environment extra_env_;
  // The log's signing key, made in SetUp in work_dir (mode 600); every process gets LEDGER_SIGNING_KEY_FILE
  // (so project seals the log) and LEDGER_CHECKPOINT_INTERVAL_MS=100. Clear signing_key_file_ before
  // starting the projector for one that does not seal.
  std::string signing_key_file_;
  std::string verifier_key_;        // its public key, as GET /log/public-key answers
  void start_serve();               // throws when it does not come up within kStartTimeout
  int stop_serve();                 // SIGTERM; returns the wait status (SIGKILL after kStopTimeout)
  void start_projector();
  int stop_projector();
  void kill_projector();            // SIGKILL, as in a crash
  // Runs `carbon-ledger args...` as the role of args[0] (role_for_command).
  RunResult run_ledger(const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60),
                       const Environment& extra_env = {});

  // --- API keys ---
  // A new key via the `keys create` subcommand. SetUp makes one for account "test-admin" with role admin
  // and sends it with every request by default (see set_default_api_key).
  std::string create_key(const std::string& account, const std::string& role);
  std::string admin_key_;

  // --- HTTP ---
  HttpResponse http(std::string_view method, std::string_view target, std::string_view body = {},
                    const Headers& headers = {});
  HttpResponse register_credit(const CreditSpec& spec);
  // Registers a credit with this serial (and otherwise default attributes), expects 201, returns the id.
  std::string register_new(const std::string& serial_number);
  // Sells to `buyer`, first making it a known account (ensure_account) as the ledger requires of buyers.
  HttpResponse sell(const std::string& id, const std::string& buyer, const Headers& headers = {});
  // `carbon-ledger registries bind`: lets the issuer `account` register under `registry`. Throws on failure.
  void bind_registry(const std::string& account, const std::string& registry);
  // A new issuer key whose account is bound to `registries` (default: the CreditSpec registry, Verra).
  std::string create_issuer_key(const std::string& account, const std::vector<std::string>& registries = {"Verra"});
  // Makes `account` known to the ledger (an account that has had a key) without a usable key.
  void ensure_account(const std::string& account);
  std::set<std::string> known_accounts_;
  HttpResponse retire(const std::string& id, std::string_view body = {}, const Headers& headers = {});
  // Polls GET /records/{id} until it answers 200 with "version" >= min_version, or the timeout passes.
  // Returns the last response seen (so a caller's assertion shows what was there instead).
  HttpResponse get_record_eventually(const std::string& id, std::int64_t min_version,
                                     std::chrono::milliseconds timeout = kProjectionTimeout);

  // --- database ---
  std::string query_scalar(const std::string& sql) const;
  std::int64_t query_int(const std::string& sql) const;
  void exec_sql(const std::string& sql) const;
  // A deferred constraint trigger on events that, at COMMIT, makes the appending session terminate itself
  // when an appended event's data has this project_name: the connection dies during COMMIT.
  void install_die_at_commit_trigger(const std::string& project_name) const;
  // Events of credit streams: every event but those of the access stream (auth/access_events.h), which key
  // and binding changes append (the fixture's own keys included), and which the projector passes over.
  std::int64_t count_events() const;
  std::int64_t count_events(const std::string& stream_id, const std::string& event_type) const;
  std::int64_t events_applied() const;  // projection_checkpoints.events_applied of credit_records
  // Credit streams (not the access stream) whose credit_records row is missing or disagrees with the log (version != max stream_version,
  // version != number of events, or history length != version). 0 when the read model matches the log.
  std::int64_t divergent_streams() const;
  // Every row of events, the access stream's included: what the verifiable log makes leaves of.
  std::int64_t count_log_events() const;
  // Waits until every event is a leaf under a checkpoint of the whole log (the sealer in project). False on
  // timeout.
  bool wait_until_sealed(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // Waits until the projector has applied every event in the log. False on timeout.
  bool wait_until_projected(std::chrono::milliseconds timeout = kProjectionTimeout) const;

  std::optional<AdminEnv> admin_;
  std::unique_ptr<TestDatabase> db_;
  std::string work_dir_;
  std::unique_ptr<Process> serve_;
  std::unique_ptr<Process> projector_;
  std::uint16_t port_ = 0;
  int serve_starts_ = 0;
  int projector_starts_ = 0;
};

}  // namespace ledger::test
