#include "eventstore/log_verifier.h"

#include <charconv>
#include <cstdio>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "eventstore/binary_copy.h"
#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/merkle.h"
#include "eventstore/merkle_log.h"

namespace ledger {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kProgressIntervalMs = 1000;
constexpr std::size_t kEventColumns = 9;

const std::string kEventColumnsSql = "position, transaction_id::text, stream_id::text, stream_version, event_id::text,"
                                     " event_type, data::text, metadata::text, " +
                                     rfc3339_utc_sql("recorded_at");

// Splits a COPY text line (its newline removed) into exactly `n` fields; false otherwise.
bool split_copy_line(std::string_view line, std::string_view* fields, std::size_t n) {
  std::size_t count = 0, begin = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', begin);
    if (count == n) return false;
    fields[count++] = line.substr(begin, tab == std::string_view::npos ? std::string_view::npos : tab - begin);
    if (tab == std::string_view::npos) break;
    begin = tab + 1;
  }
  return count == n;
}

bool parse_int(std::string_view text, std::int64_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

bool parse_uint(std::string_view text, std::uint64_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

// Fields without backslashes (uuids, integers, timestamps, most JSON) need no decoding copy.
bool decode_field(std::string_view field, std::string* out) {
  if (field.find('\\') == std::string_view::npos) {
    out->assign(field.data(), field.size());
    return true;
  }
  return decode_copy_text_field(field, out);
}


// The leaf hash of an event into *hash (the hash of empty data when it has none: false then). `scratch` holds
// the leaf data.
bool make_leaf_hash(const RecordedEvent& e, std::string* scratch, MerkleHash* hash) {
  const bool made = log_leaf_data(e, scratch).ok();
  if (!made) scratch->clear();
  *hash = merkle_leaf_hash(*scratch);
  return made;
}

struct EventPage {
  std::vector<RecordedEvent> events;  // [0, size) valid; kept allocated so strings keep their capacity
  // Each event's recomputed leaf hash, made on the reader's thread (the caller only compares), and whether its
  // leaf data could be made at all.
  std::vector<MerkleHash> leaf_hashes;
  std::vector<std::uint8_t> leaf_ok;
  std::size_t size = 0;
  bool last = false;
  Status status;
};

// Reads every event in (transaction_id, position) order on a session and thread of its own, in the caller's
// snapshot, a few pages ahead: PostgreSQL and the decoding run while the caller hashes. Pages are recycled so
// the strings of a steady-state read allocate nothing.
class EventPageReader {
 public:
  // make_leaf_hashes: recompute each event's leaf hash on the reader's thread (else the caller does).
  EventPageReader(std::string url, std::string snapshot, bool make_leaf_hashes)
      : url_(std::move(url)), snapshot_(std::move(snapshot)), make_leaf_hashes_(make_leaf_hashes) {
    for (std::size_t i = 0; i < kLogVerifyPagesAheadMax + 1; ++i) {
      auto page = std::make_unique<EventPage>();
      page->events.resize(kLogVerifyPageEventsMax);
      page->leaf_hashes.resize(kLogVerifyPageEventsMax);
      page->leaf_ok.resize(kLogVerifyPageEventsMax);
      free_.push_back(std::move(page));
    }
    thread_ = std::thread([this] { run(); });
  }
  ~EventPageReader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      if (connection_ != nullptr) {
        try {
          connection_->cancel_query();
        } catch (const std::exception&) {
        }
      }
    }
    changed_.notify_all();
    thread_.join();
  }

  std::unique_ptr<EventPage> next() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return !ready_.empty(); });
    auto page = std::move(ready_.front());
    ready_.pop_front();
    return page;
  }
  void recycle(std::unique_ptr<EventPage> page) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      page->size = 0;
      page->last = false;
      free_.push_back(std::move(page));
    }
    changed_.notify_all();
  }

 private:
  std::unique_ptr<EventPage> take_free() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return stopping_ || !free_.empty(); });
    if (stopping_) return nullptr;
    auto page = std::move(free_.front());
    free_.pop_front();
    return page;
  }
  void push(std::unique_ptr<EventPage> page) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(page));
    }
    changed_.notify_all();
  }

  void run() {
    std::unique_ptr<EventPage> page = take_free();
    if (!page) return;
    try {
      DatabaseLimits limits;
      limits.statement_timeout_ms = 0;
      limits.idle_in_transaction_timeout_ms = 0;
      limits.key_lookups_only = false;
      std::unique_ptr<pqxx::connection> conn = open_connection(url_, limits);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        connection_ = conn.get();
      }
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "verify_events");
      tx.exec("SET TRANSACTION SNAPSHOT " + tx.quote(snapshot_));
      // The log's order; events_transaction_position_idx gives it without sorting the whole table (whose heap
      // is nearly in that order, so the index scan reads pages sequentially).
      pqxx::stream_from copy(tx, "(SELECT " + kEventColumnsSql + " FROM events ORDER BY transaction_id, position)");
      std::string line;
      std::string number;
      std::string leaf_data;
      std::string_view fields[kEventColumns];
      while (copy.get_raw_line(line)) {
        if (!line.empty() && line.back() == '\n') line.pop_back();
        if (!split_copy_line(line, fields, kEventColumns)) throw std::runtime_error("an events COPY line has the wrong number of fields");
        RecordedEvent& e = page->events[page->size];
        bool ok = decode_field(fields[0], &number) && parse_int(number, &e.position) &&
                  decode_field(fields[1], &e.transaction_id) && decode_field(fields[2], &e.stream_id) &&
                  decode_field(fields[3], &number) && parse_int(number, &e.stream_version) &&
                  decode_field(fields[4], &e.event_id) && decode_field(fields[5], &e.event_type) &&
                  decode_field(fields[6], &e.data_json) && decode_field(fields[7], &e.metadata_json) &&
                  decode_field(fields[8], &e.recorded_at);
        if (!ok) throw std::runtime_error("an undecodable events COPY line");
        if (make_leaf_hashes_) {
          page->leaf_ok[page->size] = make_leaf_hash(e, &leaf_data, &page->leaf_hashes[page->size]) ? 1 : 0;
        }
        if (++page->size == page->events.size()) {
          push(std::move(page));
          page = take_free();
          if (!page) return;
        }
      }
      copy.complete();
      page->last = true;
      push(std::move(page));
    } catch (const std::exception& e) {
      if (!page) page = std::make_unique<EventPage>();
      page->size = 0;
      page->last = true;
      page->status = Status::Unavailable("reading events: " + single_line(e.what()));
      push(std::move(page));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    connection_ = nullptr;
  }

  const std::string url_;
  const std::string snapshot_;
  const bool make_leaf_hashes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<EventPage>> ready_;
  std::deque<std::unique_ptr<EventPage>> free_;
  bool stopping_ = false;
  pqxx::connection* connection_ = nullptr;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------- fast pass
// One event of the fast pass: its place in the log's order and its recomputed leaf hash.
struct HashedLeaf {
  std::uint64_t transaction_id = 0;
  std::int64_t position = 0;
  MerkleHash hash{};
};
bool log_order_less(const HashedLeaf& a, const HashedLeaf& b) {
  return a.transaction_id != b.transaction_id ? a.transaction_id < b.transaction_id : a.position < b.position;
}

// What the readers of one fast pass share: the events read so far (progress, and the bound on memory) and
// how many readers have finished.
struct FastPassShared {
  std::atomic<std::int64_t> events{0};
  std::mutex mutex;
  std::condition_variable finished_changed;
  std::size_t finished = 0;  // under mutex
};

// Reads the events on heap pages [first_page, end_page) (end_page < 0: to the end of the table) with binary
// COPY on a session and thread of its own, in the caller's snapshot, recomputes each event's leaf hash there,
// and sorts what it made into the log's order: the readers of one pass divide PostgreSQL's work and ours
// between them, unordered (a sequential scan, no index), and the caller merges their sorted runs.
class LeafHashingReader {
 public:
  LeafHashingReader(std::string url, std::string snapshot, std::int64_t first_page, std::int64_t end_page,
                    std::int64_t events_max, std::size_t events_expected, FastPassShared* shared)
      : url_(std::move(url)), snapshot_(std::move(snapshot)), first_page_(first_page), end_page_(end_page),
        events_max_(events_max), shared_(shared) {
    leaves_.reserve(events_expected);
    thread_ = std::thread([this] { run(); });
  }
  ~LeafHashingReader() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(reader_mutex_);
      if (reader_ != nullptr) reader_->cancel();
    }
    thread_.join();
  }

  // Valid once the reader has counted itself finished in the shared state.
  const Status& status() const { return status_; }
  bool all_made() const { return all_made_; }       // every event gave leaf data (in the fast path's decoding)
  bool over_bound() const { return over_bound_; }   // the pass went past events_max and stopped
  const std::vector<HashedLeaf>& leaves() const { return leaves_; }

 private:
  static constexpr std::size_t kFields = 9;

  std::string copy_sql() const {
    std::string where;
    if (first_page_ > 0) where = "ctid >= '(" + std::to_string(first_page_) + ",0)'::tid";
    if (end_page_ >= 0) where += (where.empty() ? "" : " AND ") + ("ctid < '(" + std::to_string(end_page_) + ",0)'::tid");
    return "COPY (SELECT transaction_id, position, stream_id, stream_version, event_id, event_type, data, metadata,"
           " recorded_at FROM events" + (where.empty() ? "" : " WHERE " + where) + ") TO STDOUT (FORMAT binary)";
  }

  // One row into leaves_; false when the fast path cannot decode it (the caller's full pass then looks).
  bool hash_row(const BinaryCopyField* f, std::string* leaf_data) {
    for (std::size_t i = 0; i < kFields; ++i) {
      if (f[i].is_null) return false;
    }
    HashedLeaf leaf;
    std::int64_t txid = 0;
    char stream_id[kUuidTextSize], event_id[kUuidTextSize], recorded_at[kRfc3339MicrosSize];
    LogLeafFields e;
    // jsonb in binary: a version byte (1), then the text jsonb_out writes.
    if (!binary_copy_int64(f[0].bytes, &txid) || !binary_copy_int64(f[1].bytes, &leaf.position) ||
        !binary_copy_uuid_text(f[2].bytes, stream_id) || !binary_copy_int64(f[3].bytes, &e.stream_version) ||
        !binary_copy_uuid_text(f[4].bytes, event_id) || f[6].bytes.empty() || f[6].bytes[0] != 1 ||
        f[7].bytes.empty() || f[7].bytes[0] != 1 || !binary_copy_timestamp_rfc3339(f[8].bytes, recorded_at)) {
      return false;
    }
    leaf.transaction_id = static_cast<std::uint64_t>(txid);
    e.stream_id = std::string_view(stream_id, kUuidTextSize);
    e.event_id = std::string_view(event_id, kUuidTextSize);
    e.event_type = f[5].bytes;
    e.data_json = f[6].bytes.substr(1);
    e.metadata_json = f[7].bytes.substr(1);
    e.recorded_at = std::string_view(recorded_at, kRfc3339MicrosSize);
    if (!log_leaf_data(e, leaf_data).ok()) return false;
    leaf.hash = merkle_leaf_hash(*leaf_data);
    leaves_.push_back(leaf);
    return true;
  }

  void run() {
    try {
      std::unique_ptr<BinaryCopyReader> reader;
      status_ = BinaryCopyReader::open(url_, DatabaseLimits{}.connect_timeout_s,
                                       "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '" +
                                           snapshot_ + "'",
                                       copy_sql(), &reader);
      if (status_.ok()) {
        {
          std::lock_guard<std::mutex> lock(reader_mutex_);
          reader_ = reader.get();
        }
        if (stopping_) reader->cancel();
        BinaryCopyField fields[kFields];
        std::string leaf_data;
        std::int64_t rows = 0;
        constexpr std::int64_t kCountEvery = 1024;  // rows between updates of the shared count
        for (;;) {
          bool got = false;
          status_ = reader->next_row(fields, kFields, &got);
          if (!status_.ok() || !got) break;
          all_made_ = hash_row(fields, &leaf_data) && all_made_;
          if (++rows % kCountEvery == 0 && shared_->events.fetch_add(kCountEvery) + kCountEvery > events_max_) {
            over_bound_ = true;
            break;
          }
        }
        shared_->events += rows % kCountEvery;
        {
          std::lock_guard<std::mutex> lock(reader_mutex_);
          reader_ = nullptr;
        }
        if (status_.ok() && !over_bound_ && !std::is_sorted(leaves_.begin(), leaves_.end(), log_order_less)) {
          std::sort(leaves_.begin(), leaves_.end(), log_order_less);
        }
      }
    } catch (const std::exception& e) {
      status_ = Status::Unavailable(std::string("reading events: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      ++shared_->finished;
    }
    shared_->finished_changed.notify_all();
  }

  const std::string url_;
  const std::string snapshot_;
  const std::int64_t first_page_, end_page_, events_max_;
  FastPassShared* shared_;
  std::atomic<bool> stopping_{false};
  std::mutex reader_mutex_;
  BinaryCopyReader* reader_ = nullptr;  // under reader_mutex_, while reading
  Status status_;
  bool all_made_ = true;
  bool over_bound_ = false;
  std::vector<HashedLeaf> leaves_;
  std::thread thread_;
};

struct StoredLeaf {
  std::int64_t leaf_index = 0;
  std::int64_t position = 0;
  std::string leaf_data;
  MerkleHash leaf_hash{};
};

// A stored leaf's stream and version, read from its own data (its event may be gone).
void leaf_stream(const std::string& leaf_data, std::string* stream_id, std::int64_t* version) {
  rapidjson::Document d;
  d.Parse(leaf_data.c_str(), leaf_data.size());
  *stream_id = "?";
  *version = 0;
  if (d.HasParseError() || !d.IsObject()) return;
  if (auto it = d.FindMember("stream_id"); it != d.MemberEnd() && it->value.IsString()) *stream_id = it->value.GetString();
  if (auto it = d.FindMember("stream_version"); it != d.MemberEnd() && it->value.IsInt64()) *version = it->value.GetInt64();
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// What differs between two leaf data texts, member by member: "data differs; stream_version differs: log has
// 2, events has 3". Short scalar members show both values; data and metadata only that they differ.
std::string describe_leaf_difference(const std::string& stored, const std::string& recomputed) {
  rapidjson::Document a, b;
  a.Parse(stored.c_str(), stored.size());
  b.Parse(recomputed.c_str(), recomputed.size());
  if (a.HasParseError() || !a.IsObject()) return "the stored leaf data is not a JSON object";
  if (b.HasParseError() || !b.IsObject()) return "the recomputed leaf data is not a JSON object";
  std::string out;
  static const char* const kMembers[] = {"data", "event_id", "event_type", "metadata", "recorded_at", "stream_id",
                                         "stream_version"};
  for (const char* name : kMembers) {
    const auto x = a.FindMember(name), y = b.FindMember(name);
    const bool has_x = x != a.MemberEnd(), has_y = y != b.MemberEnd();
    if (has_x && has_y && x->value == y->value) continue;
    if (!out.empty()) out += "; ";
    out += name;
    out += " differs";
    if (std::strcmp(name, "data") != 0 && std::strcmp(name, "metadata") != 0) {
      out += ": log has " + (has_x ? json_text(x->value) : std::string("nothing")) + ", events has " +
             (has_y ? json_text(y->value) : std::string("nothing"));
    }
  }
  for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
    if (!b.HasMember(it->name)) out += std::string(out.empty() ? "" : "; ") + "the log has an extra member " + it->name.GetString();
  }
  if (out.empty()) out = "the bytes differ (not canonical JSON)";
  return out;
}

class Verification {
 public:
  Verification(const LogVerifyOptions& options, LogVerifyReport* report) : options_(options), report_(report) {}

  Status run();

 private:
  void finding(LogFindingKind kind, const std::string& line) {
    const std::size_t k = static_cast<std::size_t>(kind);
    const std::int64_t n = ++report_->findings[k];
    if (!options_.on_finding) return;
    if (static_cast<std::size_t>(n) <= options_.lines_per_kind_max) {
      options_.on_finding(std::string(log_finding_kind_name(kind)) + ": " + line);
    } else if (static_cast<std::size_t>(n) == options_.lines_per_kind_max + 1) {
      options_.on_finding(std::string(log_finding_kind_name(kind)) + ": more findings of this kind are counted, not listed");
    }
  }

  static bool in_sealed(const RecordedEvent& e, const Checkpoint& sealed, std::uint64_t sealed_txid);
  // The fast pass's tree: leaf hashes appended in the log's order, and the roots at the sizes to check.
  struct RootsAtSizes {
    std::map<std::uint64_t, MerkleHash> roots;  // tree size -> rebuilt root (filled as the tree grows)
    MerkleFrontier frontier;                    // (when built by append)
    std::uint64_t size = 0;                     // leaves of the rebuilt tree
    void append(const MerkleHash& leaf_hash);
  };
  RootsAtSizes roots_to_rebuild() const;
  // Every signed root (and the auditor's) is the rebuilt one, and the log has as many leaves as were sealed.
  bool fast_pass_holds(RootsAtSizes& rebuilt, std::int64_t leaves) const;
  // Rebuilds the tree from the events alone and checks every signed root (and the auditor's): *holds when
  // everything does. Reads no stored leaf. Reads the table in parallel, unordered, and sorts in memory; past
  // kLogVerifyFastPassEventsMax events it reads in the log's order instead (rebuild_in_log_order).
  Status rebuild_from_events_alone(pqxx::transaction_base& tx, const Checkpoint& sealed, std::uint64_t sealed_txid,
                                   Clock::time_point started, bool* holds);
  Status rebuild_in_log_order(pqxx::transaction_base& tx, const Checkpoint& sealed, std::uint64_t sealed_txid,
                              Clock::time_point started, bool* holds);
  pqxx::transaction_base& lookup();
  bool event_exists(std::int64_t position);
  std::string stored_leaf_data(const StoredLeaf& leaf);
  bool next_leaf(pqxx::stream_from& copy, StoredLeaf* leaf);
  void append_rebuilt(const MerkleHash& leaf_hash);
  void check_roots_at_size();
  void check_stored_checkpoint_notes();
  Status check_nodes(pqxx::transaction_base& tx);

  const LogVerifyOptions& options_;
  LogVerifyReport* report_;
  std::string snapshot_;
  std::unique_ptr<pqxx::connection> lookup_conn_;
  std::unique_ptr<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>> lookup_tx_;

  std::vector<StoredCheckpoint> checkpoints_;
  std::optional<CheckpointBody> auditor_;
  std::map<std::uint64_t, MerkleHash> roots_wanted_;  // tree size -> rebuilt root, filled as the tree grows
  MerkleFrontier frontier_;
  std::vector<std::vector<MerkleHash>> rebuilt_nodes_;  // [level][node_index], level >= 1
  std::string leaf_line_;
};

pqxx::transaction_base& Verification::lookup() {
  // Only on a mismatch: a session of its own (the others are busy with their COPY), in the same snapshot.
  if (!lookup_tx_) {
    DatabaseLimits limits;
    limits.statement_timeout_ms = 0;
    limits.idle_in_transaction_timeout_ms = 0;
    lookup_conn_ = open_connection(options_.database_url, limits);
    lookup_tx_ = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(*lookup_conn_, "verify_lookup");
    lookup_tx_->exec("SET TRANSACTION SNAPSHOT " + lookup_tx_->quote(snapshot_));
  }
  return *lookup_tx_;
}

bool Verification::event_exists(std::int64_t position) {
  return !lookup().exec_params("SELECT 1 FROM events WHERE position = $1", position).empty();
}

std::string Verification::stored_leaf_data(const StoredLeaf& leaf) {
  if (options_.deep) return leaf.leaf_data;  // read with the leaf
  const pqxx::result r = lookup().exec_params("SELECT leaf_data FROM log_leaves WHERE leaf_index = $1", leaf.leaf_index);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

bool Verification::next_leaf(pqxx::stream_from& copy, StoredLeaf* leaf) {
  if (!copy.get_raw_line(leaf_line_)) return false;
  if (!leaf_line_.empty() && leaf_line_.back() == '\n') leaf_line_.pop_back();
  std::string_view f[4];
  if (!split_copy_line(leaf_line_, f, 4) || !parse_int(f[0], &leaf->leaf_index) || !parse_int(f[1], &leaf->position) ||
      !decode_field(f[2], &leaf->leaf_data) || !merkle_from_hex(f[3], &leaf->leaf_hash)) {
    throw std::runtime_error("an undecodable log_leaves COPY line");
  }
  return true;
}

void Verification::append_rebuilt(const MerkleHash& leaf_hash) {
  frontier_.append(leaf_hash, [this](const MerkleNodeId& id, const MerkleHash& hash) {
    if (rebuilt_nodes_.size() <= static_cast<std::size_t>(id.level)) rebuilt_nodes_.resize(id.level + 1);
    rebuilt_nodes_[id.level].push_back(hash);
  });
  if (!roots_wanted_.empty()) {
    auto it = roots_wanted_.find(frontier_.size());
    if (it != roots_wanted_.end()) it->second = frontier_.root();
  }
}

void Verification::check_stored_checkpoint_notes() {
  for (const StoredCheckpoint& c : checkpoints_) {
    const std::string at = "tree size " + std::to_string(c.tree_size) + ": ";
    std::string text;
    if (Status s = verify_note(c.note, options_.trusted_key, &text); !s.ok()) {
      finding(LogFindingKind::kCheckpoint, at + "bad signature: " + s.message());
      continue;
    }
    CheckpointBody body;
    if (Status s = parse_checkpoint_body(text, &body); !s.ok()) {
      finding(LogFindingKind::kCheckpoint, at + "the note is not a checkpoint: " + s.message());
      continue;
    }
    if (body.origin != options_.trusted_key.name) {
      finding(LogFindingKind::kCheckpoint, at + "the note's origin is " + body.origin + ", not " + options_.trusted_key.name);
    }
    if (body.tree_size != static_cast<std::uint64_t>(c.tree_size)) {
      finding(LogFindingKind::kCheckpoint, at + "the signed note says tree size " + std::to_string(body.tree_size));
    }
    if (body.root_hash != c.root_hash) {
      finding(LogFindingKind::kCheckpoint, at + "the signed note's root " + merkle_base64(body.root_hash) + " is not the row's " + merkle_base64(c.root_hash));
    }
  }
}

Status Verification::check_nodes(pqxx::transaction_base& tx) {
  pqxx::stream_from copy(tx, "(SELECT level, node_index, encode(hash, 'hex') FROM log_nodes ORDER BY level, node_index)");
  std::string line;
  std::string_view f[3];
  std::vector<std::int64_t> seen(rebuilt_nodes_.size(), 0);  // stored nodes per level matched so far
  while (copy.get_raw_line(line)) {
    if (!line.empty() && line.back() == '\n') line.pop_back();
    std::int64_t level = 0, index = 0;
    MerkleHash hash{};
    if (!split_copy_line(line, f, 3) || !parse_int(f[0], &level) || !parse_int(f[1], &index) || !merkle_from_hex(f[2], &hash)) {
      return Status::Unavailable("an undecodable log_nodes COPY line");
    }
    ++report_->nodes;
    const std::string at = "level " + std::to_string(level) + " index " + std::to_string(index) + ": ";
    if (level < 1 || static_cast<std::size_t>(level) >= rebuilt_nodes_.size() ||
        static_cast<std::size_t>(index) >= rebuilt_nodes_[level].size()) {
      finding(LogFindingKind::kNode, at + "stored, but the rebuilt tree has no such node");
      continue;
    }
    ++seen[level];
    if (rebuilt_nodes_[level][index] != hash) {
      finding(LogFindingKind::kNode, at + "stored hash " + merkle_base64(hash) + ", rebuilt " + merkle_base64(rebuilt_nodes_[level][index]));
    }
  }
  copy.complete();
  for (std::size_t level = 1; level < rebuilt_nodes_.size(); ++level) {
    const std::int64_t missing = static_cast<std::int64_t>(rebuilt_nodes_[level].size()) - seen[level];
    if (missing > 0) {
      finding(LogFindingKind::kNode, "level " + std::to_string(level) + ": " + std::to_string(missing) +
                                         " nodes of the rebuilt tree are not stored");
    }
  }
  return Status::Ok();
}

// Sealed: at or before the sealer's last sealed event in the log's order (it made a leaf of it).
bool Verification::in_sealed(const RecordedEvent& e, const Checkpoint& sealed, std::uint64_t sealed_txid) {
  std::uint64_t txid = 0;
  if (!parse_uint(e.transaction_id, &txid)) return false;
  return txid < sealed_txid || (txid == sealed_txid && e.position <= sealed.position);
}

Verification::RootsAtSizes Verification::roots_to_rebuild() const {
  RootsAtSizes r;
  for (const StoredCheckpoint& c : checkpoints_) r.roots[static_cast<std::uint64_t>(c.tree_size)] = MerkleHash{};
  if (auditor_) r.roots[auditor_->tree_size] = MerkleHash{};
  if (auto it = r.roots.find(0); it != r.roots.end()) it->second = merkle_empty_root();
  return r;
}

void Verification::RootsAtSizes::append(const MerkleHash& leaf_hash) {
  frontier.append(leaf_hash, [](const MerkleNodeId&, const MerkleHash&) {});
  size = frontier.size();
  if (auto it = roots.find(size); it != roots.end()) it->second = frontier.root();
}

bool Verification::fast_pass_holds(RootsAtSizes& rebuilt, std::int64_t leaves) const {
  bool ok = static_cast<std::int64_t>(rebuilt.size) == leaves &&
            (checkpoints_.empty() ? leaves == 0 : checkpoints_.back().tree_size == leaves);
  for (const StoredCheckpoint& c : checkpoints_) ok = ok && rebuilt.roots[static_cast<std::uint64_t>(c.tree_size)] == c.root_hash;
  if (auditor_) {
    ok = ok && auditor_->origin == options_.trusted_key.name && auditor_->tree_size <= rebuilt.size &&
         rebuilt.roots[auditor_->tree_size] == auditor_->root_hash;
  }
  return ok;
}

Status Verification::rebuild_from_events_alone(pqxx::transaction_base& tx, const Checkpoint& sealed,
                                               std::uint64_t sealed_txid, Clock::time_point started, bool* holds) {
  *holds = false;
  const pqxx::row size = tx.exec1(
      "SELECT pg_relation_size('events') / current_setting('block_size')::bigint,"
      " (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'events'::regclass)");
  const std::int64_t pages = size[0].as<std::int64_t>();
  // The planner's estimate of the rows, to size each reader's run once (it may be stale: only a hint).
  const std::int64_t rows_estimate = std::min(size[1].as<std::int64_t>(), options_.fast_pass_events_max);
  std::size_t readers_count = 1;
  if (pages >= kLogVerifyParallelPagesMin) {
    readers_count = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, kLogVerifyReadersMax);
  }
  FastPassShared shared;
  report_->readers = static_cast<std::int64_t>(readers_count);
  std::vector<std::unique_ptr<LeafHashingReader>> readers;
  for (std::size_t i = 0; i < readers_count; ++i) {
    // Pages split evenly; the last range is open, so rows on pages added since (invisible to the snapshot
    // anyway) change nothing.
    const std::int64_t first = pages * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(readers_count);
    const std::int64_t end = i + 1 == readers_count ? -1 : pages * static_cast<std::int64_t>(i + 1) / static_cast<std::int64_t>(readers_count);
    readers.push_back(std::make_unique<LeafHashingReader>(
        options_.database_url, snapshot_, first, end, options_.fast_pass_events_max,
        static_cast<std::size_t>(rows_estimate * 11 / 10) / readers_count, &shared));
  }
  {
    std::unique_lock<std::mutex> lock(shared.mutex);
    while (shared.finished < readers.size()) {
      shared.finished_changed.wait_for(lock, std::chrono::milliseconds(kProgressIntervalMs));
      if (options_.on_progress && shared.finished < readers.size()) {
        options_.on_progress(shared.events.load(), std::chrono::duration<double>(Clock::now() - started).count());
      }
    }
  }
  bool all_made = true, over_bound = false;
  for (const auto& r : readers) {
    if (!r->status().ok()) return r->status();
    all_made = all_made && r->all_made();
    over_bound = over_bound || r->over_bound();
  }
  if (over_bound) {
    readers.clear();  // their memory back before the ordered pass
    return rebuild_in_log_order(tx, sealed, sealed_txid, started, holds);
  }
  if (!all_made) return Status::Ok();
  // Merge the readers' sorted runs into the log's order: the sealed events first (their leaf hashes, in
  // order), then the unsealed, only counted. The tree is then built on as many threads as read.
  std::vector<MerkleHash> sealed_leaves;
  sealed_leaves.reserve(static_cast<std::size_t>(shared.events.load()));
  std::vector<std::size_t> at(readers.size(), 0);
  std::int64_t events = 0, unsealed = 0;
  const HashedLeaf sealed_key{sealed_txid, sealed.position, {}};
  for (;;) {
    std::size_t best = readers.size();
    for (std::size_t i = 0; i < readers.size(); ++i) {
      if (at[i] == readers[i]->leaves().size()) continue;
      if (best == readers.size() || log_order_less(readers[i]->leaves()[at[i]], readers[best]->leaves()[at[best]])) best = i;
    }
    if (best == readers.size()) break;
    const HashedLeaf& leaf = readers[best]->leaves()[at[best]++];
    ++events;
    if (log_order_less(sealed_key, leaf)) {
      ++unsealed;  // after the last sealed event: so are all that follow
      continue;
    }
    sealed_leaves.push_back(leaf.hash);
  }
  readers.clear();
  RootsAtSizes rebuilt = roots_to_rebuild();
  std::vector<std::uint64_t> sizes;
  for (const auto& [size, root] : rebuilt.roots) {
    if (size <= sealed_leaves.size()) sizes.push_back(size);  // a larger one stays unset: it cannot hold
  }
  const std::vector<MerkleHash> roots = merkle_roots_at_sizes(sealed_leaves, sizes, readers_count);
  for (std::size_t i = 0; i < sizes.size(); ++i) rebuilt.roots[sizes[i]] = roots[i];
  rebuilt.size = sealed_leaves.size();
  const std::int64_t leaves = read_log_size(tx);
  if (!fast_pass_holds(rebuilt, leaves)) return Status::Ok();
  *holds = true;
  report_->events = events;
  report_->leaves = leaves;
  report_->rebuilt_size = static_cast<std::int64_t>(rebuilt.size);
  report_->not_yet_sealed = unsealed;
  return Status::Ok();
}

Status Verification::rebuild_in_log_order(pqxx::transaction_base& tx, const Checkpoint& sealed,
                                          std::uint64_t sealed_txid, Clock::time_point started, bool* holds) {
  *holds = false;
  report_->readers = 1;
  RootsAtSizes rebuilt = roots_to_rebuild();
  std::int64_t events = 0, unsealed = 0;
  bool in_order = true, all_made = true;
  Clock::time_point last_progress = started;
  // The reader thread decodes, this one hashes: with PostgreSQL's backend, three stages side by side.
  EventPageReader reader(options_.database_url, snapshot_, /*make_leaf_hashes=*/false);
  std::string scratch;
  for (;;) {
    std::unique_ptr<EventPage> page = reader.next();
    if (!page->status.ok()) return page->status;
    for (std::size_t i = 0; i < page->size; ++i) {
      ++events;
      if (!in_sealed(page->events[i], sealed, sealed_txid)) {
        ++unsealed;
        continue;
      }
      in_order = in_order && unsealed == 0;  // sealed events come first in the log's order
      MerkleHash hash;
      all_made = make_leaf_hash(page->events[i], &scratch, &hash) && all_made;
      rebuilt.append(hash);
    }
    const bool last = page->last;
    reader.recycle(std::move(page));
    if (options_.on_progress) {
      const Clock::time_point now = Clock::now();
      if (now - last_progress >= std::chrono::milliseconds(kProgressIntervalMs)) {
        last_progress = now;
        options_.on_progress(events, std::chrono::duration<double>(now - started).count());
      }
    }
    if (last) break;
  }
  const std::int64_t leaves = read_log_size(tx);
  if (!in_order || !all_made || !fast_pass_holds(rebuilt, leaves)) return Status::Ok();
  *holds = true;
  report_->events = events;
  report_->leaves = leaves;
  report_->rebuilt_size = static_cast<std::int64_t>(rebuilt.size);
  report_->not_yet_sealed = unsealed;
  return Status::Ok();
}

Status Verification::run() {
  const Clock::time_point started = Clock::now();
  // The auditor's note first: an unusable one is an input error, before any reading.
  if (options_.auditor_checkpoint_note) {
    std::string text;
    CheckpointBody body;
    if (Status s = verify_note(*options_.auditor_checkpoint_note, options_.trusted_key, &text); !s.ok()) {
      finding(LogFindingKind::kAuditorCheckpoint, "bad signature: " + s.message());
    } else if (Status p = parse_checkpoint_body(text, &body); !p.ok()) {
      return Status::Invalid("--checkpoint: not a checkpoint: " + p.message());
    } else {
      auditor_ = body;
    }
  }

  DatabaseLimits limits;
  limits.statement_timeout_ms = 0;
  limits.idle_in_transaction_timeout_ms = 0;
  limits.key_lookups_only = false;
  std::unique_ptr<pqxx::connection> conn = open_connection(options_.database_url, limits);
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "verify");
  // One snapshot for every session: leaves, events and checkpoints are read as of one instant, so a sealer
  // running meanwhile shows nothing half-done.
  snapshot_ = tx.exec("SELECT pg_export_snapshot()")[0][0].as<std::string>();
  checkpoints_ = read_log_checkpoints(tx);
  report_->checkpoints = static_cast<std::int64_t>(checkpoints_.size());
  const Checkpoint sealed = read_checkpoint(tx, kMerkleLogProjection);
  std::uint64_t sealed_txid = 0;
  if (!parse_uint(sealed.transaction_id, &sealed_txid)) return Status::Internal("projection_checkpoints merkle_log: bad transaction_id");
  check_stored_checkpoint_notes();
  for (const StoredCheckpoint& c : checkpoints_) roots_wanted_[static_cast<std::uint64_t>(c.tree_size)] = MerkleHash{};
  if (auditor_) roots_wanted_[auditor_->tree_size] = MerkleHash{};
  if (auto it = roots_wanted_.find(0); it != roots_wanted_.end()) it->second = merkle_empty_root();

  // The common case first: the events alone, rebuilt into the tree, give every signed root. Only when something
  // does not hold does the full comparison below run, to name the rows that differ.
  if (!options_.deep && report_->findings_total() == 0) {
    bool holds = false;
    if (Status s = rebuild_from_events_alone(tx, sealed, sealed_txid, started, &holds); !s.ok()) return s;
    if (holds) {
      report_->seconds = std::chrono::duration<double>(Clock::now() - started).count();
      return Status::Ok();
    }
    report_->events = report_->not_yet_sealed = 0;
  }

  EventPageReader reader(options_.database_url, snapshot_, /*make_leaf_hashes=*/true);
  report_->readers = 1;
  // Without --deep the stored leaf data is not read (it is the largest column): a leaf is checked by its hash,
  // and read only to say what differs.
  pqxx::stream_from leaves(tx, std::string("(SELECT leaf_index, position, ") + (options_.deep ? "leaf_data" : "''") +
                                   ", encode(leaf_hash, 'hex') FROM log_leaves ORDER BY leaf_index)");

  StoredLeaf leaf;
  bool have_leaf = next_leaf(leaves, &leaf);
  if (have_leaf) ++report_->leaves;
  std::int64_t expected_leaf_index = 0;
  std::unique_ptr<EventPage> page = reader.next();
  std::size_t at = 0;
  std::string recomputed;
  Clock::time_point last_progress = started;
  auto current_event = [&]() -> const RecordedEvent* {
    while (page && at == page->size) {
      if (!page->status.ok()) return nullptr;
      if (page->last) return nullptr;
      reader.recycle(std::move(page));
      page = reader.next();
      at = 0;
    }
    return page ? &page->events[at] : nullptr;
  };
  auto advance_leaf = [&] {
    have_leaf = next_leaf(leaves, &leaf);
    if (have_leaf) ++report_->leaves;
  };
  auto in_sealed = [&](const RecordedEvent& e) { return Verification::in_sealed(e, sealed, sealed_txid); };
  auto event_at = [](const RecordedEvent& e) {
    return "position " + std::to_string(e.position) + " stream " + e.stream_id + " version " + std::to_string(e.stream_version);
  };
  auto recompute = [&](const RecordedEvent& e, MerkleHash* hash) {
    if (Status s = log_leaf_data(e, &recomputed); !s.ok()) {
      finding(LogFindingKind::kDiffers, event_at(e) + ": the event has no leaf data: " + s.message());
      recomputed.clear();
    }
    *hash = merkle_leaf_hash(recomputed);
  };

  for (;;) {
    const RecordedEvent* e = current_event();
    if (e == nullptr && !have_leaf) break;
    if (have_leaf && leaf.leaf_index != expected_leaf_index) {
      finding(LogFindingKind::kLeafIndex, "leaf index " + std::to_string(leaf.leaf_index) + " where " +
                                              std::to_string(expected_leaf_index) + " was due");
      expected_leaf_index = leaf.leaf_index;
    }
    MerkleHash hash;
    if (e != nullptr && have_leaf && e->position == leaf.position) {
      hash = page->leaf_hashes[at];
      if (page->leaf_ok[at] == 0) {
        recompute(*e, &hash);  // reports why it has no leaf data
      } else if (options_.deep || hash != leaf.leaf_hash) {
        recompute(*e, &hash);
        const std::string stored = stored_leaf_data(leaf);
        if (recomputed != stored) {
          finding(LogFindingKind::kDiffers, "leaf " + std::to_string(leaf.leaf_index) + " " + event_at(*e) + ": " +
                                                describe_leaf_difference(stored, recomputed));
          if (merkle_leaf_hash(stored) != leaf.leaf_hash) {
            finding(LogFindingKind::kDiffers, "leaf " + std::to_string(leaf.leaf_index) + " " + event_at(*e) +
                                                  ": leaf_hash is not SHA-256(0x00 || leaf_data) either");
          }
        } else if (hash != leaf.leaf_hash) {
          finding(LogFindingKind::kDiffers, "leaf " + std::to_string(leaf.leaf_index) + " " + event_at(*e) +
                                                ": leaf_hash differs: log has " + merkle_base64(leaf.leaf_hash) + ", SHA-256(0x00 || leaf_data) is " + merkle_base64(hash));
        }
      }
      append_rebuilt(hash);
      ++at;
      ++report_->events;
      ++expected_leaf_index;
      advance_leaf();
    } else if (e != nullptr && (!have_leaf ? true : in_sealed(*e) && event_exists(leaf.position))) {
      // An event with no leaf here: past the last sealed event it is merely not sealed yet; before it, the
      // sealer would have made it a leaf, so it was added behind the log's back (or moved).
      if (in_sealed(*e)) {
        finding(LogFindingKind::kAdded, event_at(*e) + " (transaction " + e->transaction_id +
                                            "): at or before the last sealed event, but not in the log");
        recompute(*e, &hash);
        append_rebuilt(hash);
      } else {
        ++report_->not_yet_sealed;
      }
      ++at;
      ++report_->events;
    } else {
      // A leaf whose event is gone (no event at its position, or the events ran out).
      std::string stream_id;
      std::int64_t version = 0;
      leaf_stream(stored_leaf_data(leaf), &stream_id, &version);
      finding(LogFindingKind::kDeleted, "leaf " + std::to_string(leaf.leaf_index) + " position " +
                                            std::to_string(leaf.position) + " stream " + stream_id + " version " +
                                            std::to_string(version) + ": in the log, but deleted from events");
      ++expected_leaf_index;
      advance_leaf();
    }
    if ((report_->events & 0x3fff) == 0 && options_.on_progress) {
      const Clock::time_point now = Clock::now();
      if (now - last_progress >= std::chrono::milliseconds(kProgressIntervalMs)) {
        last_progress = now;
        options_.on_progress(report_->events, std::chrono::duration<double>(now - started).count());
      }
    }
  }
  if (page && !page->status.ok()) return page->status;
  leaves.complete();
  report_->rebuilt_size = static_cast<std::int64_t>(frontier_.size());

  // Roots at every checkpoint's size.
  const std::uint64_t size = frontier_.size();
  for (const StoredCheckpoint& c : checkpoints_) {
    const std::string at_size = "tree size " + std::to_string(c.tree_size) + ": ";
    if (static_cast<std::uint64_t>(c.tree_size) > size) {
      finding(LogFindingKind::kCheckpoint, at_size + "beyond the rebuilt log of " + std::to_string(size) + " leaves");
    } else if (roots_wanted_[c.tree_size] != c.root_hash) {
      finding(LogFindingKind::kCheckpoint, at_size + "root differs: signed " + merkle_base64(c.root_hash) + ", rebuilt from events " +
                                               merkle_base64(roots_wanted_[c.tree_size]));
    }
  }
  if (!checkpoints_.empty() && checkpoints_.back().tree_size != report_->leaves) {
    finding(LogFindingKind::kCheckpoint, "the latest checkpoint covers " + std::to_string(checkpoints_.back().tree_size) +
                                             " leaves, but the log has " + std::to_string(report_->leaves));
  } else if (checkpoints_.empty() && report_->leaves > 0) {
    finding(LogFindingKind::kCheckpoint, "the log has " + std::to_string(report_->leaves) + " leaves and no checkpoint");
  }
  if (auditor_) {
    const std::string at_size = "tree size " + std::to_string(auditor_->tree_size) + ": ";
    if (auditor_->origin != options_.trusted_key.name) {
      finding(LogFindingKind::kAuditorCheckpoint, at_size + "origin " + auditor_->origin + " is not " + options_.trusted_key.name);
    } else if (auditor_->tree_size > size) {
      finding(LogFindingKind::kAuditorCheckpoint, at_size + "beyond the rebuilt log of " + std::to_string(size) + " leaves");
    } else if (roots_wanted_[auditor_->tree_size] != auditor_->root_hash) {
      finding(LogFindingKind::kAuditorCheckpoint, at_size + "root differs: the saved note has " + merkle_base64(auditor_->root_hash) +
                                                      ", today's log " + merkle_base64(roots_wanted_[auditor_->tree_size]) +
                                                      ": the log is not consistent with it");
    }
  }
  if (options_.deep) {
    if (Status s = check_nodes(tx); !s.ok()) return s;
  }
  report_->seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return Status::Ok();
}

}  // namespace

const char* log_finding_kind_name(LogFindingKind kind) {
  switch (kind) {
    case LogFindingKind::kDiffers: return "differs";
    case LogFindingKind::kDeleted: return "deleted";
    case LogFindingKind::kAdded: return "added";
    case LogFindingKind::kLeafIndex: return "leaf-index";
    case LogFindingKind::kNode: return "node";
    case LogFindingKind::kCheckpoint: return "checkpoint";
    case LogFindingKind::kAuditorCheckpoint: return "saved-checkpoint";
  }
  return "?";
}

std::int64_t LogVerifyReport::findings_total() const {
  std::int64_t total = 0;
  for (const std::int64_t n : findings) total += n;
  return total;
}

std::string LogVerifyReport::summary() const {
  std::string s = ok() ? "verify: OK" : "verify: FAILED";
  s += ": " + std::to_string(events) + " events, " + std::to_string(leaves) + " leaves, rebuilt tree of " +
       std::to_string(rebuilt_size) + ", " + std::to_string(not_yet_sealed) + " not yet sealed, " +
       std::to_string(checkpoints) + " checkpoints, " + std::to_string(nodes) + " nodes;";
  for (std::size_t k = 0; k < kLogFindingKinds; ++k) {
    s += std::string(k == 0 ? " " : ", ") + log_finding_kind_name(static_cast<LogFindingKind>(k)) + " " + std::to_string(findings[k]);
  }
  s += "; read by " + std::to_string(readers) + (readers == 1 ? " reader" : " readers");
  char rate[96];
  std::snprintf(rate, sizeof rate, "; %.2f s, %.0f events/s", seconds, seconds > 0 ? static_cast<double>(events) / seconds : 0.0);
  return s + rate;
}

Status verify_log(const LogVerifyOptions& options, LogVerifyReport* report) {
  *report = LogVerifyReport{};
  try {
    return Verification(options, report).run();
  } catch (const std::exception& e) {
    return Status::Unavailable(single_line(e.what()));
  }
}

}  // namespace ledger
