// LogVerifier (`carbon-ledger verify`): recomputes the verifiable log from the events table and checks what is
// stored against it. Every event's leaf data is recomputed (log_leaf_data) and compared byte for byte with its
// stored leaf, the tree is rebuilt from the recomputed leaf hashes, every stored node is compared with the
// rebuilt one, and at every signed checkpoint's tree size the rebuilt root must be the signed root, under a
// signature by the trusted key. So an edit of an event, a leaf, a node or a checkpoint behind the triggers' back
// (a superuser, a restored backup) shows, and one that rewrites events and leaves together still breaks the
// signed roots. Read-only: runs as the owner or an auditor (ledger_auditor may SELECT every table it reads).
// Knows nothing of what the events mean. Findings are values handed to a callback, one line each.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "eventstore/signed_note.h"
#include "eventstore/status.h"

namespace ledger {

// Lines listed per kind of finding; the rest are counted only, so a wholesale rewrite does not flood the
// output.
inline constexpr std::size_t kLogVerifyLinesPerKindMax = 20;
// Events per page the reader thread hands over, and pages it may decode ahead (bounds memory).
inline constexpr std::size_t kLogVerifyPageEventsMax = 2048;
inline constexpr std::size_t kLogVerifyPagesAheadMax = 4;
// The fast pass (the log rebuilt from the events alone) reads the table in parallel, unordered, with one reader
// thread and session per core (at least 2, at most kLogVerifyReadersMax) when it has kLogVerifyParallelPagesMin
// heap pages or more, and sorts (transaction id, position, leaf hash) in memory, then merges the leaf hashes
// into one array: about 80 bytes an event at the peak, so at most kLogVerifyFastPassEventsMax events
// (1.3 GiB); a larger log is read in its order by one reader.
inline constexpr std::size_t kLogVerifyReadersMax = 8;
inline constexpr std::int64_t kLogVerifyParallelPagesMin = 64;
inline constexpr std::int64_t kLogVerifyFastPassEventsMax = std::int64_t{1} << 24;

enum class LogFindingKind {
  kDiffers,             // a leaf whose event (same position) no longer gives the same leaf data or hash
  kDeleted,             // a leaf whose event is not in events
  kAdded,               // an event at or before the last sealed one with no leaf
  kLeafIndex,           // stored leaf indexes not 0, 1, 2, ...
  kNode,                // a stored node that is not the rebuilt one (or missing, or extra)
  kCheckpoint,          // a stored checkpoint: bad signature, note and row disagree, root or size wrong
  kAuditorCheckpoint,   // the checkpoint the auditor passed
};
inline constexpr std::size_t kLogFindingKinds = 7;
const char* log_finding_kind_name(LogFindingKind kind);

struct LogVerifyOptions {
  std::string database_url;
  NoteVerifier trusted_key;
  // A note an auditor saved earlier (--checkpoint FILE): it must verify with the trusted key and its root be
  // the rebuilt root at its size.
  std::optional<std::string> auditor_checkpoint_note;
  // --deep: also compare every stored leaf's data byte for byte (not only its hash) and every stored tree node
  // with the rebuilt one. Without it a leaf is checked by its hash (what the signed roots commit to), which
  // reads a third of the bytes.
  bool deep = false;
  // Events the parallel fast pass may hold (tests lower it to take the ordered one).
  std::int64_t fast_pass_events_max = kLogVerifyFastPassEventsMax;
  std::size_t lines_per_kind_max = kLogVerifyLinesPerKindMax;
  std::function<void(std::string_view line)> on_finding;                       // one line, no newline
  std::function<void(std::int64_t events, double seconds)> on_progress;        // about once a second
};

struct LogVerifyReport {
  std::int64_t events = 0;           // rows read from events
  std::int64_t leaves = 0;           // rows read from log_leaves
  std::int64_t rebuilt_size = 0;     // leaves of the rebuilt tree (events at or before the last sealed one)
  std::int64_t not_yet_sealed = 0;   // events after the last sealed one: counted, not an error
  std::int64_t checkpoints = 0;      // stored checkpoints checked
  std::int64_t nodes = 0;            // stored nodes compared
  std::int64_t readers = 0;          // sessions that read the events at once (the fast pass's, else 1)
  std::array<std::int64_t, kLogFindingKinds> findings{};
  double seconds = 0;

  std::int64_t findings_total() const;
  bool ok() const { return findings_total() == 0; }
  std::string summary() const;  // one line
};

// Runs the verification in one snapshot of the database (shared by the sessions it opens). A non-ok Status
// is an IO or input error (the database could not be read, the auditor's note is not a checkpoint); the
// verification's outcome is *report.
Status verify_log(const LogVerifyOptions& options, LogVerifyReport* report);

}  // namespace ledger
