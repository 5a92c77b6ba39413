// carbon-ledger: one binary, six subcommands (migrate, serve, project, rebuild, keys, registries). Reads its settings from
// the environment, checks them, and hands over to the module that does the work.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pwd.h>
#include <unistd.h>

#include "auth/api_key.h"
#include "auth/api_key_store.h"
#include "command/confusable_claims.h"
#include "command/credit_commands.h"
#include "command/registry_bindings.h"
#include "eventstore/database.h"
#include "eventstore/log_line.h"
#include "eventstore/migrator.h"
#include "eventstore/signed_note.h"
#include "eventstore/log_verifier.h"
#include "eventstore/signing_key_file.h"
#include "projector/log_sealer.h"
#include "projector/projector.h"
#include "projector/projector_metrics.h"
#include "projector/rebuild.h"
#include "server/build_info.h"
#include "server/http_server.h"
#include "server/metrics_endpoint.h"
#include "server/static_assets.h"

namespace {

std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void request_stop(int) { g_stop_requested.store(true); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

constexpr const char* kUsage =
    "usage: carbon-ledger <command> [--help]\n"
    "       carbon-ledger --version\n"
    "\n"
    "commands:\n"
    "  migrate   apply pending database migrations (migrations/*.sql, compiled in)\n"
    "  serve     run the HTTP API (commands and queries)\n"
    "  project   run the projector: keep the read model up to date from the event log\n"
    "  rebuild   replay the whole event log into a fresh read model\n"
    "  keys      create, list and revoke API keys (keys create --account NAME --role ROLE)\n"
    "  registries bind, unbind and list the registries issuer accounts may register under\n"
    "  signing-key create the log's checkpoint signing key, or print its public key\n"
    "  verify    recompute the verifiable log from the events and check leaves, nodes and signed checkpoints\n"
    "\n"
    "Every command reads DATABASE_URL (a libpq URI or key=value string) and LEDGER_LOG_FORMAT (text or json,\n"
    "default text: one JSON object per line on stderr); `carbon-ledger <command> --help` lists the rest.\n";

// Every subcommand's help ends with these (the README's table of environment variables says the same).
#define LEDGER_COMMON_ENV_HELP \
  "  LEDGER_LOG_FORMAT             text or json: one JSON object per log line on stderr (default text)\n"

constexpr const char* kMigrateHelp =
    "usage: carbon-ledger migrate\n"
    "\n"
    "Applies the migrations compiled into this binary, in order, each in its own transaction, and records\n"
    "each with a checksum in schema_migrations. Refuses to run when an applied migration was edited or the\n"
    "database is ahead of this binary. Concurrent runs wait for each other (advisory lock, 60 s bound).\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required, e.g. 'host=/tmp/pg port=5432 user=ledger_owner dbname=ledger'\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kServeHelp =
    "usage: carbon-ledger serve\n"
    "\n"
    "Runs the HTTP API until SIGINT/SIGTERM (in-flight requests finish). Refuses to start when the schema\n"
    "is behind. Logs one line per request to stderr.\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required\n"
    "  LEDGER_HTTP_ADDRESS           listen address (default 127.0.0.1)\n"
    "  LEDGER_HTTP_PORT              listen port (default 8080; 0 picks a free port)\n"
    "  LEDGER_HTTP_THREADS           Asio threads (default 2)\n"
    "  LEDGER_APPENDER_THREADS       group-commit threads, one PostgreSQL connection each (default 2)\n"
    "  LEDGER_BATCH_SIZE_MAX         commands per transaction at most (default 256)\n"
    "  LEDGER_BATCH_WAIT_US          wait for more commands after the first of a batch (default 0)\n"
    "  LEDGER_COMMAND_QUEUE_MAX      commands waiting for a batch before answering 503 (default 4096)\n"
    "  LEDGER_READER_THREADS         GET threads, one PostgreSQL connection each; concurrent lookups\n"
    "                                share one query (default 1)\n"
    "  LEDGER_MAX_CONNECTIONS        open client connections; beyond, a new one gets a canned 503 and is\n"
    "                                closed unread (default 1024; lowered to fit RLIMIT_NOFILE, which serve\n"
    "                                raises to its hard limit, less descriptors kept for the database)\n"
    "  LEDGER_MAX_CONNECTIONS_PER_PEER  open connections from one client address, same answer beyond\n"
    "                                (default a quarter of LEDGER_MAX_CONNECTIONS)\n"
    "  LEDGER_HTTP_IDLE_TIMEOUT_MS   a keep-alive connection whose next request has not begun within this\n"
    "                                is closed (default 5000)\n"
    "  LEDGER_COMMANDS_IN_FLIGHT_PER_KEY_MAX  commands one API key may have queued or being applied;\n"
    "                                beyond: 429 with Retry-After (default 128)\n"
    "  LEDGER_KEY_RELOAD_INTERVAL_MS every active API key is held in memory and re-read this often, besides\n"
    "                                at once on every change `keys` makes (NOTIFY) (default 30000)\n"
    "  LEDGER_KEYS_MAX               active API keys held in memory at most; more refuses to start\n"
    "                                (default 1000000)\n"
    "  LEDGER_IDEMPOTENCY_TTL_S      how long an Idempotency-Key's answer is kept, then swept (default 86400)\n"
    "  LEDGER_MIN_VERSION_WAIT_MS    GET /records/{id}?min_version=N waits this long at most for the read model\n"
    "                                to reach version N, then answers 504 (default 2000; 0..60000)\n"
    "  LEDGER_ASSETS_DIR             a directory whose files replace the compiled-in page files of the same\n"
    "                                names (index.html, explorer.js, ...) at start, for working on the pages\n"
    "                                (default unset: the compiled-in files)\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kProjectHelp =
    "usage: carbon-ledger project\n"
    "\n"
    "Runs the projector until SIGINT/SIGTERM: LISTENs for appends and polls, applies new events to the\n"
    "credit_records read model in batches, checkpointing in the same transaction. Refuses to start when\n"
    "the schema is behind.\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required\n"
    "  LEDGER_PROJECTOR_POLL_MS      longest wait between polls when no notification comes (default 500)\n"
    "  LEDGER_PROJECTOR_BATCH_SIZE   events applied per transaction (default 1000)\n"
    "  LEDGER_PROJECTOR_METRICS_PORT port of the Prometheus endpoint, GET /metrics (default 9464; 0 picks a\n"
    "                                free port; off: none). Logs \"metrics on http://ADDRESS:PORT/metrics\".\n"
    "                                Set explicitly, a port it cannot listen on refuses to start; the default\n"
    "                                one only logs a warning and projects without metrics\n"
    "  LEDGER_PROJECTOR_METRICS_ADDRESS  loopback address it listens on (default 127.0.0.1)\n"
    "  LEDGER_SIGNING_KEY_FILE       the log's signing key (carbon-ledger signing-key create). Set, project also\n"
    "                                seals the verifiable log: every event a leaf, signed checkpoints\n"
    "                                (docs/audit.md). Unset: the log is not sealed (a warning says so)\n"
    "  LEDGER_CHECKPOINT_INTERVAL_MS longest wait before new events are sealed under a signed checkpoint\n"
    "                                (default 1000; 10..3600000)\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kSigningKeyHelp =
    "usage: carbon-ledger signing-key create [--name NAME] [--file PATH]\n"
    "       carbon-ledger signing-key public [--file PATH]\n"
    "\n"
    "create  writes a new Ed25519 key for the log's checkpoints to PATH (default LEDGER_SIGNING_KEY_FILE),\n"
    "        mode 600, never overwriting a file; NAME is the log's origin line (default\n"
    "        carbon-ledger.local/log). Prints the public (verifier) key for auditors to pin.\n"
    "public  prints the verifier key of the key in PATH: \"<name>+<key id>+<key>\" (as GET /log/public-key)\n"
    "\n"
    "environment:\n"
    "  LEDGER_SIGNING_KEY_FILE       default PATH\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kVerifyHelp =
    "usage: carbon-ledger verify [--checkpoint FILE] [--public-key KEY_OR_FILE] [--deep]\n"
    "\n"
    "Recomputes every event's leaf (its RFC 8785 canonical JSON) and compares its hash with the stored leaf's,\n"
    "rebuilds the Merkle tree from the events, and checks every stored checkpoint:\n"
    "its signature by the trusted key and its root at its tree size (docs/audit.md). Prints one line per\n"
    "finding (at most 20 per kind; the rest are counted), then a summary; progress on stderr. Read-only: run it\n"
    "as the owner or an auditor (ledger_auditor) role. Exit 0 when everything holds, 1 when anything differs,\n"
    "2 on a usage or database error.\n"
    "\n"
    "--checkpoint FILE      a checkpoint note saved earlier: it must verify with the trusted key, and its root\n"
    "                       be the root of today's log at its size\n"
    "--deep                 also compare every stored leaf's data byte for byte and every stored tree node\n"
    "                       with the rebuilt one (reads about three times the bytes)\n"
    "--public-key KEY_OR_FILE  the trusted verifier key \"<name>+<key id>+<key>\" (as GET /log/public-key), or a\n"
    "                       file holding it. Default: the public half of LEDGER_SIGNING_KEY_FILE\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required\n"
    "  LEDGER_SIGNING_KEY_FILE       the trusted key when --public-key is not given (its public half)\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kRebuildHelp =
    "usage: carbon-ledger rebuild\n"
    "\n"
    "Replays the whole event log into a fresh read model and swaps it in atomically; readers see the old\n"
    "model until it commits. Progress on stderr, then a one-line summary. A running projector waits and then\n"
    "continues from the rebuilt checkpoint.\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required\n"
    "  LEDGER_REBUILD_BATCH_SIZE     events per read; the records they finish are written in one COPY (default 20000)\n"
    LEDGER_COMMON_ENV_HELP;

constexpr const char* kKeysHelp =
    "usage: carbon-ledger keys create --account NAME --role ROLE [--actor WHO]\n"
    "       carbon-ledger keys list\n"
    "       carbon-ledger keys revoke KEY_ID [--actor WHO]\n"
    "\n"
    "API keys for the HTTP API (Authorization: Bearer <key>). Only a hash of each key is stored.\n"
    "  create   makes a key for account NAME with role issuer, holder, auditor or admin, and prints the key,\n"
    "           alone, on stdout: the only time it is shown (KEY=$(carbon-ledger keys create ...)).\n"
    "  list     prints every key: id, account, role, created, revoked, created by, revoked by (never the\n"
    "           key itself; \"by\" is the database login and the actor).\n"
    "  revoke   revokes the key with this id (the 16 hex digits after clk_), for good. Revoking it again\n"
    "           changes nothing.\n"
    "  --actor  who is asking, recorded with the change beside the database login (default: the OS user).\n"
    "\n"
    "Every change is appended to api_key_changes (append-only: never updated or deleted) in a transaction\n"
    "that also notifies serve (NOTIFY api_keys_changed); create and revoke return once every running serve\n"
    "has confirmed it applied the change (2 s at most; a note on stderr says when some did not).\n"
    "\n"
    "Roles: issuer registers credits and becomes their holder; holder sells and retires the credits it holds\n"
    "(selling makes the buyer's account the holder); auditor reads everything and changes nothing; admin may\n"
    "do everything.\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required (as the schema owner, ledger_owner: serve's role may only read\n"
    "                                the keys)\n"
    LEDGER_COMMON_ENV_HELP;

const char kRegistriesHelp[] =
    "usage: carbon-ledger registries bind --account NAME --registry REGISTRY [--actor WHO]\n"
    "       carbon-ledger registries unbind --account NAME --registry REGISTRY [--actor WHO]\n"
    "       carbon-ledger registries list\n"
    "\n"
    "An issuer key may register credits only under the registries bound to its account (admin keys may\n"
    "register under any). Registry names compare ignoring ASCII case. Every change is recorded, append-only,\n"
    "in registry_binding_changes (who: the database login and --actor, default the OS user; when). serve\n"
    "reads the bindings in the transaction of each registration, so a change applies to the next one.\n"
    "\n"
    "  list   prints one line per binding: account, registry, bound_at (tab-separated)\n"
    "\n"
    "environment:\n"
    "  DATABASE_URL                  required (as the schema owner, ledger_owner)\n"
    LEDGER_COMMON_ENV_HELP;

// One log line of a subcommand (text or JSON, LEDGER_LOG_FORMAT), printf-style, to stderr.
__attribute__((format(printf, 3, 4))) void log_linef(const char* process, ledger::LogLevel level, const char* format, ...) {
  char message[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof message, format, args);
  va_end(args);
  ledger::log_to_stderr(process, level, message);
}

// Reads an integer setting in [min, max]; exits with a message naming the variable when it is not one.
long long env_integer(const char* name, long long fallback, long long min, long long max) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || parsed < min || parsed > max) {
    std::fprintf(stderr, "carbon-ledger: %s='%s' must be an integer between %lld and %lld\n", name, value, min,
                 max);
    std::exit(2);
  }
  return parsed;
}

std::string require_database_url() {
  std::string url;
  ledger::Status status = ledger::database_url_from_env(&url);
  if (!status.ok()) {
    std::fprintf(stderr, "carbon-ledger: %s\n", status.message().c_str());
    std::exit(2);
  }
  return url;
}

// serve and project refuse to start on a schema that is behind. A database that is still starting gets
// a bounded wait.
bool schema_ready(const char* who, const std::string& url) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    ledger::Status status = ledger::check_schema_current(url, ledger::embedded_migrations());
    if (status.ok()) return true;
    if (!status.IsUnavailable() || std::chrono::steady_clock::now() >= deadline || g_stop_requested.load()) {
      log_linef(who, ledger::LogLevel::kError, "refusing to start: %s", status.message().c_str());
      return false;
    }
    log_linef(who, ledger::LogLevel::kWarn, "waiting for PostgreSQL: %s", status.message().c_str());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

using Args = std::vector<std::string>;

int usage_error(const char* help, const std::string& message) {
  std::fprintf(stderr, "carbon-ledger: %s\n\n%s", message.c_str(), help);
  return 2;
}

// Runs `fn` on a fresh connection to `url`; a failure to connect becomes Unavailable.
ledger::Status with_connection(const std::string& url, const std::function<ledger::Status(pqxx::connection&)>& fn) {
  try {
    auto connection = ledger::open_connection(url, ledger::DatabaseLimits());
    return fn(*connection);
  } catch (const std::exception& e) {
    return ledger::Status::Unavailable(e.what());
  }
}

// Who runs `keys` when --actor does not say: the OS user.
std::string default_actor() {
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr && *pw->pw_name != '\0') {
    return pw->pw_name;
  }
  return "uid " + std::to_string(geteuid());
}

// The change is committed either way; a serve that did not confirm applies it at its next full reload.
void note_unconfirmed(const ledger::KeyChangeApplied& applied) {
  if (applied.confirmed >= applied.listening) return;
  log_linef("keys", ledger::LogLevel::kWarn,
               "%d of %d running serve processes confirmed the change within %d ms; the others apply it "
               "at their next reload (LEDGER_KEY_RELOAD_INTERVAL_MS) at the latest",
               applied.confirmed, applied.listening, ledger::kKeyChangeConfirmTimeoutMs);
}

int cmd_keys(const Args& args) {
  if (args.empty()) return usage_error(kKeysHelp, "keys needs create, list or revoke");
  const std::string& action = args[0];
  std::optional<std::string> actor_arg;
  if (action == "create") {
    std::string account;
    std::string role_text;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const bool has_value = i + 1 < args.size();
      if (args[i] == "--account" && has_value) account = args[++i];
      else if (args[i] == "--role" && has_value) role_text = args[++i];
      else if (args[i] == "--actor" && has_value) actor_arg = args[++i];
      else return usage_error(kKeysHelp, "keys create: unexpected argument '" + args[i] + "'");
    }
    const std::string actor = actor_arg.value_or(default_actor());
    if (ledger::Status valid = ledger::validate_actor(actor); !valid.ok()) {
      return usage_error(kKeysHelp, "--actor: " + valid.message());
    }
    if (account.empty() || role_text.empty()) return usage_error(kKeysHelp, "keys create needs --account and --role");
    const std::optional<ledger::Role> role = ledger::parse_role(role_text);
    if (!role.has_value()) {
      return usage_error(kKeysHelp, "--role must be issuer, holder, auditor or admin, not '" + role_text + "'");
    }
    if (ledger::Status valid = ledger::validate_account_name(account); !valid.ok()) {
      return usage_error(kKeysHelp, "--account: " + valid.message());
    }
    const std::string url = require_database_url();
    if (!schema_ready("keys", url)) return 1;
    std::string key;
    ledger::KeyChangeApplied applied;
    const ledger::Status status = with_connection(
        url, [&](pqxx::connection& connection) {
          return ledger::create_api_key(connection, account, *role, actor, &key, &applied);
        });
    if (!status.ok()) {
      std::fprintf(stderr, "carbon-ledger keys create: %s\n", status.message().c_str());
      return 1;
    }
    std::printf("%s\n", key.c_str());
    log_linef("keys", ledger::LogLevel::kInfo, "created a key with role %s for account \"%s\" (id %s); it is shown only this once",
                 role_text.c_str(), account.c_str(), ledger::parse_api_key(key)->key_id.c_str());
    note_unconfirmed(applied);
    return 0;
  }
  if (action == "list" || action == "revoke") {
    std::string key_id;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (action == "revoke" && args[i] == "--actor" && i + 1 < args.size()) actor_arg = args[++i];
      else if (action == "revoke" && key_id.empty() && args[i].rfind("--", 0) != 0) key_id = args[i];
      else return usage_error(kKeysHelp, "keys " + action + ": unexpected argument '" + args[i] + "'");
    }
    if (action == "revoke" && key_id.empty()) return usage_error(kKeysHelp, "keys revoke takes one KEY_ID");
    const std::string actor = actor_arg.value_or(default_actor());
    if (ledger::Status valid = ledger::validate_actor(actor); !valid.ok()) {
      return usage_error(kKeysHelp, "--actor: " + valid.message());
    }
    const std::string url = require_database_url();
    if (!schema_ready("keys", url)) return 1;
    std::vector<ledger::ApiKeyRecord> keys;
    bool already_revoked = false;
    ledger::KeyChangeApplied applied;
    const ledger::Status status = with_connection(url, [&](pqxx::connection& connection) {
      return action == "list" ? ledger::list_api_keys(connection, &keys)
                              : ledger::revoke_api_key(connection, key_id, actor, &already_revoked, &applied);
    });
    if (!status.ok()) {
      std::fprintf(stderr, "carbon-ledger keys %s: %s\n", action.c_str(), status.message().c_str());
      return status.IsNotFound() ? 3 : 1;
    }
    if (action == "revoke") {
      log_linef("keys", ledger::LogLevel::kInfo, already_revoked ? "%s was already revoked" : "revoked %s", key_id.c_str());
      note_unconfirmed(applied);
      return 0;
    }
    // The first five columns as before; who made each change after them.
    std::printf("key_id\taccount\trole\tcreated_at\trevoked_at\tcreated_by\trevoked_by\n");
    for (const ledger::ApiKeyRecord& k : keys) {
      std::printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.key_id.c_str(), k.account.c_str(), ledger::role_name(k.role),
                  k.created_at.c_str(), k.revoked_at.value_or("-").c_str(), k.created_by.c_str(),
                  k.revoked_by.value_or("-").c_str());
    }
    return 0;
  }
  return usage_error(kKeysHelp, "unknown keys action '" + action + "'");
}

int cmd_registries(const Args& args) {
  if (args.empty()) return usage_error(kRegistriesHelp, "registries needs bind, unbind or list");
  const std::string& action = args[0];
  if (action == "list") {
    if (args.size() > 1) return usage_error(kRegistriesHelp, "registries list takes no arguments");
    const std::string url = require_database_url();
    if (!schema_ready("registries", url)) return 1;
    std::vector<ledger::RegistryBinding> bindings;
    ledger::Status status =
        with_connection(url, [&](pqxx::connection& c) { return ledger::list_registry_bindings(c, &bindings); });
    if (!status.ok()) {
      std::fprintf(stderr, "carbon-ledger registries list: %s\n", status.message().c_str());
      return 1;
    }
    for (const ledger::RegistryBinding& b : bindings) {
      std::printf("%s\t%s\t%s\n", b.account.c_str(), b.registry.c_str(), b.bound_at.c_str());
    }
    return 0;
  }
  if (action != "bind" && action != "unbind") {
    return usage_error(kRegistriesHelp, "unknown registries action '" + action + "'");
  }
  std::string account, registry;
  std::optional<std::string> actor_arg;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--account" && has_value) account = args[++i];
    else if (args[i] == "--registry" && has_value) registry = args[++i];
    else if (args[i] == "--actor" && has_value) actor_arg = args[++i];
    else return usage_error(kRegistriesHelp, "registries " + action + ": unexpected argument '" + args[i] + "'");
  }
  if (account.empty() || registry.empty()) {
    return usage_error(kRegistriesHelp, "registries " + action + " needs --account and --registry");
  }
  const std::string actor = actor_arg.value_or(default_actor());
  if (ledger::Status valid = ledger::validate_actor(actor); !valid.ok()) {
    return usage_error(kRegistriesHelp, "--actor: " + valid.message());
  }
  const std::string url = require_database_url();
  if (!schema_ready("registries", url)) return 1;
  bool changed = false;
  ledger::Status status = with_connection(url, [&](pqxx::connection& c) {
    return ledger::change_registry_binding(c, account, registry, action == "bind", actor, &changed);
  });
  if (status.IsInvalid()) return usage_error(kRegistriesHelp, status.message());
  if (!status.ok()) {
    std::fprintf(stderr, "carbon-ledger registries %s: %s\n", action.c_str(), status.message().c_str());
    return 1;
  }
  log_linef("registries", ledger::LogLevel::kInfo, "%s \"%s\" %s account \"%s\"%s", action == "bind" ? "bound" : "unbound",
               registry.c_str(), action == "bind" ? "to" : "from", account.c_str(),
               changed ? "" : " (no change: it already was)");
  return 0;
}

int cmd_migrate() {
  const std::string url = require_database_url();
  std::vector<std::string> log;
  ledger::Status status = ledger::migrate(url, ledger::embedded_migrations(), &log);
  for (const std::string& line : log) log_linef("migrate", ledger::LogLevel::kInfo, "%s", line.c_str());
  if (!status.ok()) {
    log_linef("migrate", ledger::LogLevel::kError, "%s", status.ToString().c_str());
    return 1;
  }
  // Credits registered before confusable claims existed get theirs, so their lookalikes are refused too.
  ledger::ClaimsBackfill backfill;
  ledger::DatabaseLimits limits;
  limits.statement_timeout_ms = 0;
  limits.key_lookups_only = false;
  try {
    auto connection = ledger::open_connection(url, limits);
    status = ledger::backfill_confusable_claims(*connection, &backfill);
  } catch (const std::exception& e) {
    status = ledger::Status::Unavailable(e.what());
  }
  if (!status.ok()) {
    log_linef("migrate", ledger::LogLevel::kError, "%s", status.ToString().c_str());
    return 1;
  }
  if (backfill.claimed > 0) {
    log_linef("migrate", ledger::LogLevel::kInfo, "claimed the confusable keys of %lld earlier credits",
                 static_cast<long long>(backfill.claimed));
  }
  for (const std::string& twin : backfill.twins) {
    log_linef("migrate", ledger::LogLevel::kWarn, "warning: credit %s (registered before lookalikes were refused)", twin.c_str());
  }
  if (backfill.units_claimed > 0) {
    log_linef("migrate", ledger::LogLevel::kInfo, "claimed the units their serial numbers state for %lld earlier credits",
                 static_cast<long long>(backfill.units_claimed));
  }
  for (const std::string& overlap : backfill.overlaps) {
    log_linef("migrate", ledger::LogLevel::kWarn, "warning: credit %s: the same units, issued before overlaps were refused",
                 overlap.c_str());
  }
  return 0;
}

int cmd_serve() {
  ledger::ServerOptions options;
  options.database_url = require_database_url();
  if (const char* address = std::getenv("LEDGER_HTTP_ADDRESS"); address != nullptr && *address != '\0') {
    options.address = address;
  }
  options.port = static_cast<unsigned short>(env_integer("LEDGER_HTTP_PORT", 8080, 0, 65535));
  options.io_threads = static_cast<std::size_t>(env_integer("LEDGER_HTTP_THREADS", 2, 1, 64));
  options.appender.threads = static_cast<std::size_t>(env_integer("LEDGER_APPENDER_THREADS", 2, 1, 64));
  options.appender.batch_size_max = static_cast<std::size_t>(
      env_integer("LEDGER_BATCH_SIZE_MAX", 256, 1, static_cast<long long>(ledger::kBatchSizeMax)));
  options.appender.batch_wait_us = static_cast<int>(env_integer("LEDGER_BATCH_WAIT_US", 0, 0, 100000));
  options.appender.queue_length_max =
      static_cast<std::size_t>(env_integer("LEDGER_COMMAND_QUEUE_MAX", 4096, 1, 1000000));
  // One: on two cores, one session taking every waiting lookup at once beat two taking turns (GET p99
  // 6.3-7.9 ms vs 8.0-10.4 ms at 17-20k requests/s; wrk -t2 -c64 -s bench/get.lua over 100,000
  // records, 3 runs each).
  options.reader.threads = static_cast<std::size_t>(env_integer("LEDGER_READER_THREADS", 1, 1, 64));
  options.connections_max = static_cast<std::size_t>(env_integer("LEDGER_MAX_CONNECTIONS", 1024, 1, 100000));
  options.connections_per_peer_max =
      static_cast<std::size_t>(env_integer("LEDGER_MAX_CONNECTIONS_PER_PEER", 0, 0, 100000));
  options.idle_timeout_ms = static_cast<int>(env_integer("LEDGER_HTTP_IDLE_TIMEOUT_MS", 5000, 1, 3600000));
  options.commands_in_flight_per_key_max =
      static_cast<std::size_t>(env_integer("LEDGER_COMMANDS_IN_FLIGHT_PER_KEY_MAX", 128, 1, 1000000));
  if (const char* old = std::getenv("LEDGER_KEY_CACHE_TTL_MS"); old != nullptr && *old != '\0') {
    log_linef("serve", ledger::LogLevel::kWarn, "LEDGER_KEY_CACHE_TTL_MS is no longer used: every key is held in memory and "
                         "changes apply at once (see LEDGER_KEY_RELOAD_INTERVAL_MS)");
  }
  options.key_reload_interval_ms =
      static_cast<int>(env_integer("LEDGER_KEY_RELOAD_INTERVAL_MS", 30000, 100, 3600000));
  options.keys_max = static_cast<std::size_t>(env_integer("LEDGER_KEYS_MAX", 1000000, 1, 10000000));
  ledger::set_idempotency_ttl_s(env_integer("LEDGER_IDEMPOTENCY_TTL_S", ledger::kIdempotencyTtlDefaultS, 1, 31536000));
  options.min_version_wait_ms = static_cast<int>(env_integer("LEDGER_MIN_VERSION_WAIT_MS", 2000, 0, 60000));
  if (const char* dir = std::getenv("LEDGER_ASSETS_DIR"); dir != nullptr && *dir != '\0') {
    int replaced = 0;
    if (ledger::Status loaded = ledger::load_asset_overrides(dir, &replaced); !loaded.ok()) {
      std::fprintf(stderr, "carbon-ledger: %s\n", loaded.message().c_str());
      return 2;
    }
    ledger::log_to_stderr("serve", ledger::LogLevel::kInfo,
                          std::to_string(replaced) + " page files from LEDGER_ASSETS_DIR " + dir);
  }
  options.stop_requested = &g_stop_requested;
  if (!schema_ready("serve", options.database_url)) return 1;
  if (g_stop_requested.load()) return 0;
  return ledger::run_server(options);
}

// LEDGER_SIGNING_KEY_FILE, or nullopt; *failed when it is set but unusable.
std::optional<ledger::LogSealerOptions> sealer_options_from_env(const std::string& database_url, bool* failed) {
  *failed = false;
  const char* path = std::getenv("LEDGER_SIGNING_KEY_FILE");
  const long long interval_ms = env_integer("LEDGER_CHECKPOINT_INTERVAL_MS", 1000, ledger::kCheckpointIntervalMsMin,
                                            ledger::kCheckpointIntervalMsMax);
  if (path == nullptr || *path == '\0') {
    log_linef("projector", ledger::LogLevel::kWarn,
              "LEDGER_SIGNING_KEY_FILE is not set: the verifiable log is not sealed (no leaves, no checkpoints)");
    return std::nullopt;
  }
  ledger::LogSealerOptions options;
  options.database_url = database_url;
  options.checkpoint_interval_ms = static_cast<int>(interval_ms);
  if (const ledger::Status read = ledger::read_signing_key_file(path, &options.signer); !read.ok()) {
    log_linef("projector", ledger::LogLevel::kError, "refusing to start: %s", read.message().c_str());
    *failed = true;
    return std::nullopt;
  }
  return options;
}

int cmd_project() {
  ledger::ProjectorOptions options;
  options.database_url = require_database_url();
  options.poll_interval_ms =
      static_cast<int>(env_integer("LEDGER_PROJECTOR_POLL_MS", 500, 1, ledger::kProjectorPollIntervalMsMax));
  options.batch_size_max = static_cast<std::size_t>(
      env_integer("LEDGER_PROJECTOR_BATCH_SIZE", 1000, 1, static_cast<long long>(ledger::kProjectorBatchSizeMax)));
  ledger::MetricsEndpointOptions metrics_options;
  const char* metrics_port = std::getenv("LEDGER_PROJECTOR_METRICS_PORT");
  const bool metrics_port_set = metrics_port != nullptr && *metrics_port != '\0';
  const bool metrics_on = !metrics_port_set || std::strcmp(metrics_port, "off") != 0;
  if (metrics_on) {
    metrics_options.port = static_cast<unsigned short>(env_integer("LEDGER_PROJECTOR_METRICS_PORT", 9464, 0, 65535));
  }
  if (const char* address = std::getenv("LEDGER_PROJECTOR_METRICS_ADDRESS"); address != nullptr && *address != '\0') {
    metrics_options.address = address;
  }
  bool sealer_failed = false;
  const std::optional<ledger::LogSealerOptions> sealer_options =
      sealer_options_from_env(options.database_url, &sealer_failed);
  if (sealer_failed) return 2;
  if (!schema_ready("project", options.database_url)) return 1;
  ledger::ProjectorStats stats;
  options.stats = &stats;
  const ledger::ProjectorMetrics metrics(&stats);
  ledger::MetricsEndpoint endpoint(metrics_options, [&metrics] { return metrics.render(); });
  if (metrics_on) {
    const ledger::Status listening = endpoint.start();
    if (listening.ok()) {
      ledger::log_to_stderr("projector", ledger::LogLevel::kInfo, "metrics on " + endpoint.url());
    } else if (metrics_port_set || listening.IsInvalid()) {
      ledger::log_to_stderr("projector", ledger::LogLevel::kError,
                            "refusing to start: metrics endpoint: " + listening.message());
      return listening.IsInvalid() ? 2 : 1;
    } else {
      ledger::log_to_stderr("projector", ledger::LogLevel::kWarn,
                            "no metrics endpoint (set LEDGER_PROJECTOR_METRICS_PORT to choose a port): " +
                                listening.message());
    }
  }
  // The sealer runs beside the projector on a thread and session of its own; a sealer that must halt (the
  // stored log disagrees with its checkpoints) stops the whole process, so it is noticed.
  std::thread sealer_thread;
  std::atomic<int> sealer_code{0};
  if (sealer_options) {
    sealer_thread = std::thread([&sealer_options, &sealer_code] {
      const int code = ledger::run_log_sealer(*sealer_options, g_stop_requested);
      sealer_code.store(code);
      if (code != 0) g_stop_requested.store(true);
    });
  }
  const int code = ledger::run_projector(options, g_stop_requested);
  g_stop_requested.store(true);
  if (sealer_thread.joinable()) sealer_thread.join();
  endpoint.stop();
  return code != 0 ? code : sealer_code.load();
}

int cmd_signing_key(const Args& args) {
  if (args.empty()) return usage_error(kSigningKeyHelp, "signing-key needs create or public");
  const std::string action = args[0];
  std::string name = "carbon-ledger.local/log";
  std::string path;
  if (const char* env = std::getenv("LEDGER_SIGNING_KEY_FILE"); env != nullptr) path = env;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--file" && i + 1 < args.size()) path = args[++i];
    else if (action == "create" && args[i] == "--name" && i + 1 < args.size()) name = args[++i];
    else return usage_error(kSigningKeyHelp, "unknown argument '" + args[i] + "'");
  }
  if (path.empty()) return usage_error(kSigningKeyHelp, "no key file: pass --file PATH or set LEDGER_SIGNING_KEY_FILE");
  ledger::NoteSigner signer;
  if (action == "create") {
    if (const ledger::Status made = ledger::generate_note_signer(name, &signer); !made.ok()) {
      return usage_error(kSigningKeyHelp, "--name: " + made.message());
    }
    if (const ledger::Status written = ledger::write_signing_key_file(path, signer); !written.ok()) {
      std::fprintf(stderr, "carbon-ledger signing-key: %s\n", written.message().c_str());
      return 1;
    }
    log_linef("signing-key", ledger::LogLevel::kInfo, "wrote a new signing key to %s (mode 600); its public key:",
              path.c_str());
  } else if (action == "public") {
    if (const ledger::Status read = ledger::read_signing_key_file(path, &signer); !read.ok()) {
      std::fprintf(stderr, "carbon-ledger signing-key: %s\n", read.message().c_str());
      return 1;
    }
  } else {
    return usage_error(kSigningKeyHelp, "signing-key needs create or public, not '" + action + "'");
  }
  std::printf("%s\n", ledger::format_verifier_key(signer.verifier).c_str());
  return 0;
}

bool read_small_file(const std::string& path, std::string* out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buffer[4096];
  out->clear();
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) {
    out->append(buffer, n);
    if (out->size() > 1 << 20) break;  // a note or a key is a few hundred bytes
  }
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  return ok;
}

int cmd_verify(const Args& args) {
  std::optional<std::string> checkpoint_file, public_key;
  bool deep = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--deep") {
      deep = true;
    } else if (args[i] == "--checkpoint" && has_value) {
      checkpoint_file = args[++i];
    } else if (args[i] == "--public-key" && has_value) {
      public_key = args[++i];
    } else {
      return usage_error(kVerifyHelp, "verify: unexpected argument '" + args[i] + "'");
    }
  }
  ledger::LogVerifyOptions options;
  options.deep = deep;
  if (public_key) {
    std::string text = *public_key;
    // A key has two '+'; anything else is taken for a file that holds one.
    if (text.find('+') == std::string::npos && !read_small_file(*public_key, &text)) {
      std::fprintf(stderr, "carbon-ledger verify: cannot read --public-key file %s\n", public_key->c_str());
      return 2;
    }
    if (const ledger::Status s = ledger::parse_verifier_key(text, &options.trusted_key); !s.ok()) {
      std::fprintf(stderr, "carbon-ledger verify: --public-key: %s\n", s.message().c_str());
      return 2;
    }
  } else if (const char* path = std::getenv("LEDGER_SIGNING_KEY_FILE"); path != nullptr && *path != '\0') {
    ledger::NoteSigner signer;
    if (const ledger::Status s = ledger::read_signing_key_file(path, &signer); !s.ok()) {
      std::fprintf(stderr, "carbon-ledger verify: %s\n", s.message().c_str());
      return 2;
    }
    options.trusted_key = signer.verifier;
  } else {
    return usage_error(kVerifyHelp, "verify needs the log's public key: pass --public-key (or set LEDGER_SIGNING_KEY_FILE)");
  }
  if (checkpoint_file) {
    std::string note;
    if (!read_small_file(*checkpoint_file, &note)) {
      std::fprintf(stderr, "carbon-ledger verify: cannot read --checkpoint file %s\n", checkpoint_file->c_str());
      return 2;
    }
    options.auditor_checkpoint_note = note;
  }
  options.database_url = require_database_url();
  options.on_finding = [](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  };
  options.on_progress = [](std::int64_t events, double seconds) {
    log_linef("verify", ledger::LogLevel::kInfo, "%lld events checked, %.0f events/s", static_cast<long long>(events),
              seconds > 0 ? static_cast<double>(events) / seconds : 0.0);
  };
  ledger::LogVerifyReport report;
  const ledger::Status s = ledger::verify_log(options, &report);
  if (!s.ok()) {
    std::fflush(stdout);
    std::fprintf(stderr, "carbon-ledger verify: %s\n", s.message().c_str());
    return 2;
  }
  std::printf("%s\n", report.summary().c_str());
  return report.ok() ? 0 : 1;
}

int cmd_rebuild() {
  ledger::RebuildOptions options;
  options.database_url = require_database_url();
  options.batch_size_max = static_cast<std::size_t>(
      env_integer("LEDGER_REBUILD_BATCH_SIZE", 20000, 1, static_cast<long long>(ledger::kRebuildBatchSizeMax)));
  if (!schema_ready("rebuild", options.database_url)) return 1;
  return ledger::run_rebuild(options, g_stop_requested);
}

}  // namespace

int main(int argc, char** argv) {
  // First thing, so a SIGTERM that arrives while starting up still means "stop cleanly" (serve's own
  // signal_set takes over once it runs).
  install_stop_handlers();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "--version" || command == "version") {
    std::printf("carbon-ledger %s (commit %s, %s build, schema version %d)\n", ledger::kBuildVersion,
                ledger::kBuildCommit, ledger::kBuildType, ledger::schema_version());
    return 0;
  }
  if (const char* format = std::getenv("LEDGER_LOG_FORMAT"); format != nullptr && *format != '\0') {
    ledger::LogFormat parsed;
    if (!ledger::parse_log_format(format, &parsed)) {
      std::fprintf(stderr, "carbon-ledger: LEDGER_LOG_FORMAT='%s' must be text or json\n", format);
      return 2;
    }
    ledger::set_log_format(parsed);
  }
  struct Subcommand {
    const char* name;
    const char* help;
    int (*run)();                 // for subcommands without arguments
    int (*run_args)(const Args&);  // for those with
  };
  static const Subcommand subcommands[] = {
      {"migrate", kMigrateHelp, cmd_migrate, nullptr},
      {"serve", kServeHelp, cmd_serve, nullptr},
      {"project", kProjectHelp, cmd_project, nullptr},
      {"rebuild", kRebuildHelp, cmd_rebuild, nullptr},
      {"keys", kKeysHelp, nullptr, cmd_keys},
      {"registries", kRegistriesHelp, nullptr, cmd_registries},
      {"signing-key", kSigningKeyHelp, nullptr, cmd_signing_key},
      {"verify", kVerifyHelp, nullptr, cmd_verify},
  };
  for (const Subcommand& sub : subcommands) {
    if (command != sub.name) continue;
    Args args;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        std::fputs(sub.help, stdout);
        return 0;
      }
      if (sub.run == nullptr) {
        args.emplace_back(argv[i]);
        continue;
      }
      std::fprintf(stderr, "carbon-ledger %s: unknown argument '%s'\n\n%s", sub.name, argv[i], sub.help);
      return 2;
    }
    return sub.run != nullptr ? sub.run() : sub.run_args(args);
  }
  std::fprintf(stderr, "carbon-ledger: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
