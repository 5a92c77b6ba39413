#include "tests/support/ledger_fixture.h"

#include "eventstore/signed_note.h"
#include "eventstore/signing_key_file.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>
#include <signal.h>
#include <stdexcept>
#include <thread>

#include <pqxx/pqxx>

namespace ledger::test {
namespace {

constexpr std::chrono::milliseconds kPollInterval{25};

void print_log(const std::string& title, const std::string& path) {
  std::printf("---- %s (%s), last lines:\n%s", title.c_str(), path.c_str(), tail_of_file(path).c_str());
}

}  // namespace

std::string CreditSpec::to_json() const {
  return json_object({{"project_name", json_string(project_name)},
                      {"registry", json_string(registry)},
                      {"vintage", vintage},
                      {"quantity", quantity},
                      {"serial_number", json_string(serial_number)}});
}

::testing::AssertionResult IsProblem(const HttpResponse& response, int expected_status) {
  if (response.status != expected_status) {
    return ::testing::AssertionFailure() << "HTTP status " << response.status << ", expected "
                                         << expected_status << "; body: " << response.body;
  }
  const std::string content_type = lower(response.header("Content-Type").value_or("<none>"));
  if (content_type.rfind("application/problem+json", 0) != 0) {
    return ::testing::AssertionFailure() << "Content-Type is " << content_type
                                         << ", expected application/problem+json; body: " << response.body;
  }
  rapidjson::Document doc;
  try {
    doc = parse_json(response.body);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
  if (!doc.IsObject()) return ::testing::AssertionFailure() << "problem is not an object: " << response.body;
  for (const char* name : {"type", "title", "detail"}) {
    if (!doc.HasMember(name) || !doc[name].IsString()) {
      return ::testing::AssertionFailure() << "problem has no string \"" << name << "\": " << response.body;
    }
  }
  if (!doc.HasMember("status") || !doc["status"].IsInt() || doc["status"].GetInt() != expected_status) {
    return ::testing::AssertionFailure() << "problem \"status\" is not the number " << expected_status << ": "
                                         << response.body;
  }
  return ::testing::AssertionSuccess();
}

std::string problem_type(const HttpResponse& response) {
  try {
    return string_member(parse_json(response.body), "type");
  } catch (const std::exception&) {
    return "<not JSON>";
  }
}

::testing::AssertionResult IsProblemOf(const HttpResponse& response, int expected_status, const std::string& slug) {
  auto result = IsProblem(response, expected_status);
  if (!result) return result;
  if (problem_type(response) != "/problems/" + slug) {
    return ::testing::AssertionFailure() << "problem type is " << problem_type(response) << ", expected /problems/"
                                         << slug << "; body: " << response.body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsProblemNaming(const HttpResponse& response, int expected_status,
                                           const std::string& field) {
  auto result = IsProblem(response, expected_status);
  if (!result) return result;
  if (!has_item(error_fields(response), field)) {
    return ::testing::AssertionFailure() << "errors[].field does not name " << field << "; body: " << response.body;
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> error_fields(const HttpResponse& response) {
  std::vector<std::string> fields;
  rapidjson::Document doc;
  try {
    doc = parse_json(response.body);
  } catch (const std::exception&) {
    return fields;
  }
  if (!doc.IsObject() || !doc.HasMember("errors") || !doc["errors"].IsArray()) return fields;
  for (const auto& error : doc["errors"].GetArray()) {
    fields.push_back(string_member(error, "field"));
  }
  return fields;
}

std::string problem_detail(const HttpResponse& response) {
  try {
    return string_member(parse_json(response.body), "detail");
  } catch (const std::exception&) {
    return "";
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool has_item(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::optional<std::uint16_t> wait_for_listening(Process& serve, std::chrono::milliseconds timeout) {
  static const std::regex listening(R"(listening on http://127\.0\.0\.1:([0-9]+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const std::string err = serve.stderr_text();
    std::smatch match;
    if (std::regex_search(err, match, listening)) {
      const int port = std::stoi(match[1].str());
      if (port > 0 && port < 65536) return static_cast<std::uint16_t>(port);
    }
    if (!serve.running() || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// ---------------------------------------------------------------------------------------------------------

void LedgerFixture::SetUp() {
  std::string error;
  admin_ = admin_env_from_env(&error);
  ASSERT_TRUE(admin_.has_value()) << error;
  work_dir_ = make_temp_dir("ledger-it.");
  db_ = std::make_unique<TestDatabase>(*admin_);
  const RunResult migrated = db_->migrate(work_dir_);
  ASSERT_TRUE(migrated.ok()) << "carbon-ledger migrate " << migrated.describe();
  try {
    admin_key_ = create_key("test-admin", "admin");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  set_default_api_key(admin_key_);
  {
    NoteSigner signer;
    ASSERT_TRUE(generate_note_signer("carbon-ledger.test/log", &signer).ok());
    signing_key_file_ = work_dir_ + "/signing.key";
    const Status written = write_signing_key_file(signing_key_file_, signer);
    ASSERT_TRUE(written.ok()) << written.ToString();
    verifier_key_ = format_verifier_key(signer.verifier);
  }
  if (start_services_in_setup_) {
    start_serve();
    const std::string key_file = signing_key_file_;
    if (!seal_from_setup_) signing_key_file_.clear();
    start_projector();
    signing_key_file_ = key_file;
  }
}

void LedgerFixture::TearDown() {
  set_default_api_key("");
  // A service that died on its own during the test is a failure, whatever the test asserted.
  if (serve_ && !serve_->running()) {
    ADD_FAILURE() << "carbon-ledger serve died during the test: " << describe_wait_status(*serve_->exit_status());
  }
  if (projector_ && !projector_->running()) {
    ADD_FAILURE() << "carbon-ledger project died during the test: "
                  << describe_wait_status(*projector_->exit_status());
  }
  // Both stop in parallel (one SIGTERM each). Exit codes are the shutdown tests' business, but a service
  // that ignores SIGTERM for kStopTimeout is a bug wherever it shows.
  if (serve_) serve_->send_signal(SIGTERM);
  if (projector_) projector_->send_signal(SIGTERM);
  for (auto* process : {&serve_, &projector_}) {
    if (*process && !(*process)->wait_for(kStopTimeout)) {
      ADD_FAILURE() << "carbon-ledger " << (process == &serve_ ? "serve" : "project") << " still running "
                    << kStopTimeout.count() << " ms after SIGTERM; killed";
      (*process)->kill_now();
    }
  }
  if (HasFailure()) {
    for (int i = 0; i < serve_starts_; ++i) {
      print_log("serve #" + std::to_string(i), work_dir_ + "/serve" + std::to_string(i) + ".err");
    }
    for (int i = 0; i < projector_starts_; ++i) {
      print_log("project #" + std::to_string(i), work_dir_ + "/project" + std::to_string(i) + ".err");
    }
  }
  serve_.reset();
  projector_.reset();
  for (const std::string& role : login_roles_) {
    try {
      if (db_ != nullptr) {
        db_->exec_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'");
        db_->exec_admin("DROP ROLE IF EXISTS " + role);
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not drop role " << role << ": " << e.what();
    }
  }
  db_.reset();  // drops the database
  if (!work_dir_.empty() && std::getenv("LEDGER_TEST_KEEP") == nullptr) remove_tree(work_dir_);
}

std::string LedgerFixture::LoginIn(const std::string& group) {
  const std::string role = db_->name() + "_" + group;
  db_->exec_admin("CREATE ROLE " + role + " LOGIN IN ROLE " + group);
  login_roles_.push_back(role);
  return role;
}

std::string LedgerFixture::ErrorAs(const std::string& role, const std::string& sql) {
  pqxx::connection conn(role.empty() ? database_url() : role_url(role));
  pqxx::work tx(conn);
  try {
    tx.exec(sql);
    tx.commit();
    return "";
  } catch (const pqxx::sql_error& e) {
    return e.what();
  }
}

Environment LedgerFixture::ledger_env(const std::string& command) const {
  // Free ports only: a developer's `make run` may hold the defaults.
  Environment env{{"DATABASE_URL", role_url(role_for_command(command))}, {"LEDGER_HTTP_PORT", "0"},
                  {"LEDGER_PROJECTOR_METRICS_PORT", "0"}};
  if (!signing_key_file_.empty()) {
    env.emplace_back("LEDGER_SIGNING_KEY_FILE", signing_key_file_);
    env.emplace_back("LEDGER_CHECKPOINT_INTERVAL_MS", "100");
  }
  env.insert(env.end(), extra_env_.begin(), extra_env_.end());
  return env;
}

void LedgerFixture::start_serve() {
  const std::string base = work_dir_ + "/serve" + std::to_string(serve_starts_++);
  serve_ = Process::start(ledger_binary(), {"serve"}, ledger_env("serve"), base + ".out", base + ".err");
  const auto port = wait_for_listening(*serve_, kStartTimeout);
  if (!port) {
    const std::string state =
        serve_->running() ? "still running" : describe_wait_status(*serve_->exit_status());
    const std::string log = serve_->stderr_text();
    serve_->kill_now();
    serve_.reset();
    throw std::runtime_error("carbon-ledger serve did not print 'listening on http://127.0.0.1:<port>' within " +
                             std::to_string(kStartTimeout.count()) + " ms (" + state + "); stderr:\n" + log);
  }
  port_ = *port;
}

int LedgerFixture::stop_serve() {
  if (!serve_) throw std::logic_error("serve is not running");
  const int status = serve_->terminate(kStopTimeout).first;
  serve_.reset();
  return status;
}

void LedgerFixture::start_projector() {
  const std::string base = work_dir_ + "/project" + std::to_string(projector_starts_++);
  projector_ = Process::start(ledger_binary(), {"project"}, ledger_env("project"), base + ".out", base + ".err");
  // The contract has no readiness line for the projector. Its first log line (or a short bound) is taken
  // as "started", so a test that stops it right away does not race its signal handler installation.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (projector_->running() && projector_->stderr_text().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);
  }
}

int LedgerFixture::stop_projector() {
  if (!projector_) throw std::logic_error("project is not running");
  const int status = projector_->terminate(kStopTimeout).first;
  projector_.reset();
  return status;
}

void LedgerFixture::kill_projector() {
  if (!projector_) throw std::logic_error("project is not running");
  projector_->kill_now();
  projector_.reset();
}

std::string create_key_with_cli(const std::string& database_url, const std::string& work_dir,
                                const std::string& account, const std::string& role) {
  const RunResult created = run_to_completion(ledger_binary(), {"keys", "create", "--account", account, "--role", role},
                                              {{"DATABASE_URL", database_url}}, work_dir, std::chrono::seconds(60));
  if (!created.ok()) throw std::runtime_error("carbon-ledger keys create " + created.describe());
  std::string key = created.out;
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (key.rfind("clk_", 0) != 0 || key.find_first_of(" \n\t") != std::string::npos) {
    throw std::runtime_error("keys create printed more than a key on stdout: '" + created.out + "'");
  }
  return key;
}

std::string LedgerFixture::create_key(const std::string& account, const std::string& role) {
  return create_key_with_cli(role_url(kOwnerRole), work_dir_, account, role);
}

RunResult LedgerFixture::run_ledger(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                                    const Environment& extra_env) {
  Environment env{{"DATABASE_URL", role_url(role_for_command(args.empty() ? std::string() : args.front()))}};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  return run_to_completion(ledger_binary(), args, env, work_dir_, timeout);
}

HttpResponse LedgerFixture::http(std::string_view method, std::string_view target, std::string_view body,
                                 const Headers& headers) {
  return http_request(port_, method, target, body, headers);
}

HttpResponse LedgerFixture::register_credit(const CreditSpec& spec) {
  return http("POST", "/register", spec.to_json());
}

std::string LedgerFixture::register_new(const std::string& serial_number) {
  CreditSpec spec;
  spec.serial_number = serial_number;
  const HttpResponse response = register_credit(spec);
  if (response.status != 201) {
    throw std::runtime_error("registering " + serial_number + " answered " + std::to_string(response.status) +
                             ", expected 201: " + response.body);
  }
  const std::string id = string_member(parse_json(response.body), "id");
  if (id.empty()) throw std::runtime_error("register response has no id: " + response.body);
  return id;
}

HttpResponse LedgerFixture::sell(const std::string& id, const std::string& buyer, const Headers& headers) {
  ensure_account(buyer);
  return http("POST", "/records/" + id + "/sell", json_object({{"buyer", json_string(buyer)}}), headers);
}

namespace {
// An SQL string literal (standard_conforming_strings is on in PostgreSQL 15).
std::string quote_literal(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return quoted + "'";
}
}  // namespace

void LedgerFixture::bind_registry(const std::string& account, const std::string& registry) {
  const RunResult bound = run_ledger({"registries", "bind", "--account", account, "--registry", registry});
  if (!bound.ok()) throw std::runtime_error("registries bind failed: " + bound.describe());
}

std::string LedgerFixture::create_issuer_key(const std::string& account, const std::vector<std::string>& registries) {
  const std::string key = create_key(account, "issuer");
  for (const std::string& registry : registries) bind_registry(account, registry);
  return key;
}

void LedgerFixture::ensure_account(const std::string& account) {
  if (account.empty() || account.size() > 200 || !known_accounts_.insert(account).second) return;
  // A key nobody can use (its secret is random and unknown): the account exists, as a buyer must.
  exec_sql("INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256) VALUES ("
           "substr(md5(random()::text), 1, 16), 'created', " + quote_literal(account) +
           ", 'holder', sha256(random()::text::bytea))");
}

HttpResponse LedgerFixture::retire(const std::string& id, std::string_view body, const Headers& headers) {
  return http("POST", "/records/" + id + "/retire", body, headers);
}

HttpResponse LedgerFixture::get_record_eventually(const std::string& id, std::int64_t min_version,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    HttpResponse response = http("GET", "/records/" + id);
    if (response.status == 200) {
      try {
        const auto doc = parse_json(response.body);
        if (has_int_member(doc, "version") && int_member(doc, "version") >= min_version) return response;
      } catch (const std::exception&) {
        return response;  // the caller's checks will say what is wrong with it
      }
    } else if (response.status != 404) {
      return response;
    }
    if (std::chrono::steady_clock::now() >= deadline) return response;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string LedgerFixture::query_scalar(const std::string& sql) const {
  return ledger::test::query_scalar(database_url(), sql);
}

std::int64_t LedgerFixture::query_int(const std::string& sql) const {
  return ledger::test::query_int(database_url(), sql);
}

void LedgerFixture::exec_sql(const std::string& sql) const { ledger::test::exec_sql(database_url(), sql); }

void LedgerFixture::install_die_at_commit_trigger(const std::string& project_name) const {
  std::string literal = "'";  // an SQL string literal: quotes doubled
  for (char c : project_name) literal += c == '\'' ? std::string("''") : std::string(1, c);
  literal += "'";
  exec_sql(R"sql(
    CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data->>'project_name' = )sql" + literal + R"sql( THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(5);
      END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON events
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit();
  )sql");
}

std::int64_t LedgerFixture::count_events() const {
  return query_int("SELECT count(*) FROM events WHERE " + kCreditEventsOnly);
}

std::int64_t LedgerFixture::count_events(const std::string& stream_id, const std::string& event_type) const {
  // Both values come from the tests themselves (UUIDs and fixed type names), never from the product.
  return query_int("SELECT count(*) FROM events WHERE stream_id = '" + stream_id + "'::uuid AND event_type = '" +
                   event_type + "'");
}

std::int64_t LedgerFixture::events_applied() const {
  return query_int("SELECT events_applied FROM projection_checkpoints WHERE projection_name = 'credit_records'");
}

std::int64_t LedgerFixture::divergent_streams() const {
  return query_int(R"(
      SELECT count(*)
      FROM (SELECT stream_id, max(stream_version) AS version, count(*) AS events FROM events
             WHERE )" + kCreditEventsOnly + R"( GROUP BY stream_id) e
      LEFT JOIN credit_records c ON c.id = e.stream_id
      WHERE c.id IS NULL OR c.version <> e.version OR c.version <> e.events
         OR (SELECT count(*) FROM credit_history h WHERE h.credit_id = c.id) <> c.version)");
}

std::int64_t LedgerFixture::count_log_events() const { return query_int("SELECT count(*) FROM events"); }

bool LedgerFixture::wait_until_sealed(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::int64_t events = count_log_events();
    if (query_int("SELECT count(*) FROM log_leaves") == events &&
        query_int("SELECT coalesce(max(tree_size), 0) FROM log_checkpoints") == events) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool LedgerFixture::wait_until_projected(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (events_applied() >= count_events()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace ledger::test
