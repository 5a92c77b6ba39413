// The HTTP front against clients that try to lock others out (issue 9, section 3) and HTTP as the RFCs
// say (section 5): connection caps per peer address enforced at accept, idle keep-alive bounded, role
// refusals and per-key caps before the command queue, an access log that never stalls serving, /healthz
// from a background probe, repeated singleton headers, Host, HEAD, absolute-form targets and entity-tag
// comparison. Every client here is a real socket; "another peer" is another loopback source address
// (Linux routes all of 127/8 to lo).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- raw sockets ----

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd = o.fd;
    o.fd = -1;
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// A TCP connection from `source` (a loopback address) to 127.0.0.1:port; fd -1 when it fails.
Fd connect_from(const char* source, std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) return s;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return Fd();
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) return Fd();
  return s;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads what arrives until `done(data)` says enough, the peer closes, or `timeout` passes.
// *closed is set when the peer closed (EOF or reset).
std::string read_until(int fd, const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout,
                       bool* closed = nullptr) {
  std::string data;
  const auto deadline = Clock::now() + timeout;
  if (closed) *closed = false;
  while (!done(data)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::read(fd, buf, sizeof buf);  // read, not recv: also for the stderr pipe
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

struct RawReply {
  int status = 0;
  std::string head;  // status line and header fields
  std::string body;
  std::string rest;  // bytes after this response (the next pipelined one)
  std::optional<std::string> field(const std::string& name) const {
    std::smatch m;
    const std::regex re("\r\n" + name + ":[ \t]*([^\r\n]*)", std::regex::icase);
    if (std::regex_search(head, m, re)) return m[1].str();
    return std::nullopt;
  }
};

// Parses one response off the front of `data`; a HEAD response has no body whatever Content-Length says.
std::optional<RawReply> parse_reply(const std::string& data, bool head_request) {
  const std::size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos || data.compare(0, 9, "HTTP/1.1 ") != 0) return std::nullopt;
  RawReply reply;
  reply.head = data.substr(0, end);
  reply.status = std::atoi(data.c_str() + 9);
  std::size_t length = 0;
  if (auto cl = reply.field("Content-Length")) length = static_cast<std::size_t>(std::stoul(*cl));
  if (head_request) length = 0;
  if (data.size() < end + 4 + length) return std::nullopt;
  reply.body = data.substr(end + 4, length);
  reply.rest = data.substr(end + 4 + length);
  return reply;
}

// Writes `request` on fd and reads one response.
std::optional<RawReply> roundtrip(int fd, const std::string& request, bool head_request = false,
                                 std::chrono::milliseconds timeout = 5s) {
  if (!send_all(fd, request)) return std::nullopt;
  const std::string data =
      read_until(fd, [&](const std::string& d) { return parse_reply(d, head_request).has_value(); }, timeout);
  return parse_reply(data, head_request);
}

std::string get_request(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

std::string auth_line(const std::string& key) { return "Authorization: Bearer " + key + "\r\n"; }

std::string post_request(const std::string& target, const std::string& key, const std::string& body,
                         const std::string& extra = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(key) +
         "Content-Type: application/json\r\n" + extra + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string register_body(const std::string& serial, const std::string& project = "Mangrove Restoration") {
  CreditSpec spec;
  spec.serial_number = serial;
  spec.project_name = project;
  return spec.to_json();
}

// Holds an ACCESS EXCLUSIVE lock on events in an open transaction until released: every append (and
// every read of a stream by the decider) waits for it, as if the database were very slow.
class EventsLock {
 public:
  explicit EventsLock(const std::string& url) : connection_(url), work_(std::make_unique<pqxx::work>(connection_)) {
    work_->exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  }
  void release() {
    if (work_) work_->abort();
    work_.reset();
  }
  ~EventsLock() { release(); }

 private:
  pqxx::connection connection_;
  std::unique_ptr<pqxx::work> work_;
};

class HttpFront : public LedgerFixture {
 protected:
  // Restarts serve with these variables on top of the usual ones.
  void restart_serve(const Environment& extra) {
    if (serve_) stop_serve();
    Environment env = ledger_env();
    env.insert(env.end(), extra.begin(), extra.end());
    const std::string base = work_dir_ + "/serve" + std::to_string(serve_starts_++);
    serve_ = Process::start(ledger_binary_path(), {"serve"}, env, base + ".out", base + ".err");
    const auto port = wait_for_listening(*serve_, kStartTimeout);
    ASSERT_TRUE(port.has_value()) << serve_->stderr_text();
    port_ = *port;
  }
  static std::string ledger_binary_path() { return CARBON_LEDGER_BINARY; }
};

// ---- section 3: one client cannot lock the others out ----

TEST_F(HttpFront, OnePeerOverItsConnectionCapDoesNotLockOutAnotherPeer) {
  ASSERT_NO_FATAL_FAILURE(restart_serve({{"LEDGER_MAX_CONNECTIONS", "64"},
                                         {"LEDGER_MAX_CONNECTIONS_PER_PEER", "16"},
                                         {"LEDGER_HTTP_IDLE_TIMEOUT_MS", "60000"}}));
  const std::string id = register_new("PEER-CAP-1");
  // Peer 127.0.0.2 opens 100 sockets and leaves them idle (the first 16 after one request each).
  std::vector<Fd> hog;
  int answered = 0;
  for (int i = 0; i < 100; ++i) {
    Fd s = connect_from("127.0.0.2", port());
    ASSERT_GE(s.fd, 0) << "connect " << i;
    if (i < 16) {
      const auto reply = roundtrip(s.fd, get_request("/healthz"));
      if (reply && reply->status == 200) ++answered;
    }
    hog.push_back(std::move(s));
  }
  EXPECT_EQ(answered, 16) << "connections within the per-peer cap are served";
  // Another peer still gets through, on new connections, for reads and commands alike.
  for (int i = 0; i < 20; ++i) {
    Fd s = connect_from("127.0.0.1", port());
    ASSERT_GE(s.fd, 0);
    const auto reply = roundtrip(s.fd, get_request("/records/" + id, auth_line(admin_key_)));
    ASSERT_TRUE(reply.has_value()) << "request " << i << " from 127.0.0.1 got no answer";
    EXPECT_EQ(reply->status, 200) << reply->head << reply->body;
  }
  Fd s = connect_from("127.0.0.1", port());
  const auto registered = roundtrip(s.fd, post_request("/register", admin_key_, register_body("PEER-CAP-2")));
  ASSERT_TRUE(registered.has_value());
  EXPECT_EQ(registered->status, 201) << registered->body;
  // The hog's extra sockets were refused, not served: a new one from it gets the canned 503.
  Fd extra = connect_from("127.0.0.2", port());
  bool closed = false;
  const std::string refused = read_until(extra.fd, [](const std::string&) { return false; }, 3000ms, &closed);
  EXPECT_TRUE(closed) << "a connection over the cap is closed";
  EXPECT_EQ(refused.compare(0, 12, "HTTP/1.1 503"), 0) << refused;
}

TEST_F(HttpFront, ConnectionOverTheCapIsAnsweredAtAcceptWithoutReadingARequest) {
  ASSERT_NO_FATAL_FAILURE(restart_serve({{"LEDGER_MAX_CONNECTIONS", "8"},
                                         {"LEDGER_MAX_CONNECTIONS_PER_PEER", "8"},
                                         {"LEDGER_HTTP_IDLE_TIMEOUT_MS", "60000"}}));
  std::vector<Fd> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(connect_from("127.0.0.3", port()));
    ASSERT_GE(held.back().fd, 0);
  }
  std::this_thread::sleep_for(200ms);  // the server has accepted them all
  // The ninth sends nothing at all, yet is answered 503 and closed at once.
  Fd ninth = connect_from("127.0.0.4", port());
  ASSERT_GE(ninth.fd, 0);
  const auto started = Clock::now();
  bool closed = false;
  const std::string answer = read_until(ninth.fd, [](const std::string&) { return false; }, 3000ms, &closed);
  EXPECT_LT(Clock::now() - started, 1000ms);
  EXPECT_TRUE(closed);
  ASSERT_EQ(answer.compare(0, 12, "HTTP/1.1 503"), 0) << answer;
  const auto reply = parse_reply(answer, false);
  ASSERT_TRUE(reply.has_value()) << answer;
  EXPECT_EQ(reply->field("Content-Type").value_or(""), "application/problem+json");
  EXPECT_TRUE(reply->field("Retry-After").has_value());
  EXPECT_NE(reply->body.find("too-many-connections"), std::string::npos);
  // Once one held connection goes, a new one is served.
  held.pop_back();
  std::this_thread::sleep_for(200ms);
  Fd next = connect_from("127.0.0.4", port());
  const auto ok = roundtrip(next.fd, get_request("/healthz"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpFront, ConnectionCapLeavesDescriptorsForDatabaseReconnects) {
  // serve under a hard descriptor limit of 256 (it cannot raise it), asked for 1024 connections.
  stop_serve();
  Environment env = ledger_env();
  env.push_back({"LEDGER_MAX_CONNECTIONS", "1024"});
  env.push_back({"LEDGER_MAX_CONNECTIONS_PER_PEER", "1024"});
  env.push_back({"LEDGER_HTTP_IDLE_TIMEOUT_MS", "60000"});
  const std::string base = work_dir() + "/serve" + std::to_string(serve_starts_++);
  serve_ = Process::start("/usr/bin/prlimit", {"--nofile=256:256", "--", ledger_binary_path(), "serve"}, env,
                          base + ".out", base + ".err");
  const auto listening = wait_for_listening(*serve_, kStartTimeout);
  ASSERT_TRUE(listening.has_value()) << serve_->stderr_text();
  port_ = *listening;
  const std::string log = serve_->stderr_text();
  EXPECT_NE(log.find("RLIMIT_NOFILE) 256"), std::string::npos) << log;
  EXPECT_NE(log.find("LEDGER_MAX_CONNECTIONS lowered from 1024 to"), std::string::npos) << log;
  // One keep-alive connection, opened first, for the commands below.
  Fd mine = connect_from("127.0.0.1", port());
  auto first = roundtrip(mine.fd, post_request("/register", admin_key_, register_body("FD-0")));
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->status, 201) << first->body;
  // Another client takes every slot there is and more.
  std::vector<Fd> hog;
  for (int i = 0; i < 300; ++i) hog.push_back(connect_from("127.0.0.5", port()));
  std::this_thread::sleep_for(300ms);
  // Every database session of the service is cut: its next command must open a new connection.
  exec_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
           "AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
  int status = 0;
  std::string body;
  const auto deadline = Clock::now() + 5s;
  for (int i = 1; Clock::now() < deadline; ++i) {
    const auto reply = roundtrip(mine.fd, post_request("/register", admin_key_, register_body("FD-" + std::to_string(i))));
    ASSERT_TRUE(reply.has_value()) << "no answer on the held connection";
    status = reply->status;
    body = reply->body;
    if (status == 201) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, 201) << "the service reconnects although clients hold every connection slot: " << body
                         << "\n" << serve_->stderr_text().substr(0, 4000);
}

TEST_F(HttpFront, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  ASSERT_NO_FATAL_FAILURE(restart_serve({{"LEDGER_HTTP_IDLE_TIMEOUT_MS", "300"}}));
  // Between keep-alive requests...
  Fd kept = connect_from("127.0.0.1", port());
  const auto reply = roundtrip(kept.fd, get_request("/healthz"));
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, 200);
  ASSERT_FALSE(reply->field("Connection").value_or("") == "close");
  auto started = Clock::now();
  bool closed = false;
  read_until(kept.fd, [](const std::string&) { return false; }, 5000ms, &closed);
  EXPECT_TRUE(closed) << "an idle keep-alive connection is closed";
  EXPECT_GE(Clock::now() - started, 250ms);
  EXPECT_LT(Clock::now() - started, 2000ms);
  // ...and before the first request.
  Fd silent = connect_from("127.0.0.1", port());
  started = Clock::now();
  read_until(silent.fd, [](const std::string&) { return false; }, 5000ms, &closed);
  EXPECT_TRUE(closed) << "a connection that never sends a request is closed";
  EXPECT_LT(Clock::now() - started, 2000ms);
  // A request that has begun gets the (longer) read timeout, not the idle one.
  Fd slow = connect_from("127.0.0.1", port());
  ASSERT_TRUE(send_all(slow.fd, "GET /healthz HTTP/1.1\r\n"));
  std::this_thread::sleep_for(600ms);
  const auto finished = roundtrip(slow.fd, "Host: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(finished.has_value()) << "a request in progress is not cut by the idle timeout";
  EXPECT_EQ(finished->status, 200);
}

TEST_F(HttpFront, CommandsARoleCanNeverSendAreRefusedBeforeTheQueue) {
  ASSERT_NO_FATAL_FAILURE(restart_serve({{"LEDGER_COMMAND_QUEUE_MAX", "4"}}));
  const std::string id = register_new("ROLE-1");
  const std::string auditor = create_key("audit", "auditor");
  const std::string holder = create_key("hold", "holder");
  const std::int64_t events_before = count_events();
  // Every append and stream read waits on this lock: anything that reached the queue would wait too.
  EventsLock lock(database_url());
  constexpr int kClients = 48;
  std::vector<std::future<int>> answers;
  const auto started = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] {
      Fd s = connect_from("127.0.0.1", port());
      std::string request;
      switch (i % 4) {
        case 0: request = post_request("/records/" + id + "/sell", auditor, R"({"buyer":"x"})"); break;
        case 1: request = post_request("/records/" + id + "/retire", auditor, "{}"); break;
        case 2: request = post_request("/register", auditor, register_body("AUD-" + std::to_string(i))); break;
        default: request = post_request("/register", holder, register_body("HOLD-" + std::to_string(i))); break;
      }
      const auto reply = roundtrip(s.fd, request, false, 1500ms);
      if (!reply) return 0;
      return reply->body.find("\"/problems/forbidden\"") != std::string::npos ? reply->status : -reply->status;
    }));
  }
  int forbidden = 0;
  for (auto& a : answers) {
    const int status = a.get();
    if (status == 403) ++forbidden;
    else ADD_FAILURE() << "answer " << status << " (0: none within 1.5 s; negative: not the forbidden problem)";
  }
  EXPECT_EQ(forbidden, kClients);
  EXPECT_LT(Clock::now() - started, 1500ms) << "refused at once, without waiting for the database";
  lock.release();
  EXPECT_EQ(count_events(), events_before);
  EXPECT_EQ(http("GET", "/healthz").status, 200);
}

TEST_F(HttpFront, KeyOverItsInFlightCapGets429WhileAnotherKeyIsServed) {
  ASSERT_NO_FATAL_FAILURE(restart_serve({{"LEDGER_COMMANDS_IN_FLIGHT_PER_KEY_MAX", "2"}}));
  const std::string greedy = create_issuer_key("greedy");
  const std::string patient = create_issuer_key("patient");
  std::optional<EventsLock> lock;
  lock.emplace(database_url());
  // Two commands of the greedy key wait on the lock: its cap is reached.
  std::vector<std::future<int>> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::async(std::launch::async, [&, i] {
      Fd s = connect_from("127.0.0.1", port());
      const auto reply = roundtrip(s.fd, post_request("/register", greedy, register_body("GREEDY-" + std::to_string(i))),
                                  false, 8000ms);
      return reply ? reply->status : 0;
    }));
  }
  std::this_thread::sleep_for(300ms);
  Fd third = connect_from("127.0.0.1", port());
  const auto started = Clock::now();
  const auto refused = roundtrip(third.fd, post_request("/register", greedy, register_body("GREEDY-3")), false, 1000ms);
  ASSERT_TRUE(refused.has_value()) << "the third command of a key at its cap is answered at once";
  EXPECT_LT(Clock::now() - started, 500ms);
  EXPECT_EQ(refused->status, 429) << refused->body;
  EXPECT_EQ(refused->field("Content-Type").value_or(""), "application/problem+json");
  EXPECT_TRUE(refused->field("Retry-After").has_value());
  EXPECT_NE(refused->body.find("too-many-commands"), std::string::npos) << refused->body;
  // The other key is not held back by the greedy one's cap.
  auto other = std::async(std::launch::async, [&] {
    Fd s = connect_from("127.0.0.1", port());
    const auto reply = roundtrip(s.fd, post_request("/register", patient, register_body("PATIENT-1")), false, 8000ms);
    return reply ? reply->status : 0;
  });
  std::this_thread::sleep_for(200ms);
  lock.reset();
  EXPECT_EQ(other.get(), 201);
  for (auto& w : waiting) EXPECT_EQ(w.get(), 201);
  // Answered commands give their slot back.
  Fd again = connect_from("127.0.0.1", port());
  const auto after = roundtrip(again.fd, post_request("/register", greedy, register_body("GREEDY-4")));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, 201) << after->body;
}

TEST_F(HttpFront, AFullStderrPipeDoesNotStallServing) {
  stop_serve();
  const std::string fifo = work_dir() + "/stderr.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Fd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(reader.fd, 0);
  const std::string base = work_dir() + "/serve-fifo";
  serve_ = Process::start(ledger_binary_path(), {"serve"}, ledger_env(), base + ".out", fifo);
  // Read the pipe only until serve says where it listens; from then on nobody reads it.
  const std::string start = read_until(
      reader.fd, [](const std::string& d) { return d.find("listening on http://127.0.0.1:") != std::string::npos &&
                                                     d.find('\n', d.find("listening on")) != std::string::npos; },
      kStartTimeout);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(start, m, std::regex(R"(listening on http://127\.0\.0\.1:([0-9]+))"))) << start;
  port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  // ~100 bytes of access log per request: 20,000 requests are ~30 times what a pipe holds.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::atomic<int> ok{0};
  std::atomic<int> slow{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Fd s = connect_from("127.0.0.1", port());
      for (int i = 0; i < kPerThread; ++i) {
        const auto before = Clock::now();
        const auto reply = roundtrip(s.fd, get_request("/healthz"), false, 2000ms);
        if (Clock::now() - before > 1000ms) ++slow;
        if (!reply || reply->status != 200) return;  // stalled: the rest would only time out too
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread) << "requests answered while stderr was full";
  EXPECT_EQ(slow.load(), 0);
  // Once stderr is read again, serve says how many lines it dropped.
  const std::string later = read_until(
      reader.fd, [](const std::string& d) { return d.find("lines dropped") != std::string::npos; }, 5000ms);
  EXPECT_NE(later.find("lines dropped"), std::string::npos) << later.substr(later.size() > 2000 ? later.size() - 2000 : 0);
  // Drain in the background while serve stops, so its last lines do not hold up its exit.
  std::atomic<bool> stop_draining{false};
  std::thread drain([&] {
    while (!stop_draining) read_until(reader.fd, [](const std::string&) { return false; }, 100ms);
  });
  const int status = stop_serve();
  stop_draining = true;
  drain.join();
  EXPECT_TRUE(exited_zero(status)) << describe_wait_status(status);
}

// Sends SIGSTOP to every backend of the test database but the caller's own, SIGCONT when destroyed.
class FrozenBackends {
 public:
  explicit FrozenBackends(const std::string& url) : connection_(url) {
    pqxx::work work(connection_);
    for (const auto& row : work.exec("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
                                     "pid <> pg_backend_pid() AND backend_type = 'client backend'")) {
      pids_.push_back(row[0].as<int>());
    }
    work.commit();
    for (int pid : pids_) ::kill(pid, SIGSTOP);
  }
  ~FrozenBackends() {
    for (int pid : pids_) ::kill(pid, SIGCONT);
  }
  std::size_t count() const { return pids_.size(); }

 private:
  pqxx::connection connection_;
  std::vector<int> pids_;
};

TEST_F(HttpFront, HealthzAnswersFromTheBackgroundProbeWithoutADatabaseRoundTrip) {
  ASSERT_EQ(http("GET", "/healthz").status, 200);
  std::this_thread::sleep_for(1100ms);  // a probe has just run
  {
    // Every serve (and projector) session stops answering. A /healthz that waited for its own ping
    // would hang now; one answered from the probe's status does not.
    FrozenBackends frozen(database_url());
    ASSERT_GT(frozen.count(), 0u);
    const auto started = Clock::now();
    std::vector<std::future<int>> answers;
    for (int c = 0; c < 4; ++c) {
      answers.push_back(std::async(std::launch::async, [&] {
        Fd s = connect_from("127.0.0.1", port());
        int ok = 0;
        for (int i = 0; i < 100; ++i) {
          const auto reply = roundtrip(s.fd, get_request("/healthz"), false, 1000ms);
          if (!reply) break;
          if (reply->status == 200) ++ok;
        }
        return ok;
      }));
    }
    int ok = 0;
    for (auto& a : answers) ok += a.get();
    EXPECT_EQ(ok, 400) << "/healthz answered from the fresh status, instantly";
    EXPECT_LT(Clock::now() - started, 1500ms);
    // The probe is stuck: its status goes stale and /healthz says unhealthy, still at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(4000) - (Clock::now() - started));
    const auto stale_started = Clock::now();
    const HttpResponse stale = http_request(port(), "GET", "/healthz", {}, {}, 1000ms);
    EXPECT_TRUE(IsProblem(stale, 503)) << stale.body;
    EXPECT_TRUE(stale.has_header("Retry-After"));
    EXPECT_LT(Clock::now() - stale_started, 500ms);
  }
  // Thawed: healthy again within a probe or two.
  HttpResponse health;
  const auto deadline = Clock::now() + 5s;
  do {
    health = http("GET", "/healthz");
    if (health.status == 200) break;
    std::this_thread::sleep_for(100ms);
  } while (Clock::now() < deadline);
  EXPECT_EQ(health.status, 200) << health.body;
}

// ---- section 5: HTTP as the RFCs say ----

TEST_F(HttpFront, RepeatedSingletonHeadersAre400NamingTheField) {
  const std::string id = register_new("DUP-1");
  struct Case {
    std::string name;
    std::string request;
  };
  const std::string body = R"({"buyer":"someone"})";
  const std::vector<Case> cases = {
      {"Authorization",
       "POST /records/" + id + "/sell HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(admin_key_) + auth_line(admin_key_) +
           "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body},
      {"Authorization",
       "GET /records/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(admin_key_) + "Authorization: Bearer x\r\n\r\n"},
      {"Content-Type", post_request("/records/" + id + "/sell", admin_key_, body, "Content-Type: text/plain\r\n")},
      {"Content-Type", post_request("/records/" + id + "/sell", admin_key_, body, "Content-Type: application/json\r\n")},
      {"Host", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.org\r\n\r\n"},
      {"Host", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n"},
      {"X-Request-Id", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: a\r\nX-Request-Id: b\r\n\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request);
    Fd s = connect_from("127.0.0.1", port());
    const auto reply = roundtrip(s.fd, c.request);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 400) << reply->body;
    EXPECT_EQ(reply->field("Content-Type").value_or(""), "application/problem+json");
    EXPECT_NE(reply->body.find("\"field\":\"" + c.name + "\""), std::string::npos) << reply->body;
  }
  // Nothing was sold by any of them.
  EXPECT_EQ(count_events(id, "SOLD"), 0);
}

// Every answer carries an X-Request-Id to report, those to requests that could not be read whole too (413,
// 431, a malformed head), and a repeated X-Request-Id is answered with an id of the server's, not either one.
TEST_F(HttpFront, EveryAnswerHasARequestIdEvenToAnUnreadableRequest) {
  const std::string big_body(70 * 1024, 'x');
  const std::vector<std::string> requests = {
      "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: mine\r\nContent-Type: application/json\r\n"
      "Content-Length: " + std::to_string(big_body.size()) + "\r\n\r\n" + big_body,
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: mine\r\nX-Pad: " + std::string(9000, 'p') + "\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: mine\r\nContent-Length: abc\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: mine\r\nX-Request-Id: theirs\r\n\r\n",
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request.substr(0, 120));
    Fd s = connect_from("127.0.0.1", port());
    const auto reply = roundtrip(s.fd, request);
    ASSERT_TRUE(reply.has_value());
    EXPECT_GE(reply->status, 400);
    const std::string id = reply->field("X-Request-Id").value_or("");
    EXPECT_FALSE(id.empty()) << "status " << reply->status;
    EXPECT_NE(id, "mine");
    EXPECT_NE(id, "theirs");
  }
}

TEST_F(HttpFront, Http11WithoutHostIs400AndHttp10WithoutHostIsServed) {
  Fd s = connect_from("127.0.0.1", port());
  const auto missing = roundtrip(s.fd, "GET /healthz HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("\"field\":\"Host\""), std::string::npos) << missing->body;
  Fd bad = connect_from("127.0.0.1", port());
  const auto invalid = roundtrip(bad.fd, "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n");
  ASSERT_TRUE(invalid.has_value());
  EXPECT_EQ(invalid->status, 400);
  Fd old = connect_from("127.0.0.1", port());
  ASSERT_TRUE(send_all(old.fd, "GET /healthz HTTP/1.0\r\n\r\n"));
  const std::string answer = read_until(old.fd, [](const std::string&) { return false; }, 3000ms);
  EXPECT_EQ(answer.compare(0, 12, "HTTP/1.0 200"), 0) << answer;
}

TEST_F(HttpFront, HeadWorksWhereverGetDoes) {
  const std::string id = register_new("HEAD-1");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  for (const std::string& target : {std::string("/healthz"), "/records/" + id, "/record/" + id, "/records/" + id + "/"}) {
    SCOPED_TRACE(target);
    Fd s = connect_from("127.0.0.1", port());
    const auto got = roundtrip(s.fd, get_request(target, auth_line(admin_key_)));
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->status, 200);
    // HEAD then GET pipelined: the HEAD answer has the GET's fields and no body, so the next response
    // starts right after its header block.
    const std::string head = "HEAD " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(admin_key_) + "\r\n";
    const auto headed = roundtrip(s.fd, head + get_request("/healthz"), true);
    ASSERT_TRUE(headed.has_value());
    EXPECT_EQ(headed->status, 200);
    EXPECT_EQ(headed->field("Content-Length"), std::to_string(got->body.size()));
    EXPECT_EQ(headed->field("Content-Type"), got->field("Content-Type"));
    EXPECT_EQ(headed->field("ETag"), got->field("ETag"));
    const std::string rest =
        headed->rest + read_until(s.fd, [](const std::string& d) { return parse_reply(d, false).has_value(); }, 3000ms);
    EXPECT_EQ(rest.compare(0, 12, "HTTP/1.1 200"), 0) << "bytes after the HEAD answer: " << rest.substr(0, 200);
  }
  // HEAD of something missing: the same status as GET, still no body.
  Fd s = connect_from("127.0.0.1", port());
  const auto missing = roundtrip(s.fd, "HEAD /records/" + std::string(kReadmeCreditId) +
                                          " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(admin_key_) + "\r\n",
                                true);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  // GET-only paths advertise HEAD; POST-only paths do not take it.
  Fd p = connect_from("127.0.0.1", port());
  const auto post_health = roundtrip(p.fd, post_request("/healthz", admin_key_, "{}"));
  ASSERT_TRUE(post_health.has_value());
  EXPECT_EQ(post_health->status, 405);
  EXPECT_EQ(post_health->field("Allow").value_or(""), "GET, HEAD");
  Fd r = connect_from("127.0.0.1", port());
  const auto head_register =
      roundtrip(r.fd, "HEAD /register HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth_line(admin_key_) + "\r\n", true);
  ASSERT_TRUE(head_register.has_value());
  EXPECT_EQ(head_register->status, 405);
  EXPECT_EQ(head_register->field("Allow").value_or(""), "POST");
}

TEST_F(HttpFront, AbsoluteFormTargetsAreRoutedOnTheirPath) {
  const std::string id = register_new("ABS-1");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  const std::string authority = "http://127.0.0.1:" + std::to_string(port());
  Fd s = connect_from("127.0.0.1", port());
  const auto origin = roundtrip(s.fd, get_request("/records/" + id, auth_line(admin_key_)));
  const auto absolute = roundtrip(s.fd, get_request(authority + "/records/" + id, auth_line(admin_key_)));
  ASSERT_TRUE(origin.has_value());
  ASSERT_TRUE(absolute.has_value());
  EXPECT_EQ(absolute->status, 200) << absolute->body;
  EXPECT_EQ(absolute->body, origin->body);
  const auto health = roundtrip(s.fd, get_request("HTTP://127.0.0.1/healthz?probe=1"));
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  ensure_account("absolute-buyer");
  const auto sold = roundtrip(s.fd, post_request(authority + "/records/" + id + "/sell", admin_key_,
                                                R"({"buyer":"absolute-buyer"})"));
  ASSERT_TRUE(sold.has_value());
  EXPECT_EQ(sold->status, 200) << sold->body;
}

TEST_F(HttpFront, IfMatchComparesEntityTagsAsStrings) {
  const std::string id = register_new("ETAG-1");  // version 1, ETag "1"
  ensure_account("b");
  for (const char* tag : {"\"01\"", "\"001\"", "\"+1\"", "\"1 \"", "W/\"1\""}) {
    SCOPED_TRACE(tag);
    Fd s = connect_from("127.0.0.1", port());
    const auto reply = roundtrip(s.fd, post_request("/records/" + id + "/sell", admin_key_, R"({"buyer":"b"})",
                                                   std::string("If-Match: ") + tag + "\r\n"));
    ASSERT_TRUE(reply.has_value());
    EXPECT_TRUE(reply->status == 412 || reply->status == 400) << reply->status << " " << reply->body;
  }
  EXPECT_EQ(count_events(id, "SOLD"), 0) << "no look-alike of \"1\" matched version 1";
  // Two If-Match lines are one list: the second names the current version.
  Fd s = connect_from("127.0.0.1", port());
  const auto sold = roundtrip(s.fd, post_request("/records/" + id + "/sell", admin_key_, R"({"buyer":"b"})",
                                                "If-Match: \"01\"\r\nIf-Match: \"1\"\r\n"));
  ASSERT_TRUE(sold.has_value());
  EXPECT_EQ(sold->status, 200) << sold->body;
  EXPECT_EQ(sold->field("ETag").value_or(""), "\"2\"");
  // "02" does not match version 2 either.
  const auto retired = roundtrip(s.fd, post_request("/records/" + id + "/retire", admin_key_, "{}",
                                                   "If-Match: \"02\"\r\n"));
  ASSERT_TRUE(retired.has_value());
  EXPECT_EQ(retired->status, 412) << retired->body;
}

}  // namespace
}  // namespace ledger::test
