// What an operator and a client's error report rely on: LEDGER_LOG_FORMAT=json makes every line of serve
// and the projector one JSON object; the request id a client sees (X-Request-Id) is the one in serve's log
// line of that request and in the metadata of the events it appended; --version and GET /version name the
// build; every subcommand's --help lists the environment variables the README's table gives it, with the
// same defaults.
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class Observability : public LedgerFixture {};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

TEST_F(Observability, JsonLogsAndOneRequestIdFromTheAnswerToTheLogLineAndTheEvent) {
  stop_serve();
  stop_projector();
  extra_env_.push_back({"LEDGER_LOG_FORMAT", "json"});
  start_projector();
  start_serve();

  const std::string request_id = "client-report-7f3a";
  const HttpResponse reg = http("POST", "/register", CreditSpec{.serial_number = "OBS-1"}.to_json(),
                                {{"X-Request-Id", request_id}});
  ASSERT_EQ(reg.status, 201) << reg.body;
  EXPECT_EQ(reg.header("X-Request-Id").value_or(""), request_id);
  const std::string id = string_member(parse_json(reg.body), "id");
  EXPECT_EQ(query_scalar("SELECT string_agg(DISTINCT metadata->>'request_id', ',') FROM events WHERE stream_id = '" +
                         id + "'"),
            request_id);
  // A request without one gets a fresh id, also recorded.
  const HttpResponse missing = http("GET", "/records/" + id + "?min_version=1");
  ASSERT_EQ(missing.status, 200) << missing.body;
  const std::string generated = missing.header("X-Request-Id").value_or("");
  EXPECT_TRUE(std::regex_match(generated, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << generated;
  ASSERT_EQ(http("GET", "/nowhere").status, 404);

  stop_serve();  // flushes its log thread
  stop_projector();
  const std::string serve_log = read_file(work_dir() + "/serve1.err");
  const std::string project_log = read_file(work_dir() + "/project1.err");
  int request_lines = 0;
  bool found_register = false, found_get = false, found_unmatched = false;
  for (const auto& [name, text] : {std::pair{"serve", serve_log}, std::pair{"project", project_log}}) {
    const auto lines = lines_of(text);
    ASSERT_FALSE(lines.empty()) << name;
    for (const std::string& line : lines) {
      SCOPED_TRACE(std::string(name) + ": " + line);
      const auto doc = parse_json(line);
      ASSERT_TRUE(doc.IsObject()) << "not one JSON object";
      for (const char* member : {"time", "level", "process", "message"}) {
        ASSERT_TRUE(doc.HasMember(member) && doc[member].IsString()) << member;
      }
      EXPECT_TRUE(std::regex_match(string_member(doc, "time"),
                                   std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
      EXPECT_TRUE(std::set<std::string>({"debug", "info", "warn", "error"}).count(string_member(doc, "level")));
      if (string_member(doc, "message") != "request") continue;
      ++request_lines;
      for (const char* member : {"method", "target", "route", "request_id", "account"}) {
        ASSERT_TRUE(doc.HasMember(member) && doc[member].IsString()) << member;
      }
      ASSERT_TRUE(doc.HasMember("status") && doc["status"].IsInt());
      ASSERT_TRUE(doc.HasMember("duration_ms") && doc["duration_ms"].IsNumber());
      if (string_member(doc, "request_id") == request_id) {
        found_register = true;
        EXPECT_EQ(string_member(doc, "method"), "POST");
        EXPECT_EQ(string_member(doc, "route"), "/register");
        EXPECT_EQ(doc["status"].GetInt(), 201);
        EXPECT_EQ(string_member(doc, "account"), "test-admin");
      }
      if (string_member(doc, "request_id") == generated) {
        found_get = true;
        EXPECT_EQ(string_member(doc, "route"), "/records/{id}") << "the route template, to group by";
        EXPECT_EQ(string_member(doc, "target"), "/records/" + id + "?min_version=1") << "the target as sent";
      }
      if (string_member(doc, "route") == "unmatched") found_unmatched = doc["status"].GetInt() == 404;
    }
  }
  EXPECT_GE(request_lines, 3);
  EXPECT_TRUE(found_register);
  EXPECT_TRUE(found_get);
  EXPECT_TRUE(found_unmatched);
}

TEST_F(Observability, AnUnknownLogFormatIsRefusedNamingTheVariable) {
  const RunResult run = run_ledger({"migrate"}, std::chrono::seconds(30), {{"LEDGER_LOG_FORMAT", "xml"}});
  EXPECT_FALSE(run.ok());
  EXPECT_TRUE(contains(run.err, "LEDGER_LOG_FORMAT")) << run.err;
}

TEST_F(Observability, VersionNamesTheCommitBuildTypeAndSchema) {
  const RunResult run = run_ledger({"--version"});
  ASSERT_TRUE(run.ok()) << run.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.out, m, std::regex(R"(carbon-ledger (\S+) \(commit ([0-9a-f]{40}(-dirty)?|unknown), (\S+) build, schema version (\d+)\))")))
      << run.out;
  const HttpResponse v = http("GET", "/version", {}, {{"Authorization", ""}});
  ASSERT_EQ(v.status, 200) << v.body;
  const auto doc = parse_json(v.body);
  EXPECT_EQ(string_member(doc, "version"), m[1].str());
  EXPECT_EQ(string_member(doc, "commit"), m[2].str());
  EXPECT_EQ(string_member(doc, "build_type"), m[4].str());
  EXPECT_EQ(int_member(doc, "schema_version"), std::stoll(m[5].str()));
  EXPECT_EQ(int_member(doc, "schema_version"),
            query_int("SELECT max(substring(name from '^[0-9]+')::int) FROM schema_migrations"));
}

// README "Environment variables": | `VAR`[, `VAR`] | who | default | example |.
struct ReadmeVariable {
  std::string name;
  std::set<std::string> subcommands;
  std::string default_value;  // the first `...` of the default column when it starts with one
};

std::vector<ReadmeVariable> readme_variables() {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/README.md");
  std::vector<ReadmeVariable> out;
  bool in_table = false;
  // "all": every subcommand that connects to the database; signing-key (a file only) is named explicitly.
  const std::set<std::string> subcommands = {"migrate", "serve", "project", "rebuild", "keys", "registries", "verify"};
  const std::set<std::string> named = {"migrate", "serve", "project", "rebuild", "keys", "registries", "verify",
                                       "signing-key"};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## Environment variables", 0) == 0) in_table = true;
    else if (in_table && line.rfind("## ", 0) == 0) break;
    if (!in_table || line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::string cell;
    bool in_code = false;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '`') in_code = !in_code;
      if (line[i] == '|' && !in_code) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    if (cells.size() < 3) continue;
    std::set<std::string> who;
    if (cells[1].find(" all ") != std::string::npos) who = subcommands;
    for (const std::string& s : named) {
      if (std::regex_search(cells[1], std::regex("(^|[ ,])" + s + "([ ,]|$)"))) who.insert(s);
    }
    std::string def;
    std::smatch dm;
    const std::string def_cell = cells[2].substr(cells[2].find_first_not_of(' '));
    if (std::regex_search(def_cell, dm, std::regex("^`([^`]*)`"))) def = dm[1].str();
    static const std::regex variable("`([A-Z_]+)`");
    for (auto it = std::sregex_iterator(cells[0].begin(), cells[0].end(), variable); it != std::sregex_iterator();
         ++it) {
      out.push_back(ReadmeVariable{(*it)[1].str(), who, def});
    }
  }
  return out;
}

TEST_F(Observability, EverySubcommandsHelpListsTheReadmesVariablesWithTheirDefaults) {
  const auto variables = readme_variables();
  ASSERT_GT(variables.size(), 20u) << "the README's table was not found";
  std::map<std::string, std::string> help;
  for (const char* sub : {"migrate", "serve", "project", "rebuild", "keys", "registries", "signing-key", "verify"}) {
    const RunResult run = run_ledger({sub, "--help"});
    ASSERT_TRUE(run.ok()) << sub << ": " << run.describe();
    help[sub] = run.out;
  }
  std::set<std::pair<std::string, std::string>> in_readme;
  for (const ReadmeVariable& v : variables) {
    for (const std::string& sub : v.subcommands) {
      SCOPED_TRACE(sub + " " + v.name);
      in_readme.insert({sub, v.name});
      const std::string& text = help[sub];
      const std::size_t at = text.find("  " + v.name + " ");
      ASSERT_NE(at, std::string::npos) << "`carbon-ledger " << sub << " --help` does not list " << v.name;
      // Its entry: up to the next variable's line.
      const std::size_t next = text.find("\n  LEDGER_", at + 1);
      const std::string entry = text.substr(at, next == std::string::npos ? std::string::npos : next - at);
      if (!v.default_value.empty() && v.name != "DATABASE_URL") {
        EXPECT_NE(entry.find("default " + v.default_value), std::string::npos)
            << "README default `" << v.default_value << "`, help: " << entry;
      }
    }
  }
  // And the other way: every variable a --help lists is in the README's table for that subcommand.
  for (const auto& [sub, text] : help) {
    static const std::regex listed(R"(\n  ((LEDGER_|DATABASE_)[A-Z_]+) )");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), listed); it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(in_readme.count(std::make_pair(sub, (*it)[1].str())))
          << (*it)[1].str() << " of " << sub << " --help is not in the README's table";
    }
  }
}

}  // namespace
}  // namespace ledger::test
