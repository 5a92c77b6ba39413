// `carbon-ledger verify`: an untouched sealed log passes; every kind of edit a superuser can make behind the
// triggers' back is named (an event's data, a deleted or forged event, swapped versions, a checkpoint signed by
// another key, leaves rewritten together with their event) and fails with exit 1; a checkpoint an auditor
// saved earlier is checked against today's log.
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "eventstore/binary_copy.h"
#include "eventstore/event_store.h"
#include "eventstore/log_verifier.h"
#include "eventstore/merkle.h"
#include "eventstore/merkle_log.h"
#include "eventstore/signed_note.h"
#include "eventstore/signing_key_file.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;

int exit_code(const RunResult& r) { return WIFEXITED(r.wait_status) ? WEXITSTATUS(r.wait_status) : -1; }

std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    begin = end + 1;
  }
  return out;
}

class LogVerify : public LedgerFixture {
 protected:

  // Several registers, a sale and a retirement, sealed; then the projector stops so it does not halt on
  // the edits the tests make.
  void build_sealed_log() {
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(register_new("VERIFY-" + std::to_string(i)));
    ASSERT_EQ(sell(ids[0], "buyer-a").status, 200);
    ASSERT_TRUE(wait_until_sealed());
    ASSERT_EQ(retire(ids[0], R"({"beneficiary":"Acme","reason":"Scope 1"})").status, 200);
    ASSERT_TRUE(wait_until_sealed());
    stop_projector();
    size_ = query_int("SELECT count(*) FROM log_leaves");
    ASSERT_GE(size_, 6);
  }

  RunResult verify(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"verify", "--public-key", verifier_key_};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ledger(args);
  }

  std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = work_dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // The event at this leaf index: position, stream id, version.
  struct At {
    std::int64_t position;
    std::string stream_id;
    std::int64_t version;
  };
  At event_of_leaf(std::int64_t leaf_index) {
    const std::string where = " FROM events WHERE position = (SELECT position FROM log_leaves WHERE leaf_index = " +
                              std::to_string(leaf_index) + ")";
    return At{query_int("SELECT position" + where), query_scalar("SELECT stream_id::text" + where),
              query_int("SELECT stream_version" + where)};
  }

  std::int64_t size_ = 0;
};

TEST_F(LogVerify, AnUntouchedLogPassesAsOwnerAndAsAuditor) {
  build_sealed_log();
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 0) << run.out << run.describe();
  EXPECT_NE(run.out.find("verify: OK"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(std::to_string(size_) + " leaves"), std::string::npos) << run.out;

  // An auditor login (read-only) may run it too, with the key from a file.
  const std::string auditor = LoginIn("ledger_auditor");
  const std::string key_file = write_file("verifier.pub", verifier_key_ + "\n");
  const RunResult as_auditor = run_to_completion(ledger_binary(), {"verify", "--public-key", key_file},
                                                 {{"DATABASE_URL", role_url(auditor)}}, work_dir(), 60s);
  EXPECT_EQ(exit_code(as_auditor), 0) << as_auditor.out << as_auditor.describe();

  // No key at all is a usage error.
  const RunResult no_key = run_ledger({"verify"});
  EXPECT_EQ(exit_code(no_key), 2) << no_key.describe();
  EXPECT_NE(no_key.err.find("--public-key"), std::string::npos) << no_key.err;
}

TEST_F(LogVerify, AnEditedEventsDataIsNamedAndNoOtherEvent) {
  build_sealed_log();
  const At at = event_of_leaf(2);
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER; UPDATE events SET data = jsonb_set(data, '{forged}', 'true')"
           " WHERE position = " + std::to_string(at.position) + "; ALTER TABLE events ENABLE TRIGGER USER");
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  const auto differs = lines_with(run.out, "differs:");
  ASSERT_EQ(differs.size(), 1u) << run.out;
  EXPECT_NE(differs[0].find("position " + std::to_string(at.position) + " stream " + at.stream_id + " version " +
                            std::to_string(at.version)), std::string::npos) << differs[0];
  EXPECT_NE(differs[0].find("data differs"), std::string::npos) << differs[0];
  EXPECT_EQ(differs[0].find("stream_version differs"), std::string::npos) << differs[0];
  EXPECT_TRUE(lines_with(run.out, "deleted:").empty() && lines_with(run.out, "added:").empty()) << run.out;
}

TEST_F(LogVerify, ADeletedEventIsReported) {
  build_sealed_log();
  const At at = event_of_leaf(3);
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER; DELETE FROM events WHERE position = " + std::to_string(at.position) +
           "; ALTER TABLE events ENABLE TRIGGER USER");
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  const auto deleted = lines_with(run.out, "deleted:");
  ASSERT_EQ(deleted.size(), 1u) << run.out;
  EXPECT_NE(deleted[0].find("position " + std::to_string(at.position) + " stream " + at.stream_id), std::string::npos)
      << deleted[0];
  EXPECT_TRUE(lines_with(run.out, "differs:").empty()) << run.out;
}

TEST_F(LogVerify, AForgedEventInTheSealedPastIsReportedAsAdded) {
  build_sealed_log();
  // An old transaction id puts it among the sealed events; a position far past the others.
  const std::string old_xid = query_scalar("SELECT min(transaction_id)::text FROM events");
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER; INSERT INTO events (position, transaction_id, stream_id,"
           " stream_version, event_id, event_type, data) OVERRIDING SYSTEM VALUE VALUES (900000, '" + old_xid +
           "'::xid8, '6f1b2c3d-0000-4000-8000-000000000001', 1, gen_random_uuid(), 'CREATED',"
           " '{\"project_name\":\"Forged\",\"registry\":\"Verra\",\"vintage\":2020,\"quantity\":5,\"serial_number\":\"FORGED-1\"}');"
           " ALTER TABLE events ENABLE TRIGGER USER");
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  const auto added = lines_with(run.out, "added:");
  ASSERT_EQ(added.size(), 1u) << run.out;
  EXPECT_NE(added[0].find("position 900000 stream 6f1b2c3d-0000-4000-8000-000000000001 version 1"), std::string::npos)
      << added[0];
  EXPECT_TRUE(lines_with(run.out, "differs:").empty() && lines_with(run.out, "deleted:").empty()) << run.out;
}

TEST_F(LogVerify, SwappedVersionsOfAStreamAreNamed) {
  build_sealed_log();
  const std::string stream = query_scalar("SELECT stream_id::text FROM events WHERE stream_version = 3 LIMIT 1");
  ASSERT_FALSE(stream.empty());
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER;"
           " UPDATE events SET stream_version = 1000 WHERE stream_id = '" + stream + "' AND stream_version = 2;"
           " UPDATE events SET stream_version = 2 WHERE stream_id = '" + stream + "' AND stream_version = 3;"
           " UPDATE events SET stream_version = 3 WHERE stream_id = '" + stream + "' AND stream_version = 1000;"
           " ALTER TABLE events ENABLE TRIGGER USER");
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  const auto differs = lines_with(run.out, "differs:");
  ASSERT_EQ(differs.size(), 2u) << run.out;
  for (const std::string& line : differs) {
    EXPECT_NE(line.find("stream " + stream), std::string::npos) << line;
    EXPECT_NE(line.find("stream_version differs"), std::string::npos) << line;
  }
  EXPECT_NE(run.out.find("stream_version differs: log has 2, events has 3"), std::string::npos) << run.out;
}

TEST_F(LogVerify, ACheckpointSignedByAnotherKeyIsABadSignature) {
  build_sealed_log();
  NoteVerifier trusted;
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &trusted).ok());
  NoteSigner other;
  ASSERT_TRUE(generate_note_signer(trusted.name, &other).ok());
  CheckpointBody body;
  body.origin = trusted.name;
  body.tree_size = static_cast<std::uint64_t>(size_);
  ASSERT_TRUE(merkle_from_hex(query_scalar("SELECT encode(root_hash, 'hex') FROM log_checkpoints WHERE tree_size = " +
                                           std::to_string(size_)), &body.root_hash));
  const std::string note = sign_note(other, format_checkpoint_body(body));
  pqxx::connection conn(database_url());
  pqxx::work tx(conn);
  tx.exec("ALTER TABLE log_checkpoints DISABLE TRIGGER USER");
  tx.exec_params("UPDATE log_checkpoints SET note = $1, verifier_key = $2 WHERE tree_size = $3", note,
                 format_verifier_key(other.verifier), size_);
  tx.exec("ALTER TABLE log_checkpoints ENABLE TRIGGER USER");
  tx.commit();
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  const auto bad = lines_with(run.out, "checkpoint: tree size " + std::to_string(size_) + ": bad signature");
  EXPECT_EQ(bad.size(), 1u) << run.out;
  EXPECT_TRUE(lines_with(run.out, "differs:").empty()) << run.out;
}

TEST_F(LogVerify, ASavedCheckpointPassesAndOneFromAnotherLogOrWithAnotherRootFails) {
  build_sealed_log();
  // An earlier checkpoint than the latest: still consistent with today's log.
  const std::string saved = query_scalar("SELECT note FROM log_checkpoints ORDER BY tree_size LIMIT 1");
  const RunResult good = verify({"--checkpoint", write_file("saved.note", saved)});
  EXPECT_EQ(exit_code(good), 0) << good.out << good.describe();

  NoteVerifier trusted;
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &trusted).ok());
  CheckpointBody body;
  std::string text;
  ASSERT_TRUE(verify_note(saved, trusted, &text).ok());
  ASSERT_TRUE(parse_checkpoint_body(text, &body).ok());

  NoteSigner other;
  ASSERT_TRUE(generate_note_signer(trusted.name, &other).ok());
  const RunResult foreign = verify({"--checkpoint", write_file("foreign.note", sign_note(other, format_checkpoint_body(body)))});
  EXPECT_EQ(exit_code(foreign), 1) << foreign.out << foreign.describe();
  EXPECT_FALSE(lines_with(foreign.out, "saved-checkpoint: bad signature").empty()) << foreign.out;

  // Signed by the log's own key, but with another root: today's log is not consistent with it.
  NoteSigner own;
  ASSERT_TRUE(read_signing_key_file(signing_key_file_, &own).ok());
  CheckpointBody changed = body;
  changed.root_hash[0] ^= 1;
  const RunResult other_root = verify({"--checkpoint", write_file("changed.note", sign_note(own, format_checkpoint_body(changed)))});
  EXPECT_EQ(exit_code(other_root), 1) << other_root.out << other_root.describe();
  EXPECT_FALSE(lines_with(other_root.out, "saved-checkpoint: tree size " + std::to_string(body.tree_size) + ": root differs").empty())
      << other_root.out;

  CheckpointBody beyond = body;
  beyond.tree_size = static_cast<std::uint64_t>(size_ + 5);
  const RunResult too_big = verify({"--checkpoint", write_file("beyond.note", sign_note(own, format_checkpoint_body(beyond)))});
  EXPECT_EQ(exit_code(too_big), 1) << too_big.out << too_big.describe();
  EXPECT_NE(too_big.out.find("beyond the rebuilt log"), std::string::npos) << too_big.out;
}

TEST_F(LogVerify, AnEventRewrittenTogetherWithItsLeafIsCaughtByTheSignedRoot) {
  build_sealed_log();
  const At at = event_of_leaf(1);
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER; UPDATE events SET data = jsonb_set(data, '{forged}', 'true')"
           " WHERE position = " + std::to_string(at.position) + "; ALTER TABLE events ENABLE TRIGGER USER");
  // The attacker recomputes the leaf from the edited event and rewrites leaf_data and leaf_hash to match.
  pqxx::connection conn(database_url());
  pqxx::work tx(conn);
  const std::vector<RecordedEvent> events = read_events_after(tx, Checkpoint{}, read_horizon(tx), 100000);
  std::string leaf_data;
  for (const RecordedEvent& e : events) {
    if (e.position == at.position) {
      ASSERT_TRUE(log_leaf_data(e, &leaf_data).ok());
    }
  }
  ASSERT_FALSE(leaf_data.empty());
  tx.exec("ALTER TABLE log_leaves DISABLE TRIGGER USER");
  tx.exec_params("UPDATE log_leaves SET leaf_data = $1, leaf_hash = decode($2, 'hex') WHERE leaf_index = 1", leaf_data,
                 merkle_hex(merkle_leaf_hash(leaf_data)));
  tx.exec("ALTER TABLE log_leaves ENABLE TRIGGER USER");
  tx.commit();
  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 1) << run.out << run.describe();
  EXPECT_TRUE(lines_with(run.out, "differs:").empty()) << run.out;  // leaf and event agree now
  EXPECT_FALSE(lines_with(run.out, "checkpoint: tree size " + std::to_string(size_) + ": root differs").empty()) << run.out;
  // --deep also names the stored nodes above the rewritten leaf, which no longer match it.
  const RunResult deep = verify({"--deep"});
  EXPECT_EQ(exit_code(deep), 1) << deep.out << deep.describe();
  EXPECT_FALSE(lines_with(deep.out, "node: ").empty()) << deep.out;
}

// A log of a few thousand events (so the fast pass reads the table with several readers, unordered, and
// sorts): events of a transaction that took its id first but wrote last (later on the heap, earlier in the
// log's order), and some not yet sealed. It passes; an edit is still named.
TEST_F(LogVerify, ALargeLogReadInParallelAndOutOfHeapOrderPassesAndAnEditIsNamed) {
  constexpr int kLateEvents = 200, kEarlyEvents = 4000;
  auto seed = [](int count, const std::string& tag) {
    return "INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)"
           " SELECT md5('" + tag + "' || i)::uuid, 1, gen_random_uuid(), 'CREATED',"
           " jsonb_build_object('project_name', 'P ' || i, 'registry', 'Verra', 'vintage', 2000 + i % 25,"
           " 'quantity', i, 'serial_number', '" + tag + "-' || i, 'note', E'tab\\there \\u00e9 \"q\"'),"
           " jsonb_build_object('request_id', '" + tag + "-' || i) FROM generate_series(1, " + std::to_string(count) + ") AS i";
  };
  {
    pqxx::connection late(database_url());
    pqxx::work late_tx(late);
    late_tx.exec("SELECT pg_current_xact_id()");  // its id now, its events after the others'
    exec_sql(seed(kEarlyEvents, "early"));
    late_tx.exec(seed(kLateEvents, "late"));
    late_tx.commit();
  }
  ASSERT_LT(query_int("SELECT max(position) FROM events WHERE data->>'serial_number' LIKE 'early-%'"),
            query_int("SELECT min(position) FROM events WHERE data->>'serial_number' LIKE 'late-%'"));
  ASSERT_GE(query_int("SELECT pg_relation_size('events') / current_setting('block_size')::bigint"), 64);
  ASSERT_TRUE(wait_until_sealed(60s));
  stop_projector();
  exec_sql(seed(50, "unsealed"));
  const std::int64_t leaves = query_int("SELECT count(*) FROM log_leaves");
  // The log's order put the late transaction's events first, as the sealer made them leaves.
  EXPECT_EQ(query_scalar("SELECT data->>'serial_number' FROM events e JOIN log_leaves l USING (position)"
                         " WHERE data->>'serial_number' LIKE 'late-%' OR data->>'serial_number' LIKE 'early-%'"
                         " ORDER BY leaf_index LIMIT 1").substr(0, 5), "late-");

  const RunResult run = verify();
  EXPECT_EQ(exit_code(run), 0) << run.out << run.describe();
  EXPECT_NE(run.out.find("verify: OK: " + std::to_string(leaves + 50) + " events, " + std::to_string(leaves) +
                         " leaves, rebuilt tree of " + std::to_string(leaves) + ", 50 not yet sealed"),
            std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("read by 1 reader"), std::string::npos) << run.out;

  // Past the bound on what the parallel pass may hold, the log is read in its order by one reader: the same.
  LogVerifyOptions options;
  options.database_url = database_url();
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &options.trusted_key).ok());
  options.fast_pass_events_max = 1000;
  LogVerifyReport report;
  ASSERT_TRUE(verify_log(options, &report).ok());
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.readers, 1) << report.summary();
  EXPECT_EQ(report.rebuilt_size, leaves);
  EXPECT_EQ(report.not_yet_sealed, 50);

  const std::string late_position = query_scalar("SELECT position FROM events WHERE data->>'serial_number' = 'late-7'");
  exec_sql("ALTER TABLE events DISABLE TRIGGER USER; UPDATE events SET data = jsonb_set(data, '{quantity}', '8')"
           " WHERE position = " + late_position + "; ALTER TABLE events ENABLE TRIGGER USER");
  const RunResult edited = verify();
  EXPECT_EQ(exit_code(edited), 1) << edited.out << edited.describe();
  const auto differs = lines_with(edited.out, "differs:");
  ASSERT_EQ(differs.size(), 1u) << edited.out;
  EXPECT_NE(differs[0].find("position " + late_position + " "), std::string::npos) << differs[0];
}

TEST_F(LogVerify, DeepComparesStoredLeafDataByteForByte) {
  build_sealed_log();
  // The stored leaf data alone is rewritten (its hash kept): proofs would serve it, so --deep reports it.
  exec_sql("ALTER TABLE log_leaves DISABLE TRIGGER USER; UPDATE log_leaves SET leaf_data = leaf_data || ' '"
           " WHERE leaf_index = 2; ALTER TABLE log_leaves ENABLE TRIGGER USER");
  EXPECT_EQ(exit_code(verify()), 0);  // the hashes, the tree and the checkpoints all hold
  const RunResult deep = verify({"--deep"});
  EXPECT_EQ(exit_code(deep), 1) << deep.out << deep.describe();
  const auto differs = lines_with(deep.out, "differs:");
  ASSERT_FALSE(differs.empty()) << deep.out;
  EXPECT_NE(differs[0].find("leaf 2 "), std::string::npos) << differs[0];
}

// The binary COPY reader and its decoders, against PostgreSQL's own text forms of the same values: a
// timestamp as rfc3339_utc_sql writes it (across leap days, centuries, before 2000 and the year's ends), a
// uuid as ::text; and its errors as values.
class BinaryCopy : public LedgerFixture {
 protected:
  BinaryCopy() { start_services_in_setup_ = false; }
};

TEST_F(BinaryCopy, DecodesTimestampsAndUuidsAsPostgresWritesThemAsText) {
  std::unique_ptr<BinaryCopyReader> reader;
  const std::string values =
      "SELECT t, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), u, u::text FROM ("
      " SELECT timestamptz '0001-01-01 00:00:00+00' + (random() * 3650000) * interval '1 day' +"
      "   (random() * 86400000000)::bigint * interval '1 microsecond' AS t, gen_random_uuid() AS u"
      "   FROM generate_series(1, 20000)"
      " UNION ALL SELECT t::timestamptz, gen_random_uuid() FROM unnest(ARRAY['2000-01-01 00:00:00+00',"
      "   '1999-12-31 23:59:59.999999+00', '2000-02-29 12:00:00+00', '1900-02-28 23:59:59+00', '2100-03-01 00:00:00+00',"
      "   '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999+00', '2026-12-01 21:29:23.123456+00',"
      "   '1970-01-01 00:00:00+00', '1969-12-31 23:59:59.5+00']) AS t) AS v";
  ASSERT_TRUE(BinaryCopyReader::open(database_url(), 10, "BEGIN", "COPY (" + values + ") TO STDOUT (FORMAT binary)", &reader).ok());
  BinaryCopyField f[4];
  int rows = 0;
  for (;;) {
    bool got = false;
    const Status s = reader->next_row(f, 4, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (!got) break;
    ++rows;
    char when[kRfc3339MicrosSize], id[kUuidTextSize];
    ASSERT_TRUE(binary_copy_timestamp_rfc3339(f[0].bytes, when)) << f[1].bytes;
    EXPECT_EQ(std::string_view(when, sizeof when), f[1].bytes);
    ASSERT_TRUE(binary_copy_uuid_text(f[2].bytes, id));
    EXPECT_EQ(std::string_view(id, sizeof id), f[3].bytes);
    if (HasFailure()) break;
  }
  EXPECT_EQ(rows, 20010);

  // Errors are values: a statement that fails, a row with another number of fields, a cancelled COPY.
  std::unique_ptr<BinaryCopyReader> bad;
  EXPECT_FALSE(BinaryCopyReader::open(database_url(), 10, "BEGIN", "COPY (SELECT nope) TO STDOUT (FORMAT binary)", &bad).ok());
  ASSERT_TRUE(BinaryCopyReader::open(database_url(), 10, "BEGIN", "COPY (SELECT 1, 2) TO STDOUT (FORMAT binary)", &bad).ok());
  bool got = false;
  EXPECT_FALSE(bad->next_row(f, 3, &got).ok());
  ASSERT_TRUE(BinaryCopyReader::open(database_url(), 10, "BEGIN",
                                     "COPY (SELECT i, pg_sleep(0.01) FROM generate_series(1, 100000) i) TO STDOUT (FORMAT binary)", &bad).ok());
  ASSERT_TRUE(bad->next_row(f, 2, &got).ok() && got);
  const auto asked = std::chrono::steady_clock::now();
  bad->cancel();
  Status s;
  while ((s = bad->next_row(f, 2, &got)).ok() && got) {
  }
  EXPECT_FALSE(s.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 10s);
}

}  // namespace
}  // namespace ledger::test
