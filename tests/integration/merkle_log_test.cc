// The sealer inside `carbon-ledger project`: every event becomes a leaf, in the projector's gap-safe order,
// under signed checkpoints that verify with the log's public key and extend each other; an event committed late
// is sealed after it commits and nothing is skipped; and a stored tree that no longer matches its last signed
// checkpoint halts the sealer instead of being extended.
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "command/credit_id.h"
#include "eventstore/event_store.h"
#include "eventstore/merkle.h"
#include "eventstore/merkle_log.h"
#include "eventstore/signed_note.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;

class MerkleLog : public LedgerFixture {
 protected:
};

TEST_F(MerkleLog, EveryEventIsALeafInLogOrderUnderSignedConsistentCheckpoints) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(register_new("LOG-" + std::to_string(i)));
  ASSERT_EQ(sell(ids[0], "buyer-a").status, 200);
  ASSERT_TRUE(wait_until_sealed());
  ASSERT_EQ(retire(ids[0], R"({"beneficiary":"Acme Zürich","reason":"Scope 1"})").status, 200);
  ASSERT_TRUE(wait_until_sealed());

  pqxx::connection conn(database_url());
  pqxx::work tx(conn);
  // Leaves are the events in (transaction_id, position) order, each leaf data the event's canonical JSON.
  const std::vector<RecordedEvent> events = read_events_after(tx, Checkpoint{}, read_horizon(tx), 100000);
  const std::int64_t size = read_log_size(tx);
  ASSERT_EQ(static_cast<std::int64_t>(events.size()), size);
  ASSERT_GE(size, 6);
  const std::vector<LogLeaf> leaves = read_log_leaves(tx, 0, size);
  std::vector<MerkleHash> hashes;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_EQ(leaves[i].leaf_index, static_cast<std::int64_t>(i));
    EXPECT_EQ(leaves[i].position, events[i].position) << i;
    std::string expected;
    ASSERT_TRUE(log_leaf_data(events[i], &expected).ok());
    EXPECT_EQ(leaves[i].leaf_data, expected) << i;
    EXPECT_EQ(leaves[i].leaf_hash, merkle_leaf_hash(expected)) << i;
    hashes.push_back(leaves[i].leaf_hash);
  }
  EXPECT_NE(leaves.back().leaf_data.find("\"beneficiary\":\"Acme Zürich\""), std::string::npos);

  // At least two checkpoints (two seals); each verifies with the public key, says its size and root, and
  // extends the one before it.
  NoteVerifier verifier;
  ASSERT_TRUE(parse_verifier_key(verifier_key_, &verifier).ok());
  const std::vector<StoredCheckpoint> checkpoints = read_log_checkpoints(tx);
  ASSERT_GE(checkpoints.size(), 2u);
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    const StoredCheckpoint& c = checkpoints[i];
    EXPECT_EQ(c.verifier_key, verifier_key_);
    std::string text;
    ASSERT_TRUE(verify_note(c.note, verifier, &text).ok()) << c.note;
    CheckpointBody body;
    ASSERT_TRUE(parse_checkpoint_body(text, &body).ok());
    EXPECT_EQ(body.origin, "carbon-ledger.test/log");
    EXPECT_EQ(body.tree_size, static_cast<std::uint64_t>(c.tree_size));
    const std::span<const MerkleHash> prefix = std::span<const MerkleHash>(hashes).subspan(0, c.tree_size);
    EXPECT_EQ(body.root_hash, merkle_root(prefix));
    EXPECT_EQ(c.root_hash, body.root_hash);
    MerkleHash stored_root;
    ASSERT_TRUE(log_root(tx, c.tree_size, &stored_root).ok());
    EXPECT_EQ(stored_root, c.root_hash);
    if (i > 0) {
      std::vector<MerkleHash> proof;
      ASSERT_TRUE(log_consistency_proof(tx, checkpoints[i - 1].tree_size, c.tree_size, &proof).ok());
      EXPECT_EQ(proof, merkle_consistency_proof(prefix, checkpoints[i - 1].tree_size));
      EXPECT_TRUE(merkle_verify_consistency(checkpoints[i - 1].tree_size, c.tree_size, checkpoints[i - 1].root_hash,
                                            c.root_hash, proof));
    }
  }
  // Every stored inclusion proof verifies against the last checkpoint.
  const StoredCheckpoint& last = checkpoints.back();
  for (std::int64_t i = 0; i < size; ++i) {
    std::vector<MerkleHash> proof;
    ASSERT_TRUE(log_inclusion_proof(tx, i, last.tree_size, &proof).ok());
    EXPECT_TRUE(merkle_verify_inclusion(i, last.tree_size, hashes[i], proof, last.root_hash)) << i;
  }
  // Nobody edits the log, not even its writer: the tables are append-only.
  tx.abort();
  EXPECT_TRUE(contains(ErrorAs("", "UPDATE log_leaves SET leaf_data = '{}' WHERE leaf_index = 0"), "append-only"));
  EXPECT_TRUE(contains(ErrorAs("", "DELETE FROM log_checkpoints"), "append-only"));
  EXPECT_TRUE(contains(ErrorAs("", "TRUNCATE log_nodes"), "append-only"));
}

TEST_F(MerkleLog, AnEventCommittedLateIsSealedAfterItAndNothingIsSkipped) {
  ASSERT_EQ(get_record_eventually(register_new("LATE-BEFORE"), 1).status, 200);
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t sealed_before = query_int("SELECT count(*) FROM log_leaves");

  pqxx::connection held_connection(database_url());
  auto held = std::make_unique<pqxx::work>(held_connection);
  NewEvent event;
  event.stream_id = ledger::credit_id("Verra", "LATE-HELD");
  event.stream_version = 1;
  event.event_id = new_event_id();
  event.event_type = "CREATED";
  event.data_json = json_object({{"project_name", json_string("Held Project")}, {"registry", json_string("Verra")},
                                 {"vintage", "2021"}, {"quantity", "7"}, {"serial_number", json_string("LATE-HELD")}});
  event.metadata_json = "{}";
  ASSERT_TRUE(append_events(*held, {event}).ok());
  for (int i = 0; i < 3; ++i) register_new("LATE-AFTER-" + std::to_string(i));
  // While the writer holds its transaction, nothing after it is sealed (the horizon), however long we wait.
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(query_int("SELECT count(*) FROM log_leaves"), sealed_before);
  held->commit();
  held.reset();
  ASSERT_TRUE(wait_until_sealed());
  // The held event is sealed, once, before the events committed after it began.
  EXPECT_EQ(query_int("SELECT count(*) FROM log_leaves l JOIN events e USING (position) WHERE e.event_id = '" +
                      event.event_id + "'"),
            1);
  EXPECT_EQ(query_int("SELECT l.leaf_index FROM log_leaves l JOIN events e USING (position) WHERE e.event_id = '" +
                      event.event_id + "'"),
            sealed_before);
  EXPECT_EQ(query_int("SELECT count(*) FROM events e LEFT JOIN log_leaves l USING (position) WHERE l.position IS NULL"), 0);
}

TEST_F(MerkleLog, ATreeThatNoLongerMatchesItsCheckpointHaltsTheSealer) {
  register_new("HALT-0");
  register_new("HALT-1");
  register_new("HALT-2");
  ASSERT_TRUE(wait_until_sealed());
  stop_projector();
  const std::int64_t size = query_int("SELECT count(*) FROM log_leaves");
  // A superuser rewrites the stored tree behind the triggers' back (every stored hash, so the right edge the
  // sealer continues from is rewritten whatever the tree's shape).
  exec_sql("ALTER TABLE log_leaves DISABLE TRIGGER USER; ALTER TABLE log_nodes DISABLE TRIGGER USER;"
           " UPDATE log_leaves SET leaf_hash = sha256(leaf_hash); UPDATE log_nodes SET hash = sha256(hash);"
           " ALTER TABLE log_leaves ENABLE TRIGGER USER; ALTER TABLE log_nodes ENABLE TRIGGER USER");
  start_projector();
  register_new("HALT-3");
  // The sealer refuses to extend it: project exits non-zero, naming the disagreement, and /healthz says so.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (projector_->running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_FALSE(projector_->running());
  const int status = *projector_->exit_status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << describe_wait_status(status);
  EXPECT_TRUE(contains(projector_->stderr_text(), "not extending the log")) << projector_->stderr_text();
  EXPECT_EQ(query_int("SELECT count(*) FROM log_leaves"), size);
  EXPECT_TRUE(contains(query_scalar("SELECT halted_reason FROM projection_checkpoints WHERE projection_name = 'merkle_log'"),
                       "signed checkpoint says"));
  projector_.reset();  // it died on purpose
}

TEST_F(MerkleLog, ProjectWithoutAKeyDoesNotSealAndABadKeyFileRefusesToStart) {
  ASSERT_TRUE(wait_until_sealed());
  stop_projector();
  const std::int64_t sealed = query_int("SELECT count(*) FROM log_leaves");
  signing_key_file_.clear();
  start_projector();
  register_new("NOKEY-0");
  ASSERT_TRUE(wait_until_projected());
  std::this_thread::sleep_for(300ms);  // three checkpoint intervals of a sealer, were one running
  EXPECT_EQ(query_int("SELECT count(*) FROM log_leaves"), sealed);
  EXPECT_TRUE(contains(projector_->stderr_text(), "LEDGER_SIGNING_KEY_FILE is not set"));

  const std::string loose = work_dir() + "/loose.key";
  ASSERT_TRUE(run_ledger({"signing-key", "create", "--file", loose}).ok());
  ASSERT_EQ(::chmod(loose.c_str(), 0644), 0);
  const RunResult refused = run_ledger({"project"}, 20s, {{"LEDGER_SIGNING_KEY_FILE", loose}});
  EXPECT_TRUE(WIFEXITED(refused.wait_status) && WEXITSTATUS(refused.wait_status) == 2) << refused.describe();
  EXPECT_TRUE(contains(refused.err, "chmod 600")) << refused.describe();
}

}  // namespace
}  // namespace ledger::test
