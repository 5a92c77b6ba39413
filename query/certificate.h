// Retirement certificates (GET /records/{id}/certificate, .../certificate.proof): what a RETIRED record's
// certificate says, as the JSON object the proof bundle carries (docs/audit.md, notes/spec12.md) and as a
// printable, self-contained HTML page. Pure: the caller reads the record and its RecordProof (one
// REPEATABLE READ transaction, query/log_query.h) and hands them here.
//
// The block's values are the record's current state (after any SPLITs the record's own block_start,
// block_end and quantity); the retirement's time, leaf index and leaf hash are the RETIRED event's leaf,
// so a verifier (tools/verify.py certificate) can match every field against the logged events.
#pragma once

#include <cstdint>
#include <string>

#include "command/credit_record.h"
#include "eventstore/merkle.h"
#include "query/log_query.h"

namespace ledger {

struct Certificate {
  std::string record_id;
  Retirement retirement;  // beneficiary, reason, category, details: null in JSON when absent
  std::int64_t quantity = 0;
  std::string registry, serial_number, project_name;
  std::int64_t block_start = 0, block_end = 0;
  int vintage = 0;
  std::string retired_at;  // the RETIRED event's recorded_at (RFC 3339 UTC, 6 fraction digits)
  std::int64_t retirement_leaf_index = 0;
  MerkleHash retirement_leaf_hash{};
};

struct CertificateOutcome {
  enum class Kind {
    kOk,
    kNotRetired,   // the record's status is not RETIRED (current_status says which it is)
    kNotYetInLog,  // RETIRED, but its RETIRED event is not under the proof's checkpoint yet
    kInternal,     // the RETIRED leaf is not what the sealer writes (unparsable, no recorded_at)
  };
  Kind kind = Kind::kInternal;
  std::string current_status;  // status_name() of the record, for kNotRetired
  std::string detail;          // a sentence for the API client (or the log, for kInternal)
};

// The certificate of `record` from its proof (whose record_id must be the record's). *out is set only on kOk.
CertificateOutcome build_certificate(const CreditRecord& record, const RecordProof& proof, Certificate* out);

// The "certificate" object: {"record_id","beneficiary","reason","category","details","quantity","registry",
// "serial_number","block_start","block_end","vintage","project_name","retired_at","retirement_leaf_index",
// "retirement_leaf_hash"} (the hash in standard base64).
std::string certificate_json(const Certificate& certificate);

// The page: an A4 printable HTML document without scripts or external resources (inline <style> only), every
// value HTML-escaped. Shows the certificate, the checkpoint it is proved against (tree size, root hash, the
// signed note), the verifier key, and how to verify it with tools/verify.py.
std::string certificate_html(const Certificate& certificate, const RecordProof& proof);

// `text` with & < > " ' replaced by character references: safe in element content and quoted attributes.
std::string html_escape(std::string_view text);

}  // namespace ledger
