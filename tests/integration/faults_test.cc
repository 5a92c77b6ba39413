// Fault injection against the real binaries: PostgreSQL stopped and restarted under load (on a PRIVATE
// cluster: the shared test cluster is never stopped), kill -9 of serve and of the projector under load, every
// session of the test database terminated, and a connection lost during COMMIT.
//
// The rules checked throughout: every acknowledged (2xx) command is in the log exactly once; no command
// answered 503 is in it (README: "A 503 means nothing was written: re-sending the command is safe"); no
// request hangs; the services recover by themselves. Every request carries a unique X-Request-Id, which the
// server records in the metadata of the events it appends, so each event in the log is tied to exactly one
// HTTP attempt.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Client-side bound on every request: a server that does not answer within it has hung.
constexpr std::chrono::milliseconds kClientTimeout{15000};
// How long the service may take to serve a command again once PostgreSQL accepts connections.
constexpr std::chrono::milliseconds kRecoveryBound{5000};
// Failures listed one by one at most; the rest are counted.
constexpr int kMaxListedFailures = 15;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

bool is_2xx(int status) { return status >= 200 && status < 300; }

std::string clip(const std::string& text, std::size_t max = 300) {
  return text.size() <= max ? text : text.substr(0, max) + "...";
}

std::string trim_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 20ms) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// ---------------------------------------------------------------------------------------------------------
// A private PostgreSQL cluster (scripts/pg-cluster.sh), stopped and deleted when the object goes, also when
// the test fails.

// The repository root: from this file's path (tests/integration/faults_test.cc), else from the binary's
// path (<root>/<build dir>/carbon-ledger). Empty when neither holds scripts/pg-cluster.sh.
fs::path repo_root() {
  std::vector<fs::path> candidates;
  const fs::path file(__FILE__);
  if (file.is_absolute()) candidates.push_back(file.parent_path().parent_path().parent_path());
  candidates.push_back(fs::path(ledger_binary()).parent_path().parent_path());
  for (const fs::path& candidate : candidates) {
    std::error_code ignored;
    if (fs::exists(candidate / "scripts" / "pg-cluster.sh", ignored)) return candidate;
  }
  return {};
}

// Under /tmp whatever $TMPDIR says: the socket path (<dir>/pg/socket/.s.PGSQL.<port>) must stay short.
std::string make_short_temp_dir() {
  std::string pattern = "/tmp/ledger-faults.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
  return pattern;
}

class PrivateCluster {
 public:
  PrivateCluster() : root_(repo_root()), dir_(make_short_temp_dir()), data_dir_(dir_ + "/pg") {
    // When we are root the script runs PostgreSQL as user postgres, which must be able to traverse this.
    ::chmod(dir_.c_str(), 0755);
  }
  ~PrivateCluster() {
    if (started_once_) {
      const RunResult stopped = script({"stop", data_dir_});
      if (!stopped.ok()) {
        std::cerr << "faults_test: could not stop the private cluster in " << data_dir_ << ": "
                  << stopped.describe() << "\n";
      }
    }
    if (std::getenv("LEDGER_TEST_KEEP") == nullptr) remove_tree(dir_);
  }
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  // Initialises (first time) and starts the cluster; returns once it accepts connections.
  ::testing::AssertionResult start() {
    if (root_.empty()) {
      return ::testing::AssertionFailure() << "scripts/pg-cluster.sh not found (looked above " << __FILE__
                                           << " and above " << ledger_binary() << ")";
    }
    started_once_ = true;
    // --fast: no fsync. A fast shutdown still writes everything committed (shutdown checkpoint), so the
    // durability of acknowledged commands across the restart is still tested.
    const RunResult started = script({"start", data_dir_, "--fast"});
    if (!started.ok()) {
      return ::testing::AssertionFailure() << "pg-cluster.sh start " << started.describe() << "\npostgres.log:\n"
                                           << log_tail();
    }
    return ::testing::AssertionSuccess();
  }

  // Fast shutdown; returns once PostgreSQL is down.
  ::testing::AssertionResult stop() {
    const RunResult stopped = script({"stop", data_dir_});
    if (!stopped.ok()) return ::testing::AssertionFailure() << "pg-cluster.sh stop " << stopped.describe();
    return ::testing::AssertionSuccess();
  }

  // As the superuser by default; as `role` for a carbon-ledger process (role_for_command).
  std::string url(const std::string& dbname = "ledger", const std::string& role = "") const {
    std::vector<std::string> args{"url", data_dir_, dbname};
    if (!role.empty()) args.push_back(role);
    const RunResult url = script(args);
    if (!url.ok()) throw std::runtime_error("pg-cluster.sh url " + url.describe());
    return trim_line(url.out);
  }

  const std::string& dir() const { return dir_; }
  std::string log_tail() const { return tail_of_file(data_dir_ + "/postgres.log", 30); }

 private:
  RunResult script(std::vector<std::string> args) const {
    args.insert(args.begin(), (root_ / "scripts" / "pg-cluster.sh").string());
    return run_to_completion("/bin/bash", args, {}, dir_, std::chrono::seconds(150));
  }

  fs::path root_;
  std::string dir_;
  std::string data_dir_;
  bool started_once_ = false;
};

// serve and project as child processes on a given database (the private cluster's), each as its role.
class Services {
 public:
  Services(std::string database_url, std::string work_dir)
      : database_url_(std::move(database_url)), work_dir_(std::move(work_dir)) {}

  static std::string as(const std::string& url, const char* command) {
    return conninfo_as(url, role_for_command(command));
  }
  ~Services() {
    for (auto* process : {&serve_, &projector_}) {
      if (*process) (*process)->send_signal(SIGTERM);
    }
    for (auto* process : {&serve_, &projector_}) {
      if (*process && !(*process)->wait_for(kStopTimeout)) (*process)->kill_now();
    }
  }

  void start_serve() {
    const std::string base = work_dir_ + "/serve" + std::to_string(serve_starts_++);
    serve_ = Process::start(ledger_binary(), {"serve"}, {{"DATABASE_URL", as(database_url_, "serve")}, {"LEDGER_HTTP_PORT", "0"}},
                            base + ".out", base + ".err");
    const auto port = wait_for_listening(*serve_, kStartTimeout);
    if (!port) throw std::runtime_error("carbon-ledger serve did not start; stderr:\n" + serve_->stderr_text());
    port_ = *port;
  }

  void start_projector() {
    const std::string base = work_dir_ + "/project" + std::to_string(projector_starts_++);
    projector_ = Process::start(ledger_binary(), {"project"}, {{"DATABASE_URL", as(database_url_, "project")}}, base + ".out",
                                base + ".err");
    wait_until([&] { return !projector_->running() || !projector_->stderr_text().empty(); }, 5s);
  }

  Process& serve() { return *serve_; }
  Process& projector() { return *projector_; }
  std::uint16_t port() const { return port_; }

  std::string logs() const {
    std::string text;
    if (serve_) text += "---- serve stderr, last lines:\n" + tail_of_file(serve_->stderr_path());
    if (projector_) text += "---- project stderr, last lines:\n" + tail_of_file(projector_->stderr_path());
    return text;
  }

 private:
  std::string database_url_;
  std::string work_dir_;
  std::unique_ptr<Process> serve_;
  std::unique_ptr<Process> projector_;
  std::uint16_t port_ = 0;
  int serve_starts_ = 0;
  int projector_starts_ = 0;
};

// ---------------------------------------------------------------------------------------------------------
// Load: client threads, one keep-alive connection each, sending commands until stopped and recording every
// attempt. Registrations use unique serial numbers; with `lifecycle`, every third command sells one of the
// thread's own credits and every third retires one it sold. A command answered 503 stays due: a refused sell
// or retire is sent again later (new request id), and so is a refused registration once the service answers
// again (same serial): if the 503 was untrue, the re-sent command shows it (409, or 200 "already registered").

enum class Op { kRegister, kSell, kRetire };

const char* op_name(Op op) {
  switch (op) {
    case Op::kRegister: return "register";
    case Op::kSell: return "sell";
    case Op::kRetire: return "retire";
  }
  return "?";
}

const char* event_type_of(Op op) {
  switch (op) {
    case Op::kRegister: return "CREATED";
    case Op::kSell: return "SOLD";
    case Op::kRetire: return "RETIRED";
  }
  return "?";
}

struct Attempt {
  Op op = Op::kRegister;
  std::string request_id;  // unique; recorded by the server in the event's metadata
  std::string credit_id;
  std::string serial;      // registrations
  int status = 0;          // 0: no (complete) response
  bool retry_after = false;
  bool problem_ok = false;  // for 503: a well-formed application/problem+json body
  std::string error;        // why there was no response
  std::string body;         // non-2xx bodies (clipped)
  std::string note;         // anything wrong with a 2xx response itself
  Clock::time_point sent{};
  Clock::time_point received{};

  std::string describe() const {
    std::string text = std::string(op_name(op)) + " request_id=" + request_id + " credit=" + credit_id;
    if (status == 0) return text + ": no response: " + error;
    text += ": HTTP " + std::to_string(status) + " after " + std::to_string(static_cast<int>(ms_between(sent, received))) + " ms";
    if (!body.empty()) text += " " + body;
    return text;
  }
};

// Every sale of the load is to this account (a buyer must be a known account; the fixture makes it one).
// Which request a SOLD event answers is told by its metadata's request_id.
constexpr const char* kFaultBuyer = "fault-buyer";

struct LoadOptions {
  std::string prefix;  // of request ids and serial numbers; letters and digits
  int threads = 8;
  bool lifecycle = true;
  std::chrono::milliseconds backoff_after_refusal{50};  // after a 503 or a client error
  int first_thread_number = 0;  // in request ids, so two loads with one prefix never share an id
};

class Load {
 public:
  Load(std::uint16_t port, LoadOptions options) : port_(port), options_(std::move(options)) {
    per_thread_.resize(static_cast<std::size_t>(options_.threads));
    for (int t = 0; t < options_.threads; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Load() { stop_and_join(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void stop_and_join() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  int acknowledged() const { return acknowledged_.load(); }

  // Every attempt of every thread; call after stop_and_join.
  std::vector<Attempt> attempts() const {
    std::vector<Attempt> all;
    for (const auto& list : per_thread_) all.insert(all.end(), list.begin(), list.end());
    return all;
  }

 private:
  void run(int t) {
    std::vector<Attempt>& attempts = per_thread_[static_cast<std::size_t>(t)];
    std::unique_ptr<HttpConnection> connection;
    std::deque<std::string> created;          // this thread's credits answered 201, not yet sold
    std::deque<std::string> sold;             // sold, not yet retired
    std::deque<std::string> refused_serials;  // registrations answered 503, to re-send
    bool last_ok = true;
    for (int seq = 0; !stop_.load(); ++seq) {
      Attempt a;
      a.request_id =
          options_.prefix + "-" + std::to_string(options_.first_thread_number + t) + "-" + std::to_string(seq);
      std::string target;
      std::string body;
      if (options_.lifecycle && seq % 3 == 2 && !sold.empty()) {
        a.op = Op::kRetire;
        a.credit_id = sold.front();
        target = "/records/" + a.credit_id + "/retire";
        body = json_object({{"beneficiary", json_string(a.request_id)}, {"reason", json_string("fault test")}});
      } else if (options_.lifecycle && seq % 3 == 1 && !created.empty()) {
        a.op = Op::kSell;
        a.credit_id = created.front();
        target = "/records/" + a.credit_id + "/sell";
        body = json_object({{"buyer", json_string(kFaultBuyer)}});
      } else {
        a.op = Op::kRegister;
        if (last_ok && !refused_serials.empty()) {
          a.serial = refused_serials.front();
          refused_serials.pop_front();
        } else {
          a.serial = a.request_id;
        }
        CreditSpec spec;
        spec.project_name = "Fault test " + options_.prefix;
        spec.serial_number = a.serial;
        a.credit_id = ledger::credit_id(spec.registry, spec.serial_number);
        target = "/register";
        body = spec.to_json();
      }

      a.sent = Clock::now();
      try {
        if (!connection) connection = std::make_unique<HttpConnection>(port_, kClientTimeout);
        const HttpResponse r = connection->request("POST", target, body, {{"X-Request-Id", a.request_id}});
        a.received = Clock::now();
        a.status = r.status;
        a.retry_after = r.has_header("Retry-After");
        if (!is_2xx(r.status)) a.body = clip(r.body);
        if (r.status == 503) a.problem_ok = static_cast<bool>(IsProblem(r, 503));
        if (is_2xx(r.status)) {
          std::string id;
          try {
            id = string_member(parse_json(r.body), "id");
          } catch (const std::exception& e) {
            a.note = e.what();
          }
          if (a.note.empty() && id != a.credit_id) a.note = "response id " + id + " is not the credit's: " + clip(r.body);
        }
        if (lower(r.header("Connection").value_or("")) == "close") connection.reset();
      } catch (const std::exception& e) {
        a.received = Clock::now();
        a.error = e.what();
        connection.reset();
      }

      switch (a.op) {
        case Op::kRegister:
          if (a.status == 201) created.push_back(a.credit_id);
          if (a.status == 503) refused_serials.push_back(a.serial);
          break;
        case Op::kSell:
          if (a.status == 200) sold.push_back(a.credit_id);
          if (a.status != 503) created.pop_front();  // done, refused for good, or unknown: leave it
          break;
        case Op::kRetire:
          if (a.status != 503) sold.pop_front();
          break;
      }
      last_ok = is_2xx(a.status);
      if (last_ok) acknowledged_++;
      const bool back_off = a.status == 503 || a.status == 0;
      attempts.push_back(std::move(a));
      if (back_off && !stop_.load()) std::this_thread::sleep_for(options_.backoff_after_refusal);
    }
  }

  const std::uint16_t port_;
  const LoadOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> acknowledged_{0};
  std::vector<std::vector<Attempt>> per_thread_;
  std::vector<std::thread> threads_;
};

// Polls GET /healthz on its own connection.
struct HealthSample {
  int status = 0;
  bool retry_after = false;
  bool problem_ok = false;
  std::string error;
  Clock::time_point sent{};
  Clock::time_point received{};
};

class HealthPoller {
 public:
  HealthPoller(std::uint16_t port, std::chrono::milliseconds interval) {
    thread_ = std::thread([this, port, interval] {
      std::unique_ptr<HttpConnection> connection;
      while (!stop_.load()) {
        HealthSample s;
        s.sent = Clock::now();
        try {
          if (!connection) connection = std::make_unique<HttpConnection>(port, kClientTimeout);
          const HttpResponse r = connection->request("GET", "/healthz");
          s.status = r.status;
          s.retry_after = r.has_header("Retry-After");
          if (r.status == 503) s.problem_ok = static_cast<bool>(IsProblem(r, 503));
          if (lower(r.header("Connection").value_or("")) == "close") connection.reset();
        } catch (const std::exception& e) {
          s.error = e.what();
          connection.reset();
        }
        s.received = Clock::now();
        samples_.push_back(s);
        std::this_thread::sleep_for(interval);
      }
    });
  }
  ~HealthPoller() { stop_and_join(); }
  void stop_and_join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<HealthSample>& samples() const { return samples_; }  // after stop_and_join

 private:
  std::atomic<bool> stop_{false};
  std::vector<HealthSample> samples_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------------------
// The log against the attempts.

struct LoggedEvent {
  std::string request_id;
  std::string type;
  std::string stream_id;
  std::string serial;
  std::string buyer;
  std::string beneficiary;
};

std::vector<LoggedEvent> read_log(const std::string& url) {
  pqxx::connection connection(url);
  pqxx::read_transaction tx(connection);
  const pqxx::result rows = tx.exec(
      "SELECT coalesce(metadata->>'request_id', ''), event_type, stream_id::text, "
      "coalesce(data->>'serial_number', ''), coalesce(data->>'buyer', ''), coalesce(data->>'beneficiary', '') "
      "FROM events ORDER BY position");
  std::vector<LoggedEvent> events;
  for (const auto& row : rows) {
    events.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                      row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>()});
  }
  return events;
}

struct LogCheck {
  int attempts = 0;
  int acknowledged = 0;        // 2xx
  int acknowledged_found = 0;  // ... whose event is in the log, exactly once and right
  int refused = 0;             // 503
  int refused_found = 0;       // ... whose event is in the log anyway (a 503 that was not true)
  int other_status = 0;        // neither 2xx nor 503
  int unanswered = 0;          // client errors
  int unanswered_found = 0;    // ... whose event is in the log (committed, never acknowledged)
  int events_of_load = 0;      // events whose request id has the load's prefix
  std::set<std::string> found_request_ids;
  std::vector<std::string> problems;

  std::string summary() const {
    std::ostringstream out;
    out << attempts << " commands: " << acknowledged << " acknowledged (" << acknowledged_found
        << " found in the log), " << refused << " answered 503 (" << refused_found << " of them in the log), "
        << other_status << " other statuses, " << unanswered << " unanswered (" << unanswered_found
        << " of them in the log); " << events_of_load << " events in the log";
    return out.str();
  }
};

LogCheck check_log(const std::vector<Attempt>& attempts, const std::string& url, const std::string& prefix) {
  LogCheck check;
  std::map<std::string, std::vector<LoggedEvent>> by_request;
  for (LoggedEvent& e : read_log(url)) {
    if (e.request_id.rfind(prefix + "-", 0) != 0) continue;
    check.events_of_load++;
    by_request[e.request_id].push_back(std::move(e));
  }
  std::set<std::string> attempted;
  for (const Attempt& a : attempts) {
    check.attempts++;
    attempted.insert(a.request_id);
    const auto it = by_request.find(a.request_id);
    const std::vector<LoggedEvent> none;
    const std::vector<LoggedEvent>& events = it == by_request.end() ? none : it->second;
    if (!events.empty()) check.found_request_ids.insert(a.request_id);

    // An event of this attempt: one only, of the command's type, on its credit, with its data.
    auto event_is_right = [&](std::string* why) {
      if (events.size() != 1) {
        *why = std::to_string(events.size()) + " events carry its request id";
        return false;
      }
      const LoggedEvent& e = events.front();
      if (e.type != event_type_of(a.op)) *why = "its event is " + e.type;
      else if (e.stream_id != a.credit_id) *why = "its event is on stream " + e.stream_id;
      else if (a.op == Op::kRegister && e.serial != a.serial) *why = "its event has serial " + e.serial;
      else if (a.op == Op::kSell && e.buyer != kFaultBuyer) *why = "its event has buyer " + e.buyer;
      else if (a.op == Op::kRetire && e.beneficiary != a.request_id) *why = "its event has beneficiary " + e.beneficiary;
      return why->empty();
    };

    std::string why;
    if (a.status == 0) {
      check.unanswered++;
      if (!events.empty()) {
        check.unanswered_found++;
        if (!event_is_right(&why)) check.problems.push_back(a.describe() + ": " + why);
      }
    } else if (is_2xx(a.status)) {
      check.acknowledged++;
      if (!a.note.empty()) check.problems.push_back(a.describe() + ": " + a.note);
      if (a.op == Op::kRegister && a.status == 200) {
        check.problems.push_back(a.describe() +
                                 ": answered 200 (already registered) for a serial number that every earlier "
                                 "attempt got 503 for: one of those 503s was not true (its registration was written)");
      } else if (event_is_right(&why)) {
        check.acknowledged_found++;
      } else {
        check.problems.push_back("acknowledged but not in the log exactly once: " + a.describe() + ": " + why);
      }
    } else if (a.status == 503) {
      check.refused++;
      if (!events.empty()) {
        check.refused_found++;
        check.problems.push_back("answered 503 (\"nothing was written\") but its event is in the log: " +
                                 a.describe());
      }
    } else {
      check.other_status++;
      if (!events.empty()) check.problems.push_back("refused but its event is in the log: " + a.describe());
    }
  }
  for (const auto& [request_id, events] : by_request) {
    if (attempted.count(request_id) == 0) {
      check.problems.push_back(std::to_string(events.size()) + " event(s) with request id " + request_id +
                               ", which no client sent");
    }
  }
  return check;
}

void report_problems(const std::vector<std::string>& problems) {
  int listed = 0;
  for (const std::string& p : problems) {
    if (listed++ < kMaxListedFailures) ADD_FAILURE() << p;
  }
  if (listed > kMaxListedFailures) ADD_FAILURE() << (listed - kMaxListedFailures) << " more such failures";
}

std::int64_t divergent_streams(const std::string& url) {
  return query_int(url, R"(
      SELECT count(*)
      FROM (SELECT stream_id, max(stream_version) AS version, count(*) AS events FROM events
             WHERE )" + kCreditEventsOnly + R"( GROUP BY stream_id) e
      LEFT JOIN credit_records c ON c.id = e.stream_id
      WHERE c.id IS NULL OR c.version <> e.version OR c.version <> e.events
         OR (SELECT count(*) FROM credit_history h WHERE h.credit_id = c.id) <> c.version)");
}

// Records whose status is not the type of their stream's last event.
std::int64_t records_with_wrong_status(const std::string& url) {
  return query_int(url, R"(
      SELECT count(*)
      FROM (SELECT DISTINCT ON (stream_id) stream_id, event_type FROM events
            ORDER BY stream_id, stream_version DESC) last
      JOIN credit_records c ON c.id = last.stream_id
      WHERE c.status <> last.event_type)");
}

std::int64_t events_applied(const std::string& url) {
  return query_int(url,
                   "SELECT events_applied FROM projection_checkpoints WHERE projection_name = 'credit_records'");
}

// Credit events: what events_applied counts (the access stream's key events are passed over).
std::int64_t count_events(const std::string& url) {
  return query_int(url, "SELECT count(*) FROM events WHERE " + kCreditEventsOnly);
}

// Polls GET /records/{id} until 200 with version >= min_version; 404 (not projected yet), 503 (a session
// being replaced) and client errors are waited out. Returns the last response (status 0: none).
HttpResponse get_until_version(std::uint16_t port, const std::string& id, std::int64_t min_version,
                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse last;
  while (true) {
    try {
      last = http_request(port, "GET", "/records/" + id, {}, {}, kClientTimeout);
      if (last.status == 200) {
        const auto doc = parse_json(last.body);
        if (has_int_member(doc, "version") && int_member(doc, "version") >= min_version) return last;
      } else if (last.status != 404 && last.status != 503) {
        return last;
      }
    } catch (const std::exception& e) {
      last = HttpResponse{};
      last.body = e.what();
    }
    if (Clock::now() >= deadline) return last;
    std::this_thread::sleep_for(25ms);
  }
}

// POST, re-sent while the answer is 503 (which says re-sending is safe), up to `timeout`.
struct Resent {
  HttpResponse response;
  int refusals = 0;
};

Resent post_until_not_503(std::uint16_t port, const std::string& target, const std::string& body,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Resent result;
  while (true) {
    result.response = http_request(port, "POST", target, body, {}, kClientTimeout);
    if (result.response.status != 503 || Clock::now() >= deadline) return result;
    result.refusals++;
    std::this_thread::sleep_for(50ms);
  }
}

// Polls GET /healthz until 200, up to `timeout`; counts the 503s seen on the way.
bool health_ok_within(std::uint16_t port, std::chrono::milliseconds timeout, int* refusals) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const int status = http_request(port, "GET", "/healthz", {}, {}, kClientTimeout).status;
    if (status == 200) return true;
    if (status == 503) ++*refusals;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(25ms);
  }
}

// The read model as text, one row per credit, ordered by id.
std::vector<std::string> read_model_rows(const std::string& url) {
  pqxx::connection connection(url);
  pqxx::read_transaction tx(connection);
  std::vector<std::string> rows;
  for (const auto& row : tx.exec("SELECT t::text FROM credit_records t ORDER BY id")) {
    rows.push_back(row[0].as<std::string>());
  }
  return rows;
}

::testing::AssertionResult SameRows(const std::vector<std::string>& expected, const std::vector<std::string>& actual) {
  for (std::size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    if (expected[i] != actual[i]) {
      return ::testing::AssertionFailure() << "row " << i << " differs:\n  projected: " << expected[i]
                                           << "\n  rebuilt:   " << actual[i];
    }
  }
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << expected.size() << " rows projected, " << actual.size() << " rebuilt";
  }
  return ::testing::AssertionSuccess();
}

// Terminates every other client session of the database; returns their pids.
std::vector<int> terminate_other_sessions(const std::string& url) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  const pqxx::result rows = tx.exec(
      "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
  std::vector<int> pids;
  for (const auto& row : rows) {
    if (row[1].as<bool>()) pids.push_back(row[0].as<int>());
  }
  return pids;
}

std::string pid_array(const std::vector<int>& pids) {
  std::string text = "'{";
  for (std::size_t i = 0; i < pids.size(); ++i) text += (i ? "," : "") + std::to_string(pids[i]);
  return text + "}'::int[]";
}

std::int64_t sessions_alive(const std::string& url, const std::vector<int>& pids) {
  return query_int(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(" + pid_array(pids) + ")");
}

std::int64_t other_sessions(const std::string& url) {
  return query_int(url,
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
}

// =========================================================================================================
// 1. PostgreSQL stopped and restarted while clients send commands (private cluster).

TEST(FaultsPostgresRestart, OutageAnswers503AndServiceRecoversWithEveryAcknowledgedCommandLoggedOnce) {
  PrivateCluster cluster;
  ASSERT_TRUE(cluster.start());
  const std::string url = cluster.url();
  const RunResult migrated =
      run_to_completion(ledger_binary(), {"migrate"}, {{"DATABASE_URL", conninfo_as(url, kOwnerRole)}}, cluster.dir(), 60s);
  ASSERT_TRUE(migrated.ok()) << "carbon-ledger migrate " << migrated.describe();
  try {
    set_default_api_key(create_key_with_cli(conninfo_as(url, kOwnerRole), cluster.dir(), "fault-admin", "admin"));
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  struct ForgetKey {
    ~ForgetKey() { set_default_api_key(""); }
  } forget_key;

  Services services(url, cluster.dir());
  try {
    services.start_serve();
    services.start_projector();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const std::uint16_t port = services.port();
  ASSERT_EQ(http_request(port, "GET", "/healthz").status, 200);

  try {
    create_key_with_cli(conninfo_as(url, kOwnerRole), cluster.dir(), kFaultBuyer, "holder");  // a known buyer
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Load load(port, {"PGR", 8, /*lifecycle=*/true});
  HealthPoller health(port, 100ms);
  wait_until([&] { return load.acknowledged() >= 150; }, 10s);
  ASSERT_GT(load.acknowledged(), 0) << "no command succeeded before the outage\n" << services.logs();

  const auto t_stop_begin = Clock::now();
  ASSERT_TRUE(cluster.stop());
  const auto t_down = Clock::now();  // PostgreSQL is down from here
  // Clients that start during the outage: the load's clients may all be waiting on commits in doubt (the
  // truth about those needs PostgreSQL back), but a new command must still be answered 503 at once.
  Load outage_load(port, LoadOptions{"PGR", 2, /*lifecycle=*/false, 50ms, /*first_thread_number=*/8});
  std::this_thread::sleep_for(3s);
  outage_load.stop_and_join();
  const auto t_start_begin = Clock::now();  // ... until at least here
  // When PostgreSQL accepts connections again, to within ~20 ms: a session opened as often as possible.
  std::atomic<bool> accepting{false};
  std::atomic<bool> stop_probing{false};
  Clock::time_point t_accepting{};
  std::thread probe([&] {
    while (!stop_probing.load()) {
      try {
        pqxx::connection connection(url);
        t_accepting = Clock::now();
        accepting = true;
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(20ms);
      }
    }
  });
  const ::testing::AssertionResult started = cluster.start();
  wait_until([&] { return accepting.load(); }, 10s);
  stop_probing = true;
  probe.join();
  ASSERT_TRUE(started);
  ASSERT_TRUE(accepting.load()) << "PostgreSQL was started but accepted no session within 10 s";
  const auto t_up = t_accepting;  // PostgreSQL accepts connections again
  const auto t_script_done = Clock::now();
  std::this_thread::sleep_for(6s);
  load.stop_and_join();
  health.stop_and_join();
  const auto t_end = Clock::now();

  std::vector<Attempt> attempts = load.attempts();
  for (const Attempt& a : outage_load.attempts()) attempts.push_back(a);
  std::vector<std::string> failures;

  // No request hung or failed at the HTTP level; every answer is 2xx or 503.
  int unanswered = 0;
  double max_latency_ms = 0;
  for (const Attempt& a : attempts) {
    max_latency_ms = std::max(max_latency_ms, ms_between(a.sent, a.received));
    if (a.status == 0) {
      unanswered++;
      failures.push_back("no answer within the client timeout (or the connection broke): " + a.describe());
    } else if (!is_2xx(a.status) && a.status != 503) {
      failures.push_back("neither 2xx nor 503: " + a.describe());
    } else if (a.status == 503 && (!a.retry_after || !a.problem_ok)) {
      failures.push_back("a 503 without Retry-After or without a problem body: " + a.describe());
    }
  }

  // While PostgreSQL was down, every command was answered 503.
  int outage_commands = 0;
  int outage_503 = 0;
  int total_503 = 0;
  for (const Attempt& a : attempts) {
    if (a.status == 503) total_503++;
    if (a.sent < t_down || a.received > t_start_begin) continue;
    outage_commands++;
    if (a.status == 503) outage_503++;
    else failures.push_back("while PostgreSQL was down: " + a.describe());
  }

  // Recovery: the first command acknowledged after PostgreSQL was started again.
  std::optional<Clock::time_point> first_success;
  for (const Attempt& a : attempts) {
    if (is_2xx(a.status) && a.received > t_start_begin && (!first_success || a.received < *first_success)) {
      first_success = a.received;
    }
  }
  const double recovery_ms = first_success ? std::max(0.0, ms_between(t_up, *first_success)) : -1;

  // /healthz: 503 with Retry-After while down, 200 again within the bound.
  int health_outage = 0;
  int health_outage_503 = 0;
  std::optional<Clock::time_point> health_back;
  for (const HealthSample& s : health.samples()) {
    if (!s.error.empty()) failures.push_back("GET /healthz got no answer: " + s.error);
    if (s.sent >= t_down && s.received <= t_start_begin) {
      health_outage++;
      if (s.status == 503 && s.retry_after && s.problem_ok) health_outage_503++;
      else failures.push_back("GET /healthz while PostgreSQL was down answered " + std::to_string(s.status) +
                              (s.retry_after ? "" : " without Retry-After"));
    }
    if (s.status == 200 && s.received > t_start_begin && !health_back) health_back = s.received;
  }
  const double health_recovery_ms = health_back ? std::max(0.0, ms_between(t_up, *health_back)) : -1;

  // For the report: answers that took long (e.g. a commit in doubt, resolved once PostgreSQL was back) and
  // 503s that say the connection was lost during COMMIT.
  std::string slow;
  int lost_during_commit = 0;
  for (const Attempt& a : attempts) {
    if (contains(a.body, "during commit")) lost_during_commit++;
    if (ms_between(a.sent, a.received) > 1000 && slow.size() < 2000) {
      slow += "\n    sent " + std::to_string(static_cast<int>(ms_between(t_stop_begin, a.sent))) +
              " ms after the stop began: " + a.describe();
    }
  }

  // The log: every acknowledged command exactly once, nothing of any 503.
  const LogCheck check = check_log(attempts, url, "PGR");
  std::cout << "[ FAULTS   ] PostgreSQL restart: " << check.summary() << "; " << outage_commands
            << " commands while down (" << outage_503 << " answered 503), " << total_503
            << " 503s in all; stop took " << static_cast<int>(ms_between(t_stop_begin, t_down))
            << " ms, start " << static_cast<int>(ms_between(t_start_begin, t_up)) << " ms (script "
            << static_cast<int>(ms_between(t_start_begin, t_script_done)) << " ms); first command acknowledged "
            << static_cast<int>(recovery_ms) << " ms after PostgreSQL was up, /healthz 200 after "
            << static_cast<int>(health_recovery_ms) << " ms; " << health_outage << " health checks while down ("
            << health_outage_503 << " x 503); slowest answer " << static_cast<int>(max_latency_ms) << " ms; run "
            << static_cast<int>(ms_between(t_stop_begin, t_end)) << " ms from stop to end; " << lost_during_commit
            << " x 503 \"lost during commit\"" << (slow.empty() ? "" : "; answers slower than 1 s:") << slow << "\n";
  ::testing::Test::RecordProperty("acknowledged", check.acknowledged);
  ::testing::Test::RecordProperty("acknowledged_found", check.acknowledged_found);
  ::testing::Test::RecordProperty("answered_503", check.refused);
  ::testing::Test::RecordProperty("answered_503_found", check.refused_found);
  ::testing::Test::RecordProperty("outage_commands", outage_commands);
  ::testing::Test::RecordProperty("recovery_ms", static_cast<int>(recovery_ms));
  ::testing::Test::RecordProperty("healthz_recovery_ms", static_cast<int>(health_recovery_ms));

  report_problems(failures);
  report_problems(check.problems);
  EXPECT_EQ(unanswered, 0);
  EXPECT_GT(outage_commands, 0) << "no command was sent and answered entirely while PostgreSQL was down";
  EXPECT_EQ(outage_503, outage_commands);
  ASSERT_TRUE(first_success.has_value()) << "no command succeeded after PostgreSQL came back\n" << services.logs();
  EXPECT_LE(recovery_ms, static_cast<double>(kRecoveryBound.count()))
      << "the first command succeeded " << recovery_ms << " ms after PostgreSQL accepted connections again";
  EXPECT_GT(health_outage, 0);
  EXPECT_EQ(health_outage_503, health_outage);
  ASSERT_TRUE(health_back.has_value()) << "/healthz never answered 200 after the restart";
  EXPECT_LE(health_recovery_ms, static_cast<double>(kRecoveryBound.count()));
  EXPECT_EQ(http_request(port, "GET", "/healthz", {}, {}, kClientTimeout).status, 200);
  EXPECT_EQ(check.acknowledged_found, check.acknowledged);
  EXPECT_EQ(check.refused_found, 0);
  EXPECT_EQ(check.events_of_load, check.acknowledged) << "events in the log = acknowledged commands";
  EXPECT_GT(check.acknowledged, 0);

  // The projector rode out the outage: it catches up with the whole log, and reads reflect it.
  EXPECT_TRUE(services.serve().running()) << "serve died";
  EXPECT_TRUE(services.projector().running()) << "the projector died";
  const bool caught_up = wait_until([&] { return events_applied(url) == count_events(url); }, 20s, 50ms);
  EXPECT_TRUE(caught_up) << "events_applied " << events_applied(url) << " of " << count_events(url) << "\n"
                         << services.logs();
  EXPECT_EQ(divergent_streams(url), 0);
  EXPECT_EQ(records_with_wrong_status(url), 0);
  for (auto it = attempts.rbegin(); it != attempts.rend(); ++it) {
    if (it->op == Op::kRegister && it->status == 201) {
      const HttpResponse got = get_until_version(port, it->credit_id, 1, 10s);
      EXPECT_EQ(got.status, 200) << "GET of a credit registered after the restart: " << got.body;
      break;
    }
  }
  if (HasFailure()) std::cout << services.logs() << "---- postgres.log:\n" << cluster.log_tail();
}

// =========================================================================================================
// 2-6: on the shared cluster, one database per test (LedgerFixture).

class Faults : public LedgerFixture {};

TEST_F(Faults, KillNineOfServeUnderLoadLosesNoAcknowledgedCommand) {
  Load load(port(), {"KS", 8, /*lifecycle=*/false});
  wait_until([&] { return load.acknowledged() >= 300; }, 15s);
  ASSERT_GT(load.acknowledged(), 0) << "no command succeeded before the kill";
  const auto t_kill = Clock::now();
  const int status = serve_->kill_now();
  serve_.reset();
  load.stop_and_join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_wait_status(status);

  const std::vector<Attempt> attempts = load.attempts();
  std::vector<std::string> failures;
  std::vector<const Attempt*> in_flight;  // sent before the kill, never answered
  for (const Attempt& a : attempts) {
    if (a.status == 0) {
      if (a.received < t_kill) failures.push_back("failed before the kill: " + a.describe());
      else if (a.sent < t_kill) in_flight.push_back(&a);
    } else if (a.status != 201) {
      failures.push_back("a unique registration not answered 201: " + a.describe());
    }
  }
  // The old serve's sessions end once PostgreSQL notices it is gone: after that no in-flight transaction
  // can still commit. (The projector and its sealer hold the two sessions left.)
  EXPECT_TRUE(wait_until([&] { return other_sessions(database_url()) <= 2; }, 15s, 50ms))
      << other_sessions(database_url()) << " sessions still open";

  const LogCheck check = check_log(attempts, database_url(), "KS");
  std::cout << "[ FAULTS   ] kill -9 of serve: " << check.summary() << "; " << in_flight.size()
            << " in flight at the kill\n";
  RecordProperty("acknowledged", check.acknowledged);
  RecordProperty("acknowledged_found", check.acknowledged_found);
  RecordProperty("in_flight", static_cast<int>(in_flight.size()));
  RecordProperty("in_flight_committed", check.unanswered_found);
  report_problems(failures);
  report_problems(check.problems);
  EXPECT_EQ(check.acknowledged_found, check.acknowledged);
  EXPECT_EQ(check.events_of_load, check.acknowledged + check.unanswered_found);
  EXPECT_LE(static_cast<int>(in_flight.size()), 8) << "at most one request in flight per client";

  // Serve starts again and serves; re-sending what was in flight is safe: 200 when it had committed,
  // 201 when not, and never a second event.
  ASSERT_NO_THROW(start_serve());
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  for (const Attempt* a : in_flight) {
    CreditSpec spec;
    spec.project_name = "Fault test KS";
    spec.serial_number = a->serial;
    const bool committed = check.found_request_ids.count(a->request_id) > 0;
    const HttpResponse again = register_credit(spec);
    EXPECT_EQ(again.status, committed ? 200 : 201) << a->describe() << "; re-sent: " << again.body;
    EXPECT_EQ(count_events(a->credit_id, "CREATED"), 1) << a->describe();
  }
  const std::string id = register_new("KS-AFTER-RESTART");
  EXPECT_EQ(get_record_eventually(id, 1).status, 200);
  EXPECT_TRUE(wait_until_projected(20s)) << "events_applied " << events_applied() << " of " << count_events();
  EXPECT_EQ(divergent_streams(), 0);
}

TEST_F(Faults, KillNineOfProjectorUnderLoadConvergesToWhatRebuildProduces) {
  ensure_account(kFaultBuyer);
  Load load(port(), {"KP", 8, /*lifecycle=*/true});
  int kills = 0;
  for (int threshold : {150, 350}) {
    wait_until([&] { return load.acknowledged() >= threshold; }, 15s);
    kill_projector();
    kills++;
    std::this_thread::sleep_for(100ms);
    start_projector();
  }
  wait_until([&] { return load.acknowledged() >= 500; }, 15s);
  load.stop_and_join();

  const std::vector<Attempt> attempts = load.attempts();
  std::vector<std::string> failures;
  for (const Attempt& a : attempts) {
    if (!is_2xx(a.status)) failures.push_back("the database was fine, yet: " + a.describe());
  }
  const LogCheck check = check_log(attempts, database_url(), "KP");
  report_problems(failures);
  report_problems(check.problems);
  EXPECT_EQ(check.acknowledged_found, check.acknowledged);
  EXPECT_EQ(check.events_of_load, check.acknowledged);

  const std::int64_t total = count_events();
  ASSERT_TRUE(wait_until_projected(30s)) << "events_applied " << events_applied() << " of " << total;
  EXPECT_EQ(events_applied(), total) << "each event applied exactly once";
  EXPECT_EQ(divergent_streams(), 0);
  EXPECT_EQ(records_with_wrong_status(database_url()), 0);
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records"),
            query_int("SELECT count(DISTINCT stream_id) FROM events WHERE " + kCreditEventsOnly));

  ASSERT_TRUE(exited_zero(stop_projector()));
  const std::vector<std::string> projected = read_model_rows(database_url());
  const RunResult rebuilt = run_ledger({"rebuild"}, std::chrono::seconds(120));
  ASSERT_TRUE(rebuilt.ok()) << "carbon-ledger rebuild " << rebuilt.describe();
  const std::vector<std::string> replayed = read_model_rows(database_url());
  EXPECT_TRUE(SameRows(projected, replayed)) << "the read model built across " << kills
                                             << " projector kills differs from a rebuild";
  EXPECT_EQ(events_applied(), total);
  std::cout << "[ FAULTS   ] kill -9 of project (x" << kills << "): " << check.summary() << "; "
            << projected.size() << " records, equal to a rebuild: " << (projected == replayed ? "yes" : "NO") << "\n";
  RecordProperty("acknowledged", check.acknowledged);
  RecordProperty("records", static_cast<int>(projected.size()));

  // Projection carries on after the rebuild.
  start_projector();
  const std::string id = register_new("KP-AFTER-REBUILD");
  EXPECT_EQ(get_record_eventually(id, 1).status, 200);
  EXPECT_TRUE(wait_until_projected());
  EXPECT_EQ(events_applied(), total + 1);
}

TEST_F(Faults, TerminatedSessionsAreReplacedWithoutARestart) {
  const pid_t serve_pid = serve_->pid();
  const pid_t projector_pid = projector_->pid();
  // Warm up: serve holds appender and query sessions, the projector its own.
  const std::string warm = register_new("TERM-WARM");
  ASSERT_EQ(get_record_eventually(warm, 1).status, 200);
  ASSERT_EQ(http("GET", "/healthz").status, 200);

  int refusals_after_termination = 0;
  int health_refusals = 0;
  double health_recovery_ms = 0;
  std::vector<std::size_t> terminated_per_round;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Round 0 with no traffic; rounds 1 and 2 while clients send commands.
    const std::string prefix = "TERM" + std::to_string(round);
    std::unique_ptr<Load> load;
    if (round > 0) {
      ensure_account(kFaultBuyer);
      load = std::make_unique<Load>(port(), LoadOptions{prefix, 4, /*lifecycle=*/true});
      wait_until([&] { return load->acknowledged() >= 60; }, 10s);
    }
    const std::vector<int> terminated = terminate_other_sessions(database_url());
    terminated_per_round.push_back(terminated.size());
    EXPECT_GE(terminated.size(), 2u) << "expected at least the projector's session and one of serve's";
    EXPECT_TRUE(wait_until([&] { return sessions_alive(database_url(), terminated) == 0; }, 10s, 50ms));
    const auto t_terminated = Clock::now();
    EXPECT_TRUE(health_ok_within(port(), kRecoveryBound, &health_refusals))
        << "/healthz did not answer 200 within " << kRecoveryBound.count() << " ms of the sessions' termination";
    health_recovery_ms = std::max(health_recovery_ms, ms_between(t_terminated, Clock::now()));

    // New commands after the termination: answered (a 503 is allowed while sessions are replaced, and
    // re-sending it is safe), and visible through GET once the projector has reconnected.
    CreditSpec spec;
    spec.serial_number = "TERM-AFTER-" + std::to_string(round);
    const std::string id = ledger::credit_id(spec.registry, spec.serial_number);
    const Resent registered = post_until_not_503(port(), "/register", spec.to_json(), kRecoveryBound);
    EXPECT_EQ(registered.response.status, 201) << registered.response.body;
    const Resent sold = post_until_not_503(port(), "/records/" + id + "/sell", (ensure_account("after"), R"({"buyer":"after"})"), kRecoveryBound);
    EXPECT_EQ(sold.response.status, 200) << sold.response.body;
    refusals_after_termination += registered.refusals + sold.refusals;
    const HttpResponse seen = get_until_version(port(), id, 2, 10s);
    ASSERT_EQ(seen.status, 200) << "a command after the termination never became visible: " << seen.body
                                << "\n---- project stderr:\n" << tail_of_file(projector_->stderr_path());
    EXPECT_EQ(string_member(parse_json(seen.body), "status"), "SOLD");

    if (load) {
      std::this_thread::sleep_for(500ms);
      load->stop_and_join();
      const std::vector<Attempt> attempts = load->attempts();
      std::vector<std::string> failures;
      for (const Attempt& a : attempts) {
        if (a.status == 0) failures.push_back("no answer: " + a.describe());
        else if (!is_2xx(a.status) && a.status != 503) failures.push_back("neither 2xx nor 503: " + a.describe());
        else if (a.status == 503 && !a.retry_after) failures.push_back("503 without Retry-After: " + a.describe());
      }
      const LogCheck check = check_log(attempts, database_url(), prefix);
      std::cout << "[ FAULTS   ] sessions terminated (round " << round << ", " << terminated.size()
                << " sessions): " << check.summary() << "\n";
      report_problems(failures);
      report_problems(check.problems);
      EXPECT_EQ(check.acknowledged_found, check.acknowledged);
      EXPECT_EQ(check.events_of_load, check.acknowledged);
    }
    ASSERT_TRUE(projector_->running()) << "the projector died";
    ASSERT_TRUE(serve_->running()) << "serve died";
  }
  EXPECT_EQ(projector_->pid(), projector_pid);
  EXPECT_EQ(serve_->pid(), serve_pid);
  EXPECT_TRUE(wait_until_projected(20s)) << "events_applied " << events_applied() << " of " << count_events();
  EXPECT_EQ(divergent_streams(), 0);
  EXPECT_TRUE(health_ok_within(port(), kRecoveryBound, &health_refusals));
  const bool projector_noticed = contains(projector_->stderr_text(), "connection lost");
  std::cout << "[ FAULTS   ] sessions terminated per round: " << terminated_per_round[0] << ", "
            << terminated_per_round[1] << ", " << terminated_per_round[2] << "; " << refusals_after_termination
            << " x 503 for the commands right after, " << health_refusals << " x 503 from /healthz (200 again within "
            << static_cast<int>(health_recovery_ms) << " ms); projector logged the lost connection: "
            << (projector_noticed ? "yes" : "no") << "\n";
  RecordProperty("refusals_after_termination", refusals_after_termination);
}

// Found by TerminatedSessionsAreReplacedWithoutARestart: a session that PostgreSQL ended while it sat idle in
// serve's pool (terminated, or cut by a restart, a failover, a proxy's idle timeout) is only noticed by the next
// request that uses it, and that request is answered 503 "database unavailable" although PostgreSQL is
// reachable. README: /healthz is "503 when PostgreSQL cannot be reached". serve runs here with one reader
// session and one appender session (/healthz has its own one), so each probe is certain to meet a stale one.
TEST_F(Faults, IdleSessionEndedByPostgresIsNotReportedAsAnUnreachableDatabase) {
  stop_serve();
  const std::string base = work_dir() + "/serve" + std::to_string(serve_starts_++);
  serve_ = Process::start(ledger_binary(), {"serve"},
                          {{"DATABASE_URL", role_url(kServeRole)}, {"LEDGER_HTTP_PORT", "0"},
                           {"LEDGER_READER_THREADS", "1"}, {"LEDGER_APPENDER_THREADS", "1"}},
                          base + ".out", base + ".err");
  const auto listening = wait_for_listening(*serve_, kStartTimeout);
  ASSERT_TRUE(listening.has_value()) << serve_->stderr_text();
  port_ = *listening;

  const std::string id = register_new("STALE-0");          // opens the appender's session
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);     // opens the query session
  ASSERT_EQ(http("GET", "/healthz").status, 200);

  // Before each probe, a request of the same kind succeeds (so the session it uses is open and idle), then
  // every session of the database is ended; PostgreSQL itself stays up and reachable.
  auto end_sessions = [&] {
    const std::vector<int> terminated = terminate_other_sessions(database_url());
    EXPECT_GE(terminated.size(), 1u) << "serve held no session to end";
    EXPECT_TRUE(wait_until([&] { return sessions_alive(database_url(), terminated) == 0; }, 10s, 50ms));
  };
  int ignored = 0;
  ASSERT_TRUE(health_ok_within(port(), kRecoveryBound, &ignored));
  end_sessions();
  const HttpResponse health = http("GET", "/healthz");
  EXPECT_EQ(health.status, 200) << "PostgreSQL is reachable, yet /healthz says: " << health.body;

  ASSERT_EQ(get_until_version(port(), id, 1, kRecoveryBound).status, 200);
  end_sessions();
  const HttpResponse got = http("GET", "/records/" + id);
  EXPECT_EQ(got.status, 200) << "PostgreSQL is reachable, yet GET /records says: " << got.body;

  CreditSpec warm;
  warm.serial_number = "STALE-1";
  ASSERT_EQ(post_until_not_503(port(), "/register", warm.to_json(), kRecoveryBound).response.status, 201);
  end_sessions();
  CreditSpec spec;
  spec.serial_number = "STALE-2";
  const HttpResponse created = register_credit(spec);
  EXPECT_EQ(created.status, 201) << "PostgreSQL is reachable, yet the command was refused: " << created.body;
  if (created.status == 503) {
    EXPECT_EQ(count_events(ledger::credit_id(spec.registry, spec.serial_number), "CREATED"), 0);
  }
}

TEST_F(Faults, ConnectionLostDuringCommitAnswers503AndAppendsNothing) {
  // A deferred constraint trigger runs at COMMIT: for the poisoned project it kills its own session there.
  install_die_at_commit_trigger("FAULT-DIE-AT-COMMIT");

  CreditSpec poisoned;
  poisoned.project_name = "FAULT-DIE-AT-COMMIT";
  poisoned.serial_number = "POISON-ALONE";
  const auto t0 = Clock::now();
  const HttpResponse alone = http("POST", "/register", poisoned.to_json(), {{"X-Request-Id", "PM-alone"}});
  const double alone_ms = ms_between(t0, Clock::now());
  EXPECT_TRUE(IsProblem(alone, 503)) << "lost during COMMIT and not committed: 503, not 2xx or 500";
  EXPECT_TRUE(alone.has_header("Retry-After"));
  EXPECT_EQ(count_events(ledger::credit_id(poisoned.registry, poisoned.serial_number), "CREATED"), 0);

  // With other commands in flight: whatever shares the poisoned command's transaction is refused with it and
  // nothing of it is written; re-sending a refused one creates it (a 200 would mean its 503 was untrue).
  constexpr int kOthers = 8;
  std::vector<Attempt> attempts(kOthers + 1);
  std::latch connected(kOthers + 1);
  std::latch go(1);
  std::vector<std::thread> clients;
  for (int i = 0; i <= kOthers; ++i) {
    clients.emplace_back([&, i] {
      Attempt& a = attempts[static_cast<std::size_t>(i)];
      CreditSpec spec;
      spec.project_name = i == kOthers ? "FAULT-DIE-AT-COMMIT" : "Fault test PM";
      spec.serial_number = "POISON-MIX-" + std::to_string(i);
      a.request_id = "PM-0-" + std::to_string(i);
      a.serial = spec.serial_number;
      a.credit_id = ledger::credit_id(spec.registry, spec.serial_number);
      std::unique_ptr<HttpConnection> connection;
      try {
        connection = std::make_unique<HttpConnection>(port(), kClientTimeout);
      } catch (const std::exception& e) {
        a.error = e.what();
      }
      connected.count_down();
      go.wait();
      if (!connection) return;
      a.sent = Clock::now();
      try {
        const HttpResponse r = connection->request("POST", "/register", spec.to_json(), {{"X-Request-Id", a.request_id}});
        a.status = r.status;
        a.retry_after = r.has_header("Retry-After");
        if (!is_2xx(r.status)) a.body = clip(r.body);
      } catch (const std::exception& e) {
        a.error = e.what();
      }
      a.received = Clock::now();
    });
  }
  connected.wait();
  go.count_down();
  for (auto& t : clients) t.join();

  const Attempt poisoned_attempt = attempts.back();  // a copy: `attempts` grows below
  EXPECT_EQ(poisoned_attempt.status, 503) << poisoned_attempt.describe();
  int shared_fate = 0;
  std::vector<Attempt> resent;
  for (int i = 0; i < kOthers; ++i) {
    const Attempt& a = attempts[static_cast<std::size_t>(i)];
    EXPECT_TRUE(a.status == 201 || a.status == 503) << a.describe();
    if (a.status == 503) {
      EXPECT_TRUE(a.retry_after) << a.describe();
      shared_fate++;
      CreditSpec spec;
      spec.project_name = "Fault test PM";
      spec.serial_number = a.serial;
      Attempt again = a;
      again.request_id = "PM-1-" + std::to_string(i);
      again.body.clear();
      const HttpResponse r = http("POST", "/register", spec.to_json(), {{"X-Request-Id", again.request_id}});
      again.status = r.status;
      if (!is_2xx(r.status)) again.body = clip(r.body);
      EXPECT_EQ(r.status, 201) << "re-sent after a 503: " << a.describe() << " -> " << r.status << " " << r.body;
      resent.push_back(again);
    }
  }
  attempts.insert(attempts.end(), resent.begin(), resent.end());
  attempts.push_back(Attempt{});
  attempts.back().request_id = "PM-alone";
  attempts.back().status = alone.status;
  attempts.back().serial = poisoned.serial_number;
  attempts.back().credit_id = ledger::credit_id(poisoned.registry, poisoned.serial_number);
  const LogCheck check = check_log(attempts, database_url(), "PM");
  report_problems(check.problems);
  EXPECT_EQ(check.refused_found, 0);
  EXPECT_EQ(check.events_of_load, check.acknowledged);

  // The service carries on: the next command succeeds at once, health is fine.
  CreditSpec normal;
  normal.serial_number = "POISON-AFTER";
  EXPECT_EQ(register_credit(normal).status, 201);
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  std::cout << "[ FAULTS   ] lost during COMMIT: alone answered " << alone.status << " in "
            << static_cast<int>(alone_ms) << " ms; with " << kOthers << " others in flight the poisoned one answered "
            << poisoned_attempt.status << " and " << shared_fate << " others shared its transaction (503, then 201 when re-sent); "
            << check.summary() << "\n";
}

}  // namespace
}  // namespace ledger::test
