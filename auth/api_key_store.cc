#include "auth/api_key_store.h"

#include "auth/api_key.h"
#include "command/credit_request.h"
#include "eventstore/database.h"

namespace ledger {
namespace {

const std::string kKeyColumns = "key_id, account, role, secret_sha256, " + rfc3339_utc_sql("created_at") + ", " +
                                rfc3339_utc_sql("revoked_at");

ApiKeyRecord to_record(const pqxx::row& row) {
  ApiKeyRecord key;
  key.key_id = row[0].as<std::string>();
  key.account = row[1].as<std::string>();
  key.role = parse_role(row[2].as<std::string>()).value_or(Role::kAuditor);  // the CHECK allows only roles
  const pqxx::binarystring hash(row[3]);
  key.secret_sha256 = hash.str();
  key.created_at = row[4].as<std::string>();
  if (!row[5].is_null()) key.revoked_at = row[5].as<std::string>();
  return key;
}

}  // namespace

Status validate_account_name(const std::string& account) {
  std::string trimmed = account;
  const std::string problem = validate_name(&trimmed);
  if (!problem.empty()) return Status::Invalid("account " + problem);
  if (trimmed != account) return Status::Invalid("account must not start or end with spaces or tabs");
  return Status::Ok();
}

Status create_api_key(pqxx::connection& connection, const std::string& account, Role role, std::string* key_text) {
  Status valid = validate_account_name(account);
  if (!valid.ok()) return valid;
  ApiKeyParts parts;
  Status generated = generate_api_key(&parts);
  if (!generated.ok()) return generated;
  try {
    pqxx::work tx(connection);
    const std::string hash = secret_sha256(parts.secret);
    tx.exec_params("INSERT INTO api_keys (key_id, account, role, secret_sha256) VALUES ($1, $2, $3, $4)",
                   parts.key_id, account, role_name(role),
                   pqxx::binarystring(reinterpret_cast<const unsigned char*>(hash.data()), hash.size()));
    tx.commit();
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("could not store the key: ") + e.what());
  }
  *key_text = api_key_text(parts);
  return Status::Ok();
}

Status list_api_keys(pqxx::connection& connection, std::vector<ApiKeyRecord>* keys) {
  try {
    pqxx::read_transaction tx(connection);
    for (const pqxx::row& row :
         tx.exec("SELECT " + kKeyColumns + " FROM api_keys ORDER BY created_at, key_id")) {
      keys->push_back(to_record(row));
    }
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("could not list keys: ") + e.what());
  }
  return Status::Ok();
}

Status revoke_api_key(pqxx::connection& connection, const std::string& key_id) {
  try {
    pqxx::work tx(connection);
    const pqxx::result found = tx.exec_params(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 RETURNING key_id", key_id);
    if (found.empty()) return Status::NotFound("no key with id " + key_id);
    tx.commit();
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("could not revoke the key: ") + e.what());
  }
  return Status::Ok();
}

std::optional<ApiKeyRecord> find_api_key(pqxx::transaction_base& tx, const std::string& key_id) {
  const pqxx::result result =
      tx.exec_params("SELECT " + kKeyColumns + " FROM api_keys WHERE key_id = $1", key_id);
  if (result.empty()) return std::nullopt;
  return to_record(result[0]);
}

}  // namespace ledger
