#include "command/confusable_claims.h"

#include "command/credit_batch.h"
#include "command/credit_commands.h"
#include "command/serial_numbers.h"
#include "command/text_rules.h"

namespace ledger {

Status backfill_confusable_claims(pqxx::connection& connection, ClaimsBackfill* out) {
  try {
    pqxx::work tx(connection);
    const pqxx::result unclaimed = tx.exec_params(
        "SELECT e.stream_id::text, coalesce(e.data->>'registry', ''), coalesce(e.data->>'serial_number', '')"
        " FROM events e WHERE e.event_type = 'CREATED' AND NOT EXISTS ("
        "   SELECT 1 FROM stream_claims c WHERE c.claim_kind = $1 AND c.stream_id = e.stream_id)"
        " ORDER BY e.position",
        kConfusableClaimKind);
    for (const auto& row : unclaimed) {
      const std::string stream_id = row[0].as<std::string>();
      const std::string key = confusable_key(row[1].as<std::string>(), row[2].as<std::string>());
      const pqxx::result inserted = tx.exec_params(
          "INSERT INTO stream_claims (claim_kind, claim_key, stream_id) VALUES ($1, $2, $3::uuid)"
          " ON CONFLICT DO NOTHING",
          kConfusableClaimKind, key, stream_id);
      if (inserted.affected_rows() == 1) {
        ++out->claimed;
        continue;
      }
      // An earlier credit holds this key: a lookalike pair from before the rule existed.
      const pqxx::row holder = tx.exec_params1(
          "SELECT stream_id::text FROM stream_claims WHERE claim_kind = $1 AND claim_key = $2", kConfusableClaimKind,
          key);
      out->twins.push_back(stream_id + " looks like " + holder[0].as<std::string>());
    }
    // Units stated by the serials of credits registered before blocks existed.
    const pqxx::result old_blocks = tx.exec_params(
        "SELECT e.stream_id::text, coalesce(e.data->>'registry', ''), coalesce(e.data->>'serial_number', ''),"
        " (e.data->>'quantity')::bigint FROM events e WHERE e.event_type = 'CREATED' AND NOT e.data ? 'block_start'"
        " AND NOT EXISTS (SELECT 1 FROM stream_range_claims c WHERE c.claim_kind = $1 AND c.stream_id = e.stream_id)"
        " ORDER BY e.position",
        kUnitsClaimKind);
    for (const auto& row : old_blocks) {
      RegisterCredit registration;
      registration.attributes.registry = row[1].as<std::string>();
      registration.attributes.serial_number = row[2].as<std::string>();
      const std::optional<SerialRange> stated =
          parse_serial_range(registry_kind(registration.attributes.registry), registration.attributes.serial_number);
      if (!stated.has_value() || stated->block_end - stated->block_start + 1 != row[3].as<std::int64_t>()) continue;
      registration.range_stated = true;
      const std::optional<std::string> numbering = unit_numbering(registration);
      if (!numbering.has_value()) continue;
      const std::string stream_id = row[0].as<std::string>();
      const pqxx::result inserted = tx.exec_params(
          "INSERT INTO stream_range_claims (claim_kind, claim_key, units, stream_id)"
          " VALUES ($1, $2, int8range($3, $4, '[]'), $5::uuid) ON CONFLICT DO NOTHING",
          kUnitsClaimKind, *numbering, stated->block_start, stated->block_end, stream_id);
      if (inserted.affected_rows() == 1) {
        ++out->units_claimed;
        continue;
      }
      const pqxx::row holder = tx.exec_params1(
          "SELECT stream_id::text FROM stream_range_claims WHERE claim_kind = $1 AND claim_key = $2"
          " AND units && int8range($3, $4, '[]') LIMIT 1",
          kUnitsClaimKind, *numbering, stated->block_start, stated->block_end);
      out->overlaps.push_back(stream_id + " overlaps " + holder[0].as<std::string>());
    }
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("backfilling confusable claims failed: ") + e.what());
  }
}

}  // namespace ledger
