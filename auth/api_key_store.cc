#include "auth/api_key_store.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include "auth/api_key.h"
#include "command/credit_request.h"
#include "eventstore/database.h"

namespace ledger {
namespace {

const std::string kKeyColumns = "key_id, account, role, secret_sha256, " + rfc3339_utc_sql("created_at") + ", " +
                                rfc3339_utc_sql("revoked_at") +
                                ", created_by || '/' || coalesce(created_by_actor, '-')"
                                ", revoked_by || '/' || coalesce(revoked_by_actor, '-')";

ApiKeyRecord to_record(const pqxx::row& row) {
  ApiKeyRecord key;
  key.key_id = row[0].as<std::string>();
  key.account = row[1].as<std::string>();
  key.role = parse_role(row[2].as<std::string>()).value_or(Role::kAuditor);  // the CHECK allows only roles
  const pqxx::binarystring hash(row[3]);
  key.secret_sha256 = hash.str();
  key.created_at = row[4].as<std::string>();
  if (!row[5].is_null()) key.revoked_at = row[5].as<std::string>();
  key.created_by = row[6].as<std::string>();
  if (!row[7].is_null()) key.revoked_by = row[7].as<std::string>();
  return key;
}

// key_id, account, role, secret_sha256 of the api_keys view.
ActiveKey to_active_key(const pqxx::row& row) {
  ActiveKey key;
  key.account = row[1].as<std::string>();
  // The CHECK allows only roles; an unknown one gets the least privilege rather than a crash.
  key.role = parse_role(row[2].as<std::string>()).value_or(Role::kAuditor);
  key.secret_sha256 = pqxx::binarystring(row[3]).str();
  return key;
}

pqxx::binarystring bytea(const std::string& bytes) {
  return pqxx::binarystring(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Status validate_text(const char* what, const std::string& text) {
  std::string trimmed = text;
  const std::string problem = validate_name(&trimmed);
  if (!problem.empty()) return Status::Invalid(std::string(what) + " " + problem);
  if (trimmed != text) return Status::Invalid(std::string(what) + " must not start or end with spaces or tabs");
  return Status::Ok();
}

// Collects the serve listeners (by backend pid) that confirm having applied the change to `key_id`.
class AppliedReceiver final : public pqxx::notification_receiver {
 public:
  AppliedReceiver(pqxx::connection_base& conn, std::string key_id)
      : pqxx::notification_receiver(conn, kApiKeysAppliedChannel), key_id_(std::move(key_id)) {}
  void operator()(const std::string& payload, int backend_pid) override {
    if (payload == key_id_) pids.insert(backend_pid);
  }
  std::set<int> pids;

 private:
  const std::string key_id_;
};

// LISTENs for confirmations (before the change commits, so none is missed) and counts who should send one.
std::unique_ptr<AppliedReceiver> prepare_confirmations(pqxx::connection& connection, const std::string& key_id,
                                                       KeyChangeApplied* applied) {
  auto receiver = std::make_unique<AppliedReceiver>(connection, key_id);
  pqxx::nontransaction tx(connection);
  applied->listening = tx.exec_params1("SELECT count(*) FROM pg_catalog.pg_stat_activity"
                                       " WHERE datname = pg_catalog.current_database() AND application_name = $1",
                                       kApiKeyListenerApplicationName)[0]
                           .as<int>();
  return receiver;
}

// After the commit: waits, at most kKeyChangeConfirmTimeoutMs, for every counted listener to confirm. The
// change is committed whatever happens here, so errors only end the wait.
void await_confirmations(pqxx::connection& connection, AppliedReceiver& receiver, KeyChangeApplied* applied) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kKeyChangeConfirmTimeoutMs);
  try {
    connection.get_notifs();
    while (static_cast<int>(receiver.pids.size()) < applied->listening) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      connection.await_notification(static_cast<long>(left.count() / 1000000), static_cast<long>(left.count() % 1000000));
    }
  } catch (const std::exception&) {
  }
  applied->confirmed = static_cast<int>(receiver.pids.size());
}

}  // namespace

Status validate_account_name(const std::string& account) { return validate_text("account", account); }
Status validate_actor(const std::string& actor) { return validate_text("actor", actor); }

Status create_api_key(pqxx::connection& connection, const std::string& account, Role role,
                      const std::string& actor, std::string* key_text, KeyChangeApplied* applied) {
  Status valid = validate_account_name(account);
  if (valid.ok()) valid = validate_actor(actor);
  if (!valid.ok()) return valid;
  ApiKeyParts parts;
  Status generated = generate_api_key(&parts);
  if (!generated.ok()) return generated;
  std::unique_ptr<AppliedReceiver> confirmations;
  try {
    confirmations = prepare_confirmations(connection, parts.key_id, applied);
    // One transaction: the change and its notification (a trigger) commit together.
    pqxx::work tx(connection);
    tx.exec_params(
        "INSERT INTO public.api_key_changes (key_id, change, account, role, secret_sha256, actor)"
        " VALUES ($1, 'created', $2, $3, $4, $5)",
        parts.key_id, account, role_name(role), bytea(secret_sha256(parts.secret)), actor);
    tx.commit();
  } catch (const std::exception& e) {
    return Status::Unavailable("could not store the key: " + single_line(e.what()));
  }
  *key_text = api_key_text(parts);
  await_confirmations(connection, *confirmations, applied);
  return Status::Ok();
}

Status list_api_keys(pqxx::connection& connection, std::vector<ApiKeyRecord>* keys) {
  try {
    pqxx::read_transaction tx(connection);
    for (const pqxx::row& row :
         tx.exec("SELECT " + kKeyColumns + " FROM public.api_keys ORDER BY created_at, key_id")) {
      keys->push_back(to_record(row));
    }
  } catch (const std::exception& e) {
    return Status::Unavailable("could not list keys: " + single_line(e.what()));
  }
  return Status::Ok();
}

Status revoke_api_key(pqxx::connection& connection, const std::string& key_id, const std::string& actor,
                      bool* already_revoked, KeyChangeApplied* applied) {
  *already_revoked = false;
  Status valid = validate_actor(actor);
  if (!valid.ok()) return valid;
  std::unique_ptr<AppliedReceiver> confirmations;
  try {
    confirmations = prepare_confirmations(connection, key_id, applied);
    pqxx::work tx(connection);
    // Only a created key can be revoked (the trigger checks too); a second revocation changes nothing.
    const pqxx::result inserted = tx.exec_params(
        "INSERT INTO public.api_key_changes (key_id, change, actor)"
        " SELECT $1, 'revoked', $2 WHERE EXISTS"
        " (SELECT 1 FROM public.api_key_changes WHERE key_id = $1 AND change = 'created')"
        " ON CONFLICT (key_id) WHERE change = 'revoked' DO NOTHING RETURNING change_id",
        key_id, actor);
    if (inserted.empty()) {
      const pqxx::result found =
          tx.exec_params("SELECT 1 FROM public.api_key_changes WHERE key_id = $1 AND change = 'created'", key_id);
      if (found.empty()) return Status::NotFound("no key with id " + key_id);
      *already_revoked = true;
    }
    tx.commit();
  } catch (const std::exception& e) {
    return Status::Unavailable("could not revoke the key: " + single_line(e.what()));
  }
  if (*already_revoked) {
    applied->listening = 0;  // nothing changed, nothing to confirm
  } else {
    await_confirmations(connection, *confirmations, applied);
  }
  return Status::Ok();
}

Status read_active_keys(pqxx::transaction_base& tx, std::size_t keys_max,
                        std::unordered_map<std::string, ActiveKey>* keys) {
  // One more than allowed, to tell "exactly the limit" from "over it" without reading the whole excess.
  const pqxx::result rows = tx.exec_params(
      "SELECT key_id, account, role, secret_sha256 FROM public.api_keys WHERE revoked_at IS NULL LIMIT $1",
      static_cast<long long>(keys_max) + 1);
  if (rows.size() > keys_max) {
    return Status::Invalid("there are more than " + std::to_string(keys_max) +
                           " active API keys (LEDGER_KEYS_MAX); revoke some or raise the limit");
  }
  std::unordered_map<std::string, ActiveKey> loaded;
  loaded.reserve(rows.size());
  for (const pqxx::row& row : rows) loaded.emplace(row[0].as<std::string>(), to_active_key(row));
  *keys = std::move(loaded);
  return Status::Ok();
}

Status read_keys(pqxx::transaction_base& tx, const std::vector<std::string>& key_ids,
                 std::unordered_map<std::string, std::optional<ActiveKey>>* keys) {
  std::string array = "{";
  for (const std::string& id : key_ids) {
    // Ids come from notifications: only the well-formed ones go into the array literal.
    if (id.size() != kApiKeyIdHexLength ||
        !std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
      continue;
    }
    (*keys)[id] = std::nullopt;
    if (array.size() > 1) array += ',';
    array += id;
  }
  array += '}';
  if (keys->empty()) return Status::Ok();
  for (const pqxx::row& row : tx.exec_params("SELECT key_id, account, role, secret_sha256 FROM public.api_keys"
                                             " WHERE key_id = ANY($1::text[]) AND revoked_at IS NULL",
                                             array)) {
    (*keys)[row[0].as<std::string>()] = to_active_key(row);
  }
  return Status::Ok();
}

}  // namespace ledger
