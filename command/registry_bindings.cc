#include "command/registry_bindings.h"

#include "command/credit_request.h"
#include "eventstore/database.h"

namespace ledger {

Status change_registry_binding(pqxx::connection& connection, const std::string& account_in,
                               const std::string& registry_in, bool bind, const std::string& actor, bool* changed) {
  *changed = false;
  std::string account = account_in, registry = registry_in;
  if (std::string problem = validate_name(&account); !problem.empty()) return Status::Invalid("--account " + problem);
  if (std::string problem = validate_name(&registry); !problem.empty()) {
    return Status::Invalid("--registry " + problem);
  }
  pqxx::work tx(connection);
  // One change at a time per account, so "is it bound now?" cannot race another bind or unbind.
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('registry_binding:' || $1))", account);
  const bool bound = tx.exec_params1("SELECT EXISTS (SELECT 1 FROM registry_bindings WHERE account = $1"
                                     " AND lower(registry) = lower($2))",
                                     account, registry)[0]
                         .as<bool>();
  if (bound == bind) return Status::Ok();
  tx.exec_params("INSERT INTO registry_binding_changes (account, registry, change, actor) VALUES ($1, $2, $3, $4)",
                 account, registry, std::string(bind ? "bound" : "unbound"), actor);
  tx.commit();
  *changed = true;
  return Status::Ok();
}

Status list_registry_bindings(pqxx::connection& connection, std::vector<RegistryBinding>* out) {
  pqxx::read_transaction tx(connection);
  for (const auto& row : tx.exec("SELECT account, registry, " + rfc3339_utc_sql("bound_at") +
                                 " FROM registry_bindings ORDER BY account, lower(registry)")) {
    out->push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
  }
  return Status::Ok();
}

}  // namespace ledger
