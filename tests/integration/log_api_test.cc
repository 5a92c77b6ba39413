// The verifiable log over HTTP: GET /log/checkpoint, /log/public-key, /log/consistency, /log/leaves,
// /records/{id}/proof and /events (paged, long-polled, and as Server-Sent Events). Answers verify against the
// fixture's signing key and the stored tree; /events lists every event exactly once in leaf order, an event
// committed late included (it is never skipped, only sealed after it commits).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "command/credit_id.h"
#include "eventstore/base64.h"
#include "eventstore/event_store.h"
#include "eventstore/merkle.h"
#include "eventstore/merkle_log.h"
#include "eventstore/signed_note.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

MerkleHash hash_from_base64(const std::string& text) {
  MerkleHash hash{};
  const std::optional<std::string> bytes = base64_decode(text);
  if (!bytes || bytes->size() != hash.size()) throw std::runtime_error("not a base64 hash: " + text);
  std::copy(bytes->begin(), bytes->end(), reinterpret_cast<char*>(hash.data()));
  return hash;
}

std::vector<MerkleHash> hashes_of(const rapidjson::Value& array) {
  std::vector<MerkleHash> out;
  for (const auto& v : array.GetArray()) out.push_back(hash_from_base64(v.GetString()));
  return out;
}

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

// One event of an /events answer.
struct SeenEvent {
  std::string cursor;
  std::int64_t leaf_index = -1;
  std::string leaf_data;
  std::string event_id;  // from the parsed "event"
};

// A raw TCP connection for reading an event stream as it comes (the HTTP client reads whole responses).
class RawStream {
 public:
  explicit RawStream(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot connect");
    }
  }
  ~RawStream() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  // Reads until `done(received)` or the timeout; false on timeout or close before done.
  template <typename Done>
  bool read_until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done(received)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return done(received);
      received.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::string received;

 private:
  int fd_ = -1;
};

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

// The events of a stream received so far (after its header), complete frames only.
std::vector<SseEvent> sse_events(const std::string& received) {
  std::vector<SseEvent> out;
  std::size_t pos = received.find("\r\n\r\n");
  if (pos == std::string::npos) return out;
  pos += 4;
  for (;;) {
    const std::size_t end = received.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string frame = received.substr(pos, end - pos);
    pos = end + 2;
    SseEvent e;
    std::size_t line_start = 0;
    while (line_start <= frame.size()) {
      std::size_t line_end = frame.find('\n', line_start);
      if (line_end == std::string::npos) line_end = frame.size();
      const std::string line = frame.substr(line_start, line_end - line_start);
      if (line.rfind("id: ", 0) == 0) e.id = line.substr(4);
      if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) e.data = line.substr(6);
      line_start = line_end + 1;
    }
    if (!e.id.empty()) out.push_back(std::move(e));
  }
  return out;
}

class LogApi : public LedgerFixture {
 protected:

  std::int64_t tree_size() { return query_int("SELECT coalesce(max(tree_size), 0) FROM log_checkpoints"); }

  // Parses an /events answer's events.
  static std::vector<SeenEvent> events_of(const rapidjson::Value& doc) {
    std::vector<SeenEvent> out;
    for (const auto& e : doc["events"].GetArray()) {
      SeenEvent s;
      s.cursor = e["cursor"].GetString();
      s.leaf_index = e["leaf_index"].GetInt64();
      s.leaf_data = e["leaf_data"].GetString();
      s.event_id = string_member(e["event"], "event_id");
      out.push_back(std::move(s));
    }
    return out;
  }

  // Follows /events "next" links from `target` until a page comes back empty; every page must be 200.
  std::vector<SeenEvent> all_events(std::string target = "/events?limit=7") {
    std::vector<SeenEvent> out;
    for (int pages = 0; pages < 10000; ++pages) {
      const HttpResponse r = http("GET", target);
      EXPECT_EQ(r.status, 200) << target << ": " << r.body;
      if (r.status != 200) break;
      const auto doc = parse_json(r.body);
      std::vector<SeenEvent> page = events_of(doc);
      const std::string next = doc["next"].GetString();
      if (page.empty()) {
        EXPECT_EQ(next, target.find("after=") == std::string::npos ? next : target);
        break;
      }
      out.insert(out.end(), page.begin(), page.end());
      target = next;
    }
    return out;
  }

  // The `next` of /events at the head of the log now (everything sealed).
  std::string head_next() {
    std::string target = "/events?limit=1000";
    for (;;) {
      const HttpResponse r = http("GET", target);
      if (r.status != 200) throw std::runtime_error(r.body);
      const auto doc = parse_json(r.body);
      if (doc["events"].GetArray().Size() == 0) return doc["next"].GetString();
      target = doc["next"].GetString();
    }
  }

  NewEvent created_event(const std::string& serial) {
    NewEvent event;
    event.stream_id = ledger::credit_id("Verra", serial);
    event.stream_version = 1;
    event.event_id = new_event_id();
    event.event_type = "CREATED";
    event.data_json = json_object({{"project_name", json_string("Bulk Project")}, {"registry", json_string("Verra")},
                                   {"vintage", "2021"}, {"quantity", "7"}, {"serial_number", json_string(serial)}});
    event.metadata_json = "{}";
    return event;
  }
};

// A ledger whose projector has not sealed anything yet.
class LogApiUnsealed : public LogApi {
 protected:
  LogApiUnsealed() { seal_from_setup_ = false; }
};

TEST_F(LogApiUnsealed, CheckpointAndPublicKeyAreTheLatestSignedNoteAndItsKey) {
  // No checkpoint yet (the projector has had no signing key so far): 404 no-checkpoint on both, and on a
  // record's proof.
  stop_projector();
  ASSERT_EQ(query_int("SELECT count(*) FROM log_checkpoints"), 0);
  EXPECT_TRUE(IsProblemOf(http("GET", "/log/checkpoint"), 404, "no-checkpoint"));
  EXPECT_TRUE(IsProblemOf(http("GET", "/log/public-key"), 404, "no-checkpoint"));
  EXPECT_TRUE(IsProblemOf(http("GET", "/log/consistency?first=0"), 404, "no-checkpoint"));
  const std::string id = register_new("CKPT-0");
  EXPECT_TRUE(IsProblemOf(http("GET", "/records/" + id + "/proof"), 404, "no-checkpoint"));
  start_projector();
  register_new("CKPT-1");
  ASSERT_TRUE(wait_until_sealed());

  const HttpResponse checkpoint = http("GET", "/log/checkpoint");
  ASSERT_EQ(checkpoint.status, 200) << checkpoint.body;
  EXPECT_EQ(checkpoint.header("Content-Type").value_or(""), "text/plain; charset=utf-8");
  EXPECT_EQ(checkpoint.body, query_scalar("SELECT note FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1"));
  NoteVerifier verifier;
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &verifier).ok());
  std::string text;
  ASSERT_TRUE(verify_note(checkpoint.body, verifier, &text).ok()) << checkpoint.body;
  CheckpointBody body;
  ASSERT_TRUE(parse_checkpoint_body(text, &body).ok());
  EXPECT_EQ(body.tree_size, static_cast<std::uint64_t>(count_log_events()));

  const HttpResponse key = http("GET", "/log/public-key");
  ASSERT_EQ(key.status, 200) << key.body;
  EXPECT_EQ(key.header("Content-Type").value_or("").rfind("text/plain", 0), 0u);
  EXPECT_EQ(key.body, verifier_key_ + "\n");
}

TEST_F(LogApi, EveryLogRouteNeedsAKey) {
  const std::string id = register_new("AUTH-0");
  const std::vector<std::string> targets = {"/log/checkpoint", "/log/public-key", "/log/consistency?first=0",
                                           "/log/leaves?start=0&end=1", "/records/" + id + "/proof", "/events"};
  for (const std::string& target : targets) {
    const HttpResponse r = http("GET", target, {}, {{"Authorization", ""}});
    EXPECT_TRUE(IsProblem(r, 401)) << target << ": " << r.status << " " << r.body;
    EXPECT_TRUE(r.has_header("WWW-Authenticate")) << target;
  }
}

TEST_F(LogApi, ConsistencyProofsOfEveryPairVerify) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(register_new("CONS-" + std::to_string(i)));
    ASSERT_TRUE(wait_until_sealed());  // several checkpoints along the way
  }
  ASSERT_EQ(sell(ids[1], "cons-buyer").status, 200);
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t n = tree_size();
  ASSERT_GE(n, 5);
  std::vector<MerkleHash> roots(n + 1);
  {
    pqxx::connection conn(database_url());
    pqxx::work tx(conn);
    for (std::int64_t s = 0; s <= n; ++s) ASSERT_TRUE(log_root(tx, s, &roots[s]).ok()) << s;
    // The checkpoints' roots are the same roots.
    for (const StoredCheckpoint& c : read_log_checkpoints(tx)) EXPECT_EQ(c.root_hash, roots[c.tree_size]);
  }
  for (std::int64_t first = 0; first <= n; ++first) {
    for (std::int64_t second = first; second <= n; ++second) {
      const std::string target =
          "/log/consistency?first=" + std::to_string(first) + "&second=" + std::to_string(second);
      const HttpResponse r = http("GET", target);
      ASSERT_EQ(r.status, 200) << target << ": " << r.body;
      const auto doc = parse_json(r.body);
      EXPECT_EQ(int_member(doc, "first"), first);
      EXPECT_EQ(int_member(doc, "second"), second);
      EXPECT_TRUE(merkle_verify_consistency(first, second, roots[first], roots[second], hashes_of(doc["proof"])))
          << target << ": " << r.body;
    }
  }
  // second defaults to the latest checkpoint's size.
  const HttpResponse latest = http("GET", "/log/consistency?first=2");
  ASSERT_EQ(latest.status, 200) << latest.body;
  const auto doc = parse_json(latest.body);
  EXPECT_EQ(int_member(doc, "second"), n);
  EXPECT_TRUE(merkle_verify_consistency(2, n, roots[2], roots[n], hashes_of(doc["proof"])));
}

TEST_F(LogApi, LeavesComeInPagesOf1000AndEventsPageThroughEveryOneOnce) {
  // 1,205 events in one transaction, as the superuser: fast, and more than one page (after the access
  // stream's events of the fixture's keys).
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t before = tree_size();
  {
    pqxx::connection conn(database_url());
    pqxx::work tx(conn);
    std::vector<NewEvent> events;
    for (int i = 0; i < 1205; ++i) events.push_back(created_event("BULK-" + std::to_string(i)));
    ASSERT_TRUE(append_events(tx, events).ok());
    tx.commit();
  }
  ASSERT_TRUE(wait_until_sealed(60s));
  const std::int64_t n = tree_size();
  ASSERT_EQ(n, 1205 + before);

  std::string target = "/log/leaves?start=0&end=" + std::to_string(n);
  std::int64_t expected_index = 0;
  int pages = 0;
  for (; pages < 10; ++pages) {
    const HttpResponse r = http("GET", target);
    ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    const auto doc = parse_json(r.body);
    EXPECT_EQ(int_member(doc, "start"), expected_index);
    EXPECT_EQ(int_member(doc, "tree_size"), n);
    const auto& leaves = doc["leaves"].GetArray();
    EXPECT_LE(leaves.Size(), kLogLeavesPageMax);
    for (const auto& leaf : leaves) {
      EXPECT_EQ(leaf["leaf_index"].GetInt64(), expected_index);
      const std::string data = leaf["leaf_data"].GetString();
      EXPECT_EQ(hash_from_base64(leaf["leaf_hash"].GetString()), merkle_leaf_hash(data)) << expected_index;
      ++expected_index;
    }
    EXPECT_EQ(int_member(doc, "end"), expected_index);
    if (doc["next"].IsNull()) break;
    target = doc["next"].GetString();
    EXPECT_EQ(target, "/log/leaves?start=" + std::to_string(expected_index) + "&end=" + std::to_string(n));
  }
  EXPECT_EQ(pages, 1);  // two pages: 1000 then 205
  EXPECT_EQ(expected_index, n);

  // /events: every leaf exactly once, in leaf order, whatever the page size.
  for (const std::string first : {"/events", "/events?limit=1000", "/events?limit=333"}) {
    const std::vector<SeenEvent> seen = all_events(first);
    ASSERT_EQ(static_cast<std::int64_t>(seen.size()), n) << first;
    std::set<std::string> ids;
    for (std::size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i].leaf_index, static_cast<std::int64_t>(i));
      ids.insert(seen[i].event_id);
    }
    EXPECT_EQ(static_cast<std::int64_t>(ids.size()), n);
  }
}

TEST_F(LogApi, ARecordsProofBundleVerifies) {
  const std::string id = register_new("PROOF-0");
  register_new("PROOF-1");
  ASSERT_EQ(sell(id, "proof-buyer").status, 200);
  ASSERT_EQ(retire(id, R"({"beneficiary":"Acme","reason":"Scope 1"})").status, 200);
  ASSERT_TRUE(wait_until_sealed());
  const HttpResponse r = http("GET", "/records/" + id + "/proof");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "record_id"), id);
  EXPECT_EQ(string_member(doc, "verifier_key"), verifier_key_);
  EXPECT_EQ(int_member(doc, "pending_events"), 0);
  const std::int64_t size = int_member(doc, "tree_size");
  const MerkleHash root = hash_from_base64(string_member(doc, "root_hash"));
  NoteVerifier verifier;
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &verifier).ok());
  std::string text;
  ASSERT_TRUE(verify_note(string_member(doc, "checkpoint"), verifier, &text).ok());
  CheckpointBody body;
  ASSERT_TRUE(parse_checkpoint_body(text, &body).ok());
  EXPECT_EQ(body.root_hash, root);
  EXPECT_EQ(body.tree_size, static_cast<std::uint64_t>(size));
  const auto& events = doc["events"].GetArray();
  ASSERT_EQ(events.Size(), 3u);
  for (const auto& e : events) {
    const MerkleHash leaf = hash_from_base64(e["leaf_hash"].GetString());
    EXPECT_EQ(leaf, merkle_leaf_hash(e["leaf_data"].GetString()));
    EXPECT_TRUE(merkle_verify_inclusion(e["leaf_index"].GetInt64(), size, leaf, hashes_of(e["inclusion_proof"]), root));
  }
  // Ids as GET /records/{id} takes them: upper case is the same credit; not a UUID is 400; unknown is 404.
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(http("GET", "/records/" + upper + "/proof").status, 200);
  EXPECT_TRUE(IsProblemNaming(http("GET", "/records/not-a-uuid/proof"), 400, "id"));
  EXPECT_TRUE(IsProblemOf(http("GET", "/records/00000000-0000-4000-8000-000000000000/proof"), 404, "credit-not-found"));
}

TEST_F(LogApi, BadParametersAre400NamingThem) {
  register_new("BAD-0");
  register_new("BAD-1");
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t n = tree_size();
  const std::string big = std::to_string(n + 1);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/log/consistency", "first"},
      {"/log/consistency?first=x", "first"},
      {"/log/consistency?first=-1", "first"},
      {"/log/consistency?first=2&second=1", "first"},
      {"/log/consistency?first=0&second=" + big, "second"},
      {"/log/consistency?first=0&second=1.5", "second"},
      {"/log/leaves?end=1", "start"},
      {"/log/leaves?start=0", "end"},
      {"/log/leaves?start=a&end=1", "start"},
      {"/log/leaves?start=1&end=1", "start"},
      {"/log/leaves?start=0&end=" + big, "end"},
      {"/log/leaves?start=0&end=0x1", "end"},
      {"/events?after=nonsense!", "after"},
      {"/events?after=djE6eA", "after"},  // "v1:x"
      {"/events?limit=0", "limit"},
      {"/events?limit=1001", "limit"},
      {"/events?limit=ten", "limit"},
      {"/events?wait=31", "wait"},
      {"/events?wait=-1", "wait"},
  };
  for (const auto& [target, name] : cases) {
    const HttpResponse r = http("GET", target);
    EXPECT_TRUE(IsProblemNaming(r, 400, name)) << target << ": " << r.status << " " << r.body;
    EXPECT_TRUE(contains(problem_detail(r), name)) << target << ": " << r.body;
  }
}

TEST_F(LogApi, ALongPollIsAnsweredSoonAfterANewEventOrWhenItsWaitEnds) {
  register_new("POLL-0");
  ASSERT_TRUE(wait_until_sealed());
  const std::string head = head_next();

  // Nothing new: answered after about its wait, with no events and the same cursor.
  const auto quiet_start = Clock::now();
  const HttpResponse quiet = http("GET", head + "&wait=1");
  const long quiet_ms = elapsed_ms(quiet_start);
  ASSERT_EQ(quiet.status, 200) << quiet.body;
  EXPECT_GE(quiet_ms, 900);
  EXPECT_LT(quiet_ms, 3000);
  const auto quiet_doc = parse_json(quiet.body);
  EXPECT_EQ(quiet_doc["events"].GetArray().Size(), 0u);
  EXPECT_EQ(std::string(quiet_doc["next"].GetString()), head);

  // Several waiting at once; a register wakes them all with the new event, well before their 10 s.
  std::vector<std::future<HttpResponse>> waiting;
  for (int i = 0; i < 4; ++i) {
    waiting.push_back(std::async(std::launch::async, [this, head] {
      return http_request(port(), "GET", head + "&wait=10", {}, {}, 15s);
    }));
  }
  std::this_thread::sleep_for(300ms);
  const auto registered = Clock::now();
  const std::string id = register_new("POLL-1");
  for (auto& f : waiting) {
    const HttpResponse r = f.get();
    const long ms = elapsed_ms(registered);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_LT(ms, 2000);
    const auto doc = parse_json(r.body);
    const std::vector<SeenEvent> events = events_of(doc);
    ASSERT_EQ(events.size(), 1u) << r.body;
    EXPECT_NE(events[0].leaf_data.find(id), std::string::npos);
    EXPECT_EQ(std::string(doc["next"].GetString()), "/events?after=" + events[0].cursor + "&limit=1000");
  }
}

TEST_F(LogApi, AnEventStreamSendsWhatExistsThenNewEventsAndResumesAfterLastEventId) {
  register_new("SSE-0");
  register_new("SSE-1");
  ASSERT_TRUE(wait_until_sealed());
  const std::size_t existing = static_cast<std::size_t>(count_log_events());
  const std::string head = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + default_api_key() +
                           "\r\nAccept: text/event-stream\r\n";

  std::string last_id;
  std::string second_last_id;
  {
    RawStream stream(port());
    stream.send_all(head + "\r\n");
    ASSERT_TRUE(stream.read_until([&](const std::string& got) { return sse_events(got).size() >= existing; }, 10s))
        << stream.received;
    EXPECT_EQ(stream.received.rfind("HTTP/1.1 200", 0), 0u) << stream.received;
    EXPECT_TRUE(contains(lower(stream.received), "content-type: text/event-stream")) << stream.received;
    EXPECT_TRUE(contains(lower(stream.received), "cache-control: no-store")) << stream.received;
    EXPECT_TRUE(contains(stream.received, "\r\n\r\nretry: ")) << stream.received;
    const std::string id = register_new("SSE-2");
    ASSERT_TRUE(stream.read_until([&](const std::string& got) { return sse_events(got).size() >= existing + 1; }, 10s))
        << stream.received;
    const std::vector<SseEvent> events = sse_events(stream.received);
    ASSERT_EQ(events.size(), existing + 1);
    std::set<std::string> ids;
    for (const SseEvent& e : events) {
      EXPECT_EQ(e.event, "ledger-event");
      EXPECT_EQ(parse_json(e.data).IsObject(), true);
      ids.insert(e.id);
    }
    EXPECT_EQ(ids.size(), events.size());
    EXPECT_NE(events.back().data.find(id), std::string::npos);
    last_id = events.back().id;
    second_last_id = events[events.size() - 2].id;
  }
  // Resuming after the second-to-last: the last one, then the next new one; nothing twice.
  RawStream resumed(port());
  resumed.send_all(head + "Last-Event-ID: " + second_last_id + "\r\n\r\n");
  ASSERT_TRUE(resumed.read_until([&](const std::string& got) { return sse_events(got).size() >= 1; }, 10s));
  const std::string id = register_new("SSE-3");
  ASSERT_TRUE(resumed.read_until([&](const std::string& got) { return sse_events(got).size() >= 2; }, 10s))
      << resumed.received;
  std::this_thread::sleep_for(300ms);
  resumed.read_until([](const std::string&) { return false; }, 200ms);
  const std::vector<SseEvent> events = sse_events(resumed.received);
  ASSERT_EQ(events.size(), 2u) << resumed.received;
  EXPECT_EQ(events[0].id, last_id);
  EXPECT_NE(events[1].data.find(id), std::string::npos);
  // The ?after cursor of /events pages works as a start too, and a bad Last-Event-ID is a 400.
  const HttpResponse bad = http("GET", "/events", {}, {{"Accept", "text/event-stream"}, {"Last-Event-ID", "zz!"}});
  EXPECT_TRUE(IsProblemNaming(bad, 400, "Last-Event-ID")) << bad.body;
}

TEST_F(LogApi, AnEventCommittedLateIsListedOnceAfterItCommitsAndNothingIsSkipped) {
  register_new("HELD-BEFORE");
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t sealed_before = tree_size();
  const std::string head = head_next();

  pqxx::connection held_connection(database_url());
  auto held = std::make_unique<pqxx::work>(held_connection);
  const NewEvent event = created_event("HELD-EVENT");
  ASSERT_TRUE(append_events(*held, {event}).ok());
  for (int i = 0; i < 3; ++i) register_new("HELD-AFTER-" + std::to_string(i));
  // While the writer holds its transaction nothing after it is sealed, so /events shows nothing new.
  const auto until = Clock::now() + 800ms;
  while (Clock::now() < until) {
    const HttpResponse r = http("GET", head);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse_json(r.body)["events"].GetArray().Size(), 0u) << r.body;
    std::this_thread::sleep_for(100ms);
  }
  held->commit();
  held.reset();
  ASSERT_TRUE(wait_until_sealed());
  const std::vector<SeenEvent> seen = all_events();
  ASSERT_EQ(static_cast<std::int64_t>(seen.size()), count_log_events());
  std::set<std::string> ids;
  std::size_t held_index = seen.size();
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].leaf_index, static_cast<std::int64_t>(i));
    EXPECT_TRUE(ids.insert(seen[i].event_id).second) << "twice: " << seen[i].event_id;
    if (seen[i].event_id == event.event_id) held_index = i;
  }
  ASSERT_LT(held_index, seen.size());
  // Right after the events before it began, before the three committed meanwhile.
  EXPECT_EQ(held_index, static_cast<std::size_t>(sealed_before));
}

}  // namespace
}  // namespace ledger::test
