// API key changes are append-only and recorded (issue 9, section 4): api_key_changes takes INSERTs only,
// for every role; api_keys is a view derived from it that nobody can edit; a revocation cannot be undone
// nor a key id re-created; every change says which database login made it, as whom, and when, whatever
// the INSERT claimed; ledger_serve only reads; auditors read everything but the hashes; `keys list`
// shows who and when.
#include <algorithm>
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class ApiKeyChanges : public LedgerFixture {
 protected:
  ApiKeyChanges() { start_services_in_setup_ = false; }

  std::string key_id(const std::string& key) { return key.substr(4, 16); }

  std::vector<std::string> Tampering(const std::string& id) {
    return {
        "UPDATE api_key_changes SET role = 'admin' WHERE key_id = '" + id + "'",
        "UPDATE api_key_changes SET change = 'created' WHERE key_id = '" + id + "' AND change = 'revoked'",
        "DELETE FROM api_key_changes WHERE key_id = '" + id + "' AND change = 'revoked'",
        "DELETE FROM api_key_changes WHERE key_id = '" + id + "'",
        "TRUNCATE api_key_changes",
        "UPDATE api_keys SET role = 'admin' WHERE key_id = '" + id + "'",
        "UPDATE api_keys SET revoked_at = NULL WHERE key_id = '" + id + "'",
        "DELETE FROM api_keys WHERE key_id = '" + id + "'",
        "INSERT INTO api_keys (key_id, account, role, secret_sha256) VALUES"
        " ('00000000000000aa', 'x', 'admin', sha256('x'))",
    };
  }

};

TEST_F(ApiKeyChanges, NoRoleCanEditOrRemoveAKeyOrAChange) {
  const std::string key = create_key("Tamper Target", "holder");
  ASSERT_TRUE(run_ledger({"keys", "revoke", key_id(key)}).ok());
  const std::string before = query_scalar(
      "SELECT string_agg(change_id || change || coalesce(role, '') || changed_at, ',' ORDER BY change_id)"
      " FROM api_key_changes");
  // The fixture's superuser (the schema owner in these tests), a ledger_owner login and a ledger_serve login.
  for (const std::string& role : {std::string(), LoginIn("ledger_owner"), LoginIn("ledger_serve")}) {
    for (const std::string& sql : Tampering(key_id(key))) {
      SCOPED_TRACE((role.empty() ? "superuser" : role) + ": " + sql);
      EXPECT_NE(ErrorAs(role, sql), "");
    }
  }
  EXPECT_EQ(query_scalar("SELECT string_agg(change_id || change || coalesce(role, '') || changed_at, ','"
                         " ORDER BY change_id) FROM api_key_changes"),
            before);
  EXPECT_EQ(query_scalar("SELECT role || ' ' || (revoked_at IS NOT NULL) FROM api_keys WHERE key_id = '" +
                         key_id(key) + "'"),
            "holder true");
}

TEST_F(ApiKeyChanges, ARevocationCannotBeUndoneAndAKeyIdIsCreatedOnce) {
  const std::string key = create_issuer_key("Once");
  const std::string id = key_id(key);
  ASSERT_TRUE(run_ledger({"keys", "revoke", id}).ok());
  // Re-creating the id (with a new secret, or a new role) would bring the key back: refused.
  EXPECT_NE(ErrorAs("", "INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256) VALUES ('" +
                            id + "', 'created', 'Once', 'admin', sha256('new'))"),
            "");
  EXPECT_NE(ErrorAs("", "INSERT INTO api_key_changes (key_id, change) VALUES ('" + id + "', 'revoked')"), "")
      << "revoked once";
  // Revoking again through the CLI is fine and changes nothing.
  const RunResult again = run_ledger({"keys", "revoke", id});
  EXPECT_TRUE(again.ok()) << again.describe();
  EXPECT_TRUE(contains(again.err, "already revoked")) << again.err;
  EXPECT_EQ(query_int("SELECT count(*) FROM api_key_changes WHERE key_id = '" + id + "'"), 2);
  // A revocation needs a created key, even when a temporary table of that name says otherwise.
  EXPECT_NE(ErrorAs("", "CREATE TEMP TABLE api_key_changes (key_id text, change text);"
                        " INSERT INTO pg_temp.api_key_changes VALUES ('00000000000000ab', 'created');"
                        " INSERT INTO public.api_key_changes (key_id, change) VALUES ('00000000000000ab', 'revoked')"),
            "");
  // A created change must say what the key is; a revocation must not.
  EXPECT_NE(ErrorAs("", "INSERT INTO api_key_changes (key_id, change) VALUES ('00000000000000ac', 'created')"), "");
  EXPECT_NE(ErrorAs("", "INSERT INTO api_key_changes (key_id, change, role) VALUES ('" + create_key("R", "holder").substr(4, 16) +
                            "', 'revoked', 'admin')"),
            "");
}

TEST_F(ApiKeyChanges, EachChangeRecordsTheDatabaseLoginAndTimeWhateverTheInsertSays) {
  const std::string owner = LoginIn("ledger_owner");
  EXPECT_EQ(ErrorAs(owner, "INSERT INTO api_key_changes"
                           " (key_id, change, account, role, secret_sha256, changed_by, actor, changed_at)"
                           " VALUES ('00000000000000ad', 'created', 'Forger', 'holder', sha256('s'),"
                           " 'somebody-else', 'mallory', '2000-01-01')"),
            "");
  EXPECT_EQ(query_scalar("SELECT changed_by || ' ' || actor || ' ' || (changed_at > now() - interval '1 minute')"
                         " FROM api_key_changes WHERE key_id = '00000000000000ad'"),
            owner + " mallory true");
}

TEST_F(ApiKeyChanges, ServeOnlyReadsAndAuditorsSeeEverythingButTheHashes) {
  const std::string key = create_key("Reader", "holder");
  const std::string serve = LoginIn("ledger_serve");
  EXPECT_EQ(ErrorAs(serve, "SELECT key_id, secret_sha256 FROM api_keys WHERE revoked_at IS NULL"), "");
  EXPECT_EQ(ErrorAs(serve, "SELECT * FROM api_key_changes"), "");
  EXPECT_NE(ErrorAs(serve, "INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256)"
                           " VALUES ('00000000000000ae', 'created', 'Serve', 'admin', sha256('s'))")
                .find("permission denied"),
            std::string::npos);
  EXPECT_NE(ErrorAs(serve, "INSERT INTO api_key_changes (key_id, change) VALUES ('" + key_id(key) + "', 'revoked')")
                .find("permission denied"),
            std::string::npos)
      << "serve cannot revoke either";
  const std::string auditor = LoginIn("ledger_auditor");
  EXPECT_EQ(ErrorAs(auditor, "SELECT key_id, account, role, created_at, revoked_at, created_by, revoked_by"
                             " FROM api_keys"),
            "");
  EXPECT_EQ(ErrorAs(auditor, "SELECT change_id, key_id, change, account, role, changed_by, actor, changed_at"
                             " FROM api_key_changes"),
            "");
  EXPECT_NE(ErrorAs(auditor, "SELECT secret_sha256 FROM api_keys").find("permission denied"), std::string::npos);
  EXPECT_NE(ErrorAs(auditor, "SELECT secret_sha256 FROM api_key_changes").find("permission denied"),
            std::string::npos);
  EXPECT_NE(ErrorAs(auditor, "INSERT INTO api_key_changes (key_id, change) VALUES ('" + key_id(key) + "', 'revoked')")
                .find("permission denied"),
            std::string::npos);
  EXPECT_EQ(query_scalar("SELECT revoked_at IS NULL FROM api_keys WHERE key_id = '" + key_id(key) + "'"), "t");
}

TEST_F(ApiKeyChanges, KeysListShowsWhoCreatedAndRevokedEachKeyAndWhen) {
  const RunResult created =
      run_ledger({"keys", "create", "--account", "Acme Corp", "--role", "holder", "--actor", "alice"});
  ASSERT_TRUE(created.ok()) << created.describe();
  const std::string id = key_id(created.out);
  ASSERT_TRUE(run_ledger({"keys", "revoke", id, "--actor", "bob"}).ok());
  const RunResult listed = run_ledger({"keys", "list"});
  ASSERT_TRUE(listed.ok()) << listed.describe();
  EXPECT_EQ(listed.out.rfind("key_id\taccount\trole\tcreated_at\trevoked_at\tcreated_by\trevoked_by\n", 0), 0u)
      << listed.out;
  const std::string login = "ledger_owner";  // the fixture runs keys as the schema owner, as make run does
  const std::size_t line_start = listed.out.find(id + "\tAcme Corp\tholder\t");
  ASSERT_NE(line_start, std::string::npos) << listed.out;
  const std::string line = listed.out.substr(line_start, listed.out.find('\n', line_start) - line_start);
  EXPECT_TRUE(contains(line, "Z\t" + login + "/alice\t" + login + "/bob")) << line;
  EXPECT_EQ(std::count(line.begin(), line.end(), 'Z'), 2) << "two RFC 3339 times: " << line;
  // The fixture's key, made without --actor, names the OS user and shows it is not revoked.
  EXPECT_TRUE(contains(listed.out, "\ttest-admin\tadmin\t")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "Z\t-\t" + login + "/")) << listed.out;
  EXPECT_FALSE(run_ledger({"keys", "revoke", id, "--actor", "tab\there"}).ok()) << "actors follow the name rules";
}

}  // namespace
}  // namespace ledger::test
