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
      // absolute-form (RFC 9112 3.2.2): routed on the path
      {"http://127.0.0.1:8080/records/abc", Route::Kind::kGetRecord, "abc", "GET"},
      {"HTTP://example.org/register?x=1", Route::Kind::kRegister, "", "POST"},
      {"https://example.org/records/abc/sell", Route::Kind::kSell, "abc", "POST"},
      {"http://example.org", Route::Kind::kUnknown, "", ""},
      {"http://example.org/healthz", Route::Kind::kHealth, "", "GET"},
      {"ftp://example.org/healthz", Route::Kind::kUnknown, "", ""},
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
      // entity tags compare as strings: only the exact text of an ETag this server sends names a version
      {"\"02\"", true, false, {}},
      {"\"00\"", true, false, {}},
      {"\"0\"", true, false, {0}},
      {"\"02\", \"3\"", true, false, {3}},
      {"\"+2\"", true, false, {}},
      {"\"2 \"", false, false, {}},  // a space is not an etagc
      {"\"a\tb\"", false, false, {}},
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

TEST(OriginForm, StripsSchemeAndAuthorityOfAbsoluteForm) {
  EXPECT_EQ(origin_form("/records/x"), "/records/x");
  EXPECT_EQ(origin_form("http://127.0.0.1:8080/records/x?y=1"), "/records/x?y=1");
  EXPECT_EQ(origin_form("hTtPs://h/a"), "/a");
  EXPECT_EQ(origin_form("http://h"), "/");
  EXPECT_EQ(origin_form("http://h?q"), "?q");
  EXPECT_EQ(origin_form("*"), "*");
}

RequestHead head_with(unsigned version, std::size_t hosts, std::string_view host = "127.0.0.1:8080") {
  RequestHead head;
  head.version = version;
  head.counts[0] = hosts;
  head.host = host;
  return head;
}

TEST(CheckRequestHead, RepeatedSingletonFieldsAreRefusedNamingTheField) {
  for (std::size_t i = 0; i < kSingletonFields.size(); ++i) {
    RequestHead head = head_with(11, 1);
    head.counts[i] = 2;
    const auto problem = check_request_head(head);
    SCOPED_TRACE(std::string(kSingletonFields[i]));
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->status, 400);
    ASSERT_EQ(problem->errors.size(), 1u);
    EXPECT_EQ(problem->errors[0].field, std::string(kSingletonFields[i]));
  }
  EXPECT_FALSE(check_request_head(head_with(11, 1)).has_value());
}

TEST(CheckRequestHead, Http11NeedsOneValidHost) {
  const auto missing = check_request_head(head_with(11, 0));
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(missing->errors.at(0).field, "Host");
  EXPECT_FALSE(check_request_head(head_with(10, 0)).has_value());  // HTTP/1.0 has no Host requirement
  for (const char* good : {"127.0.0.1", "127.0.0.1:8080", "example.org", "[::1]:80", "[::1]", ""}) {
    SCOPED_TRACE(good);
    EXPECT_FALSE(check_request_head(head_with(11, 1, good)).has_value());
  }
  for (const char* bad : {"a b", "host:port", "host:123456", "[::1", "a/b", "h\"x"}) {
    SCOPED_TRACE(bad);
    const auto problem = check_request_head(head_with(11, 1, bad));
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->errors.at(0).field, "Host");
  }
}

TEST(RoleMaySend, AuditorsNeverCommandHoldersNeverRegister) {
  using K = Route::Kind;
  for (K kind : {K::kRegister, K::kSell, K::kRetire}) {
    EXPECT_FALSE(role_may_send(Role::kAuditor, kind));
    EXPECT_TRUE(role_may_send(Role::kAdmin, kind));
    EXPECT_TRUE(role_may_send(Role::kIssuer, kind));
  }
  EXPECT_FALSE(role_may_send(Role::kHolder, K::kRegister));
  EXPECT_TRUE(role_may_send(Role::kHolder, K::kSell));
  EXPECT_TRUE(role_may_send(Role::kHolder, K::kRetire));
  EXPECT_TRUE(role_may_send(Role::kAuditor, K::kGetRecord));
  const Problem problem = role_forbidden_problem(Role::kAuditor, K::kSell);
  EXPECT_EQ(problem.status, 403);
  EXPECT_EQ(problem.slug, "forbidden");
}

TEST(HealthProblem, FreshOkIsHealthyStaleOrDownOrHaltedIsNot) {
  const auto now = std::chrono::steady_clock::now();
  HealthStatus status;
  EXPECT_TRUE(health_problem(status, now).has_value());  // never checked
  status.database_ok = true;
  status.checked_at = now - std::chrono::milliseconds(500);
  EXPECT_FALSE(health_problem(status, now).has_value());
  status.checked_at = now - std::chrono::milliseconds(kHealthStaleAfterMs + 1);
  const auto stale = health_problem(status, now);
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->status, 503);
  status.checked_at = now;
  status.database_ok = false;
  status.database_detail = "connection refused";
  ASSERT_TRUE(health_problem(status, now).has_value());
  EXPECT_EQ(health_problem(status, now)->detail, "connection refused");
  status.database_ok = true;
  status.projector_halted_reason = "event at position 7 has an unknown type";
  const auto halted = health_problem(status, now);
  ASSERT_TRUE(halted.has_value());
  EXPECT_EQ(halted->slug, "projector-halted");
  EXPECT_EQ(halted->detail, *status.projector_halted_reason);
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
