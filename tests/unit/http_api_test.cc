#include "server/http_api.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace ledger {
namespace {

struct RouteCase {
  const char* target;
  Route::Kind kind;
  const char* id;
  const char* method;
};

TEST(MatchRoute, TableOfTargets) {
  const RouteCase cases[] = {
      {"/register", Route::Kind::kRegister, "", "POST"},
      {"/register/", Route::Kind::kRegister, "", "POST"},
      {"/register?x=1", Route::Kind::kRegister, "", "POST"},
      {"/healthz", Route::Kind::kHealth, "", "GET"},
      {"/healthz/", Route::Kind::kHealth, "", "GET"},
      {"/records/abc", Route::Kind::kGetRecord, "abc", "GET"},
      {"/records/abc/", Route::Kind::kGetRecord, "abc", "GET"},
      {"/record/abc", Route::Kind::kGetRecord, "abc", "GET"},
      {"/record/abc/", Route::Kind::kGetRecord, "abc", "GET"},
      {"/records/abc/sell", Route::Kind::kSell, "abc", "POST"},
      {"/records/abc/sell/", Route::Kind::kSell, "abc", "POST"},
      {"/records/abc/retire", Route::Kind::kRetire, "abc", "POST"},
      {"/records/abc/retire/", Route::Kind::kRetire, "abc", "POST"},
      {"/record/abc/retire", Route::Kind::kUnknown, "", ""},
      {"/records//retire", Route::Kind::kUnknown, "", ""},
      {"/records/abc/burn", Route::Kind::kUnknown, "", ""},
      {"/records", Route::Kind::kUnknown, "", ""},
      {"/register//", Route::Kind::kUnknown, "", ""},
      {"/", Route::Kind::kUnknown, "", ""},
      {"", Route::Kind::kUnknown, "", ""},
      {"registers", Route::Kind::kUnknown, "", ""},
  };
  for (const RouteCase& c : cases) {
    SCOPED_TRACE(c.target);
    const Route route = match_route(c.target);
    EXPECT_EQ(route.kind, c.kind);
    EXPECT_EQ(route.id, c.id);
    EXPECT_STREQ(route.method, c.method);
  }
}

struct IfMatchCase {
  const char* header;
  bool valid;
  bool any;
  std::vector<std::int64_t> versions;
};

TEST(ParseIfMatch, TableOfHeaders) {
  const IfMatchCase cases[] = {
      {"*", true, true, {}},
      {" * ", true, true, {}},
      {"\"3\"", true, false, {3}},
      {"\"1\", \"2\"", true, false, {1, 2}},
      {"W/\"3\"", true, false, {}},  // weak tags never match under strong comparison
      {"\"abc\"", true, false, {}},
      {"3", false, false, {}},
      {"\"3", false, false, {}},
      {"", false, false, {}},
      {",", false, false, {}},
  };
  for (const IfMatchCase& c : cases) {
    SCOPED_TRACE(c.header);
    const auto parsed = parse_if_match(c.header);
    ASSERT_EQ(parsed.has_value(), c.valid);
    if (!c.valid) continue;
    EXPECT_EQ(parsed->any, c.any);
    EXPECT_EQ(parsed->versions, c.versions);
  }
}

TEST(VersionPrecondition, Matches) {
  VersionPrecondition any{true, {}};
  EXPECT_TRUE(any.matches(1));
  EXPECT_FALSE(any.matches(0));  // * means "exists"
  VersionPrecondition list{false, {2, 3}};
  EXPECT_TRUE(list.matches(3));
  EXPECT_FALSE(list.matches(1));
}

TEST(IsJsonContentType, TableOfTypes) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_content_type("application/merge-patch+json"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/x-www-form-urlencoded"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("+json"));
}

TEST(SanitizeRequestId, KeepsOnlyShortPrintableIds) {
  EXPECT_EQ(sanitize_request_id("abc-123"), "abc-123");
  EXPECT_EQ(sanitize_request_id(""), "");
  EXPECT_EQ(sanitize_request_id("has space"), "");
  EXPECT_EQ(sanitize_request_id("line\nbreak"), "");
  EXPECT_EQ(sanitize_request_id(std::string(129, 'a')), "");
  EXPECT_EQ(sanitize_request_id(std::string(128, 'a')), std::string(128, 'a'));
}

TEST(ProblemJson, CarriesRfc9457MembersAndFieldErrors) {
  Problem problem{422, "invalid-fields", "Invalid fields", "bad \"quantity\""};
  problem.errors.push_back({"quantity", "must be an integer"});
  rapidjson::Document doc;
  doc.Parse(problem_json(problem).c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["type"].GetString(), "/problems/invalid-fields");
  EXPECT_STREQ(doc["title"].GetString(), "Invalid fields");
  EXPECT_EQ(doc["status"].GetInt(), 422);
  EXPECT_STREQ(doc["detail"].GetString(), "bad \"quantity\"");
  ASSERT_EQ(doc["errors"].Size(), 1u);
  EXPECT_STREQ(doc["errors"][0]["field"].GetString(), "quantity");
  EXPECT_FALSE(doc.HasMember("current_status"));
}

TEST(CommandProblem, MapsEveryFailureKindToItsStatus) {
  using Kind = CreditCommandResult::Kind;
  struct Case {
    Kind kind;
    int status;
    const char* slug;
  };
  const Case cases[] = {
      {Kind::kNotFound, 404, "credit-not-found"},       {Kind::kRejected, 409, "invalid-status"},
      {Kind::kPreconditionFailed, 412, "precondition-failed"}, {Kind::kContended, 409, "contended"},
      {Kind::kUnavailable, 503, "database-unavailable"}, {Kind::kInternal, 500, "internal-error"},
      {Kind::kOutcomeUnknown, 503, "commit-outcome-unknown"},
  };
  for (const Case& c : cases) {
    CreditCommandResult result;
    result.kind = c.kind;
    result.state.status = CreditStatus::kRetired;
    const Problem problem = command_problem(result);
    EXPECT_EQ(problem.status, c.status);
    EXPECT_EQ(problem.slug, c.slug);
  }
  CreditCommandResult differ;
  differ.kind = Kind::kRejected;
  differ.error = DecideError{DecideError::Kind::kAttributesDiffer, "differs", CreditStatus::kCreated, {"quantity"}};
  const Problem problem = command_problem(differ);
  EXPECT_EQ(problem.status, 409);
  EXPECT_EQ(problem.slug, "already-registered");
  EXPECT_EQ(problem.differing_fields, std::vector<std::string>{"quantity"});
}

TEST(CreditJson, HasTheCommandResponseFields) {
  CreditState state;
  state.status = CreditStatus::kSold;
  state.version = 2;
  state.attributes = {"Project", "Registry1", "SN1234", 2023, 100};
  rapidjson::Document doc;
  doc.Parse(credit_json("800d4116-9d79-5774-bcc1-b5c8a8b69bcc", state).c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["id"].GetString(), "800d4116-9d79-5774-bcc1-b5c8a8b69bcc");
  EXPECT_STREQ(doc["status"].GetString(), "SOLD");
  EXPECT_EQ(doc["version"].GetInt64(), 2);
  EXPECT_EQ(doc["vintage"].GetInt(), 2023);
  EXPECT_EQ(doc["quantity"].GetInt64(), 100);
  EXPECT_STREQ(doc["serial_number"].GetString(), "SN1234");
}

}  // namespace
}  // namespace ledger
