#include "server/http_api.h"

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

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
      {"/records", Route::Kind::kListRecords, "", "GET"},
      {"/records/", Route::Kind::kListRecords, "", "GET"},
      {"/records?holder=a&limit=5", Route::Kind::kListRecords, "", "GET"},
      {"/records/abc/cancel", Route::Kind::kCancel, "abc", "POST"},
      {"/records/abc/cancel/", Route::Kind::kCancel, "abc", "POST"},
      {"/records/abc/cancel?x=1", Route::Kind::kCancel, "abc", "POST"},
      {"/record/abc/cancel", Route::Kind::kUnknown, "", ""},
      {"/record", Route::Kind::kUnknown, "", ""},
      {"/records/abc/sell/more", Route::Kind::kUnknown, "", ""},
      {"/records/abc/def", Route::Kind::kUnknown, "", ""},
      {"/Register", Route::Kind::kUnknown, "", ""},
      {"/records/abc//", Route::Kind::kUnknown, "", ""},
      {"/register//", Route::Kind::kUnknown, "", ""},
      {"/", Route::Kind::kExplorer, "", "GET"},
      {"/?key=x", Route::Kind::kExplorer, "", "GET"},
      {"", Route::Kind::kUnknown, "", ""},
      {"?x=1", Route::Kind::kUnknown, "", ""},
      {"//", Route::Kind::kExplorer, "", "GET"},
      {"/assets/explorer.js", Route::Kind::kAsset, "explorer.js", "GET"},
      {"/assets", Route::Kind::kUnknown, "", ""},
      {"/assets/a/b", Route::Kind::kUnknown, "", ""},
      {"/docs", Route::Kind::kDocs, "", "GET"},
      {"/openapi.json", Route::Kind::kOpenApi, "", "GET"},
      {"/metrics", Route::Kind::kMetrics, "", "GET"},
      {"/version", Route::Kind::kVersion, "", "GET"},
      {"registers", Route::Kind::kUnknown, "", ""},
      // absolute-form (RFC 9112 3.2.2): routed on the path
      {"http://127.0.0.1:8080/records/abc", Route::Kind::kGetRecord, "abc", "GET"},
      {"HTTP://example.org/register?x=1", Route::Kind::kRegister, "", "POST"},
      {"https://example.org/records/abc/sell", Route::Kind::kSell, "abc", "POST"},
      {"http://example.org", Route::Kind::kExplorer, "", "GET"},
      {"http://example.org?x=/a", Route::Kind::kExplorer, "", "GET"},
      {"http://example.org/?x=/a", Route::Kind::kExplorer, "", "GET"},
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
  for (K kind : {K::kRegister, K::kSell, K::kRetire, K::kCancel}) {
    EXPECT_FALSE(role_may_send(Role::kAuditor, kind));
    EXPECT_TRUE(role_may_send(Role::kAdmin, kind));
    EXPECT_TRUE(role_may_send(Role::kIssuer, kind));
  }
  EXPECT_FALSE(role_may_send(Role::kHolder, K::kRegister));
  EXPECT_TRUE(role_may_send(Role::kHolder, K::kSell));
  EXPECT_TRUE(role_may_send(Role::kHolder, K::kRetire));
  EXPECT_TRUE(role_may_send(Role::kHolder, K::kCancel));  // which credits it may cancel is the decider's business
  EXPECT_TRUE(role_may_send(Role::kAuditor, K::kListRecords));
  EXPECT_TRUE(role_may_send(Role::kAuditor, K::kHealth));
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
  state.attributes = {"Project", "Registry1", "SN1234", 2023, 100, 1, 100};
  rapidjson::Document doc;
  doc.Parse(credit_json("800d4116-9d79-5774-bcc1-b5c8a8b69bcc", state).c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["id"].GetString(), "800d4116-9d79-5774-bcc1-b5c8a8b69bcc");
  EXPECT_STREQ(doc["status"].GetString(), "SOLD");
  EXPECT_EQ(doc["version"].GetInt64(), 2);
  EXPECT_EQ(doc["vintage"].GetInt(), 2023);
  EXPECT_EQ(doc["quantity"].GetInt64(), 100);
  EXPECT_STREQ(doc["serial_number"].GetString(), "SN1234");
  EXPECT_EQ(doc["block_start"].GetInt64(), 1);
  EXPECT_EQ(doc["block_end"].GetInt64(), 100);
  EXPECT_TRUE(doc["parent"].IsNull());
  EXPECT_EQ(doc["children_count"].GetInt64(), 0);
  EXPECT_TRUE(doc["retirement"].IsNull());
  EXPECT_TRUE(doc["cancellation"].IsNull());
  EXPECT_EQ(doc.MemberCount(), 16u);
}

// Every entry of the route table is reachable by match_route, with its kind, method and id.
TEST(MatchRoute, EveryRouteTableEntry) {
  std::set<Route::Kind> kinds;
  for (const RouteEntry& entry : kRoutes) {
    std::string path = entry.path;
    const std::size_t id_at = path.find('{');
    const bool has_id = id_at != std::string::npos;
    if (has_id) path.replace(id_at, path.find('}') - id_at + 1, "0b9a6d1e-7c1f-4a53-9d25-0f5d8c1e2a01");
    for (const std::string& target : {path, path + "/", path + "?a=b", "http://h:1" + path}) {
      SCOPED_TRACE(target);
      const Route route = match_route(target);
      EXPECT_EQ(route.kind, entry.kind);
      EXPECT_STREQ(route.method, entry.method);
      EXPECT_EQ(route.id, has_id ? "0b9a6d1e-7c1f-4a53-9d25-0f5d8c1e2a01" : "");
      EXPECT_STREQ(route.path, entry.path);
      EXPECT_EQ(route.needs_key, entry.needs_key);
    }
    EXPECT_EQ(is_command_route(entry.kind), entry.command) << entry.path;
    EXPECT_EQ(entry.command, std::string(entry.method) == "POST") << entry.path;
    kinds.insert(entry.kind);
  }
  // Every kind but kUnknown has an entry.
  for (Route::Kind kind : {Route::Kind::kRegister, Route::Kind::kSell, Route::Kind::kRetire, Route::Kind::kCancel,
                           Route::Kind::kGetRecord, Route::Kind::kListRecords, Route::Kind::kHealth,
                           Route::Kind::kExplorer, Route::Kind::kAsset, Route::Kind::kDocs, Route::Kind::kOpenApi,
                           Route::Kind::kMetrics, Route::Kind::kVersion}) {
    EXPECT_EQ(kinds.count(kind), 1u) << static_cast<int>(kind);
  }
  EXPECT_FALSE(is_command_route(Route::Kind::kUnknown));
}

// --- parse_query ---

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(ParseQuery, TableOfTargets) {
  struct Case {
    std::string target;
    std::optional<Params> params;
  };
  const Case cases[] = {
      {"/records", Params{}},
      {"/records?", Params{}},
      {"/records?limit=5", Params{{"limit", "5"}}},
      {"/records?holder=Acme%20Air&status=SOLD", Params{{"holder", "Acme Air"}, {"status", "SOLD"}}},
      {"/records?holder=Acme+Air", Params{{"holder", "Acme Air"}}},
      {"/records?holder=a%2Bb", Params{{"holder", "a+b"}}},
      {"/records?holder=%C3%A9%c3%a9", Params{{"holder", "\xC3\xA9\xC3\xA9"}}},
      {"/records?holder=%26%3D%3F", Params{{"holder", "&=?"}}},
      {"/records?x=a=b", Params{{"x", "a=b"}}},
      {"/records?flag", Params{{"flag", ""}}},
      {"/records?flag=", Params{{"flag", ""}}},
      {"/records?a=1&&b=2&", Params{{"a", "1"}, {"b", "2"}}},
      {"/records?%6Cimit=5", Params{{"limit", "5"}}},
      {"/records?b=2&a=1", Params{{"b", "2"}, {"a", "1"}}},  // order kept
      {"http://h:8080/records?limit=5", Params{{"limit", "5"}}},
      // A repeated name: which value should win is unclear.
      {"/records?limit=5&limit=6", std::nullopt},
      {"/records?limit=5&limit=5", std::nullopt},
      {"/records?limit=5&%6Cimit=6", std::nullopt},  // the same name once decoded
      // Malformed escapes.
      {"/records?holder=%", std::nullopt},
      {"/records?holder=%4", std::nullopt},
      {"/records?holder=%zz", std::nullopt},
      {"/records?holder=%4g", std::nullopt},
      {"/records?%=1", std::nullopt},
      {"/records?holder=a%", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    EXPECT_EQ(parse_query(c.target), c.params);
  }
}

// An escape at the very end of the query is complete.
TEST(ParseQuery, EscapeAtTheEnd) {
  EXPECT_EQ(parse_query("/records?holder=a%20"), (std::optional<Params>(Params{{"holder", "a "}})));
  EXPECT_EQ(parse_query("/records?holder=%41"), (std::optional<Params>(Params{{"holder", "A"}})));
}

// --- Idempotency-Key ---

TEST(CheckIdempotencyKey, Table) {
  struct Case {
    std::string value;
    bool ok;
  };
  const Case cases[] = {
      {"a", true},
      {"8f14e45f-ceea-467f-a0e6-0123456789ab", true},
      {"with inner spaces", true},
      {"!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", true},
      {std::string(255, 'k'), true},
      {"", false},
      {std::string(256, 'k'), false},
      {" leading", false},
      {"trailing ", false},
      {" ", false},
      {"tab\tinside", false},
      {"new\nline", false},
      {"del\x7f", false},
      {"caf\xC3\xA9", false},
      {std::string("nul\0", 4), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("[" + c.value + "]");
    const std::string problem = check_idempotency_key(c.value);
    EXPECT_EQ(problem.empty(), c.ok) << problem;
  }
  EXPECT_EQ(check_idempotency_key(""), "must be 1 to 255 characters");
  EXPECT_EQ(check_idempotency_key("a\tb"), "must be printable ASCII characters");
  EXPECT_EQ(check_idempotency_key(" a"), "must not start or end with a space");
}

TEST(RequestFingerprint, SameRequestSameFingerprint) {
  const std::string a = request_fingerprint("POST", "/records/x/sell", "{\"buyer\":\"B\"}");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a, request_fingerprint("POST", "http://h:8080/records/x/sell", "{\"buyer\":\"B\"}"));
  EXPECT_NE(a, request_fingerprint("POST", "/records/x/sell", "{\"buyer\":\"C\"}"));
  EXPECT_NE(a, request_fingerprint("POST", "/records/y/sell", "{\"buyer\":\"B\"}"));
  EXPECT_NE(a, request_fingerprint("PUT", "/records/x/sell", "{\"buyer\":\"B\"}"));
  // The parts are separated: moving a byte between them is another request.
  EXPECT_NE(request_fingerprint("POST", "/a", "b"), request_fingerprint("POST", "/ab", ""));
}

// --- Command answers ---

CreditState block_state(CreditStatus status, std::int64_t version, std::int64_t start, std::int64_t end,
                        std::string parent = "") {
  CreditState s;
  s.status = status;
  s.version = version;
  s.attributes = {"Project", "Registry1", "SN1234", 2023, end - start + 1, start, end};
  s.issuer = "Issuer Co";
  s.holder = "Acme";
  s.parent = std::move(parent);
  return s;
}

constexpr const char* kParentId = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc";
constexpr const char* kChildId = "9982ceec-9bc9-51a2-9a74-a8e6e96c072d";

TEST(CommandResponse, PartialResultAnswersTheChildWithTheRemainder) {
  CreditCommandResult result;
  result.kind = CreditCommandResult::Kind::kApplied;
  result.record_id = kChildId;
  result.state = block_state(CreditStatus::kSold, 2, 1, 10, kParentId);
  result.remainder_id = kParentId;
  result.remainder = block_state(CreditStatus::kCreated, 3, 11, 100);
  result.remainder->children_count = 1;
  const StoredResponse response = command_response(result);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.location, std::string("/records/") + kChildId);
  EXPECT_EQ(response.etag, "\"2\"");
  rapidjson::Document doc;
  doc.Parse(response.body.c_str());
  ASSERT_FALSE(doc.HasParseError()) << response.body;
  EXPECT_STREQ(doc["id"].GetString(), kChildId);
  EXPECT_STREQ(doc["status"].GetString(), "SOLD");
  EXPECT_EQ(doc["quantity"].GetInt64(), 10);
  EXPECT_STREQ(doc["parent"].GetString(), kParentId);
  ASSERT_TRUE(doc["remainder"].IsObject());
  const rapidjson::Value& remainder = doc["remainder"];
  EXPECT_EQ(remainder.MemberCount(), 5u);
  EXPECT_STREQ(remainder["id"].GetString(), kParentId);
  EXPECT_EQ(remainder["quantity"].GetInt64(), 90);
  EXPECT_EQ(remainder["block_start"].GetInt64(), 11);
  EXPECT_EQ(remainder["block_end"].GetInt64(), 100);
  EXPECT_EQ(remainder["version"].GetInt64(), 3);
  // The record members come first, exactly as credit_json writes them.
  EXPECT_EQ(response.body.rfind(credit_json(kChildId, result.state).substr(0, credit_json(kChildId, result.state).size() - 1), 0), 0u);
}

TEST(CommandResponse, WholeAndCreatedResults) {
  CreditCommandResult applied;
  applied.kind = CreditCommandResult::Kind::kApplied;
  applied.record_id = kParentId;
  applied.state = block_state(CreditStatus::kSold, 2, 1, 100);
  StoredResponse response = command_response(applied);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.location, "");
  EXPECT_EQ(response.etag, "\"2\"");
  EXPECT_EQ(response.body, credit_json(kParentId, applied.state));

  CreditCommandResult created = applied;
  created.kind = CreditCommandResult::Kind::kCreated;
  created.state = block_state(CreditStatus::kCreated, 1, 1, 100);
  response = command_response(created);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.location, std::string("/records/") + kParentId);
  EXPECT_EQ(response.etag, "\"1\"");
  EXPECT_EQ(response.body, credit_json(kParentId, created.state));
}

TEST(CommandResponse, ProblemsCarryTheEtagOfAnExistingBlock) {
  CreditCommandResult refused;
  refused.kind = CreditCommandResult::Kind::kRejected;
  refused.state = block_state(CreditStatus::kRetired, 3, 1, 100);
  refused.error = DecideError{DecideError::Kind::kWrongStatus, "credit is already retired", CreditStatus::kRetired};
  refused.detail = "credit is already retired";
  StoredResponse response = command_response(refused);
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(response.etag, "\"3\"");
  EXPECT_EQ(response.location, "");
  rapidjson::Document doc;
  doc.Parse(response.body.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["type"].GetString(), "/problems/invalid-status");
  EXPECT_STREQ(doc["current_status"].GetString(), "RETIRED");
  EXPECT_STREQ(doc["detail"].GetString(), "credit is already retired");

  CreditCommandResult missing;
  missing.kind = CreditCommandResult::Kind::kNotFound;
  response = command_response(missing);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.etag, "");
}

CreditCommandResult refused_with(CreditCommandResult::Kind kind, DecideError error) {
  CreditCommandResult result;
  result.kind = kind;
  result.detail = error.detail;
  result.state = block_state(error.current_status, 1, 1, 100);
  result.error = std::move(error);
  return result;
}

rapidjson::Document problem_doc(const Problem& problem) {
  rapidjson::Document doc;
  doc.Parse(problem_json(problem).c_str());
  return doc;
}

TEST(CommandProblem, UnitsAlreadyIssued) {
  DecideError error{DecideError::Kind::kUnitsIssued, "units 5..20 were issued before", CreditStatus::kUnregistered};
  error.overlapping_id = kParentId;
  error.overlapping_serial_number = "SN-EARLIER";
  error.overlapping_start = 5;
  error.overlapping_end = 20;
  const Problem problem = command_problem(refused_with(CreditCommandResult::Kind::kRejected, error));
  EXPECT_EQ(problem.status, 409);
  EXPECT_EQ(problem.slug, "units-already-issued");
  EXPECT_EQ(problem.detail, "units 5..20 were issued before");
  const rapidjson::Document doc = problem_doc(problem);
  ASSERT_FALSE(doc.HasParseError());
  ASSERT_TRUE(doc["overlapping"].IsObject());
  EXPECT_EQ(doc["overlapping"].MemberCount(), 4u);
  EXPECT_STREQ(doc["overlapping"]["id"].GetString(), kParentId);
  EXPECT_STREQ(doc["overlapping"]["serial_number"].GetString(), "SN-EARLIER");
  EXPECT_EQ(doc["overlapping"]["block_start"].GetInt64(), 5);
  EXPECT_EQ(doc["overlapping"]["block_end"].GetInt64(), 20);
  EXPECT_FALSE(doc.HasMember("current_status"));
  EXPECT_FALSE(doc.HasMember("available"));
  // Without a known serial number the member is null.
  error.overlapping_serial_number.clear();
  const rapidjson::Document unnamed =
      problem_doc(command_problem(refused_with(CreditCommandResult::Kind::kRejected, error)));
  EXPECT_TRUE(unnamed["overlapping"]["serial_number"].IsNull());
}

TEST(CommandProblem, QuantityExceedsBlock) {
  DecideError error{DecideError::Kind::kQuantityExceeds, "the block holds 70 units (31..100); 80 were asked for",
                    CreditStatus::kSold};
  error.available = 70;
  const Problem problem = command_problem(refused_with(CreditCommandResult::Kind::kRejected, error));
  EXPECT_EQ(problem.status, 409);
  EXPECT_EQ(problem.slug, "quantity-exceeds-block");
  EXPECT_EQ(problem.available, std::optional<std::int64_t>(70));
  ASSERT_EQ(problem.errors.size(), 1u);
  EXPECT_EQ(problem.errors[0].field, "quantity");
  const rapidjson::Document doc = problem_doc(problem);
  EXPECT_EQ(doc["available"].GetInt64(), 70);
  EXPECT_STREQ(doc["errors"][0]["field"].GetString(), "quantity");
  EXPECT_STREQ(doc["detail"].GetString(), "the block holds 70 units (31..100); 80 were asked for");
}

TEST(CommandProblem, UnknownBuyer) {
  const Problem problem = command_problem(refused_with(
      CreditCommandResult::Kind::kRejected,
      DecideError{DecideError::Kind::kUnknownBuyer, "no account \"Nobody\" has ever had an API key", CreditStatus::kCreated}));
  EXPECT_EQ(problem.status, 422);
  EXPECT_EQ(problem.slug, "unknown-buyer");
  ASSERT_EQ(problem.errors.size(), 1u);
  EXPECT_EQ(problem.errors[0].field, "buyer");
  EXPECT_NE(problem.detail.find("Nobody"), std::string::npos);
  EXPECT_FALSE(problem.current_status.has_value());
}

TEST(CommandProblem, RegistryNotBound) {
  const Problem problem = command_problem(
      refused_with(CreditCommandResult::Kind::kForbidden,
                   DecideError{DecideError::Kind::kRegistryNotBound,
                               "registry \"Verra\" is not bound to account \"Issuer Co\"", CreditStatus::kUnregistered}));
  EXPECT_EQ(problem.status, 403);
  EXPECT_EQ(problem.slug, "registry-not-bound");
  ASSERT_EQ(problem.errors.size(), 1u);
  EXPECT_EQ(problem.errors[0].field, "registry");
  EXPECT_NE(problem.detail.find("\"Verra\""), std::string::npos);
  // Any other refusal by permission is plain forbidden.
  const Problem forbidden = command_problem(refused_with(
      CreditCommandResult::Kind::kForbidden, DecideError{DecideError::Kind::kForbidden, "no", CreditStatus::kCreated}));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.slug, "forbidden");
  EXPECT_TRUE(forbidden.errors.empty());
}

TEST(CommandProblem, IdempotencyKeyReused) {
  CreditCommandResult result;
  result.kind = CreditCommandResult::Kind::kIdempotencyKeyReused;
  result.detail = "this Idempotency-Key was used for a different request";
  const Problem problem = command_problem(result);
  EXPECT_EQ(problem.status, 422);
  EXPECT_EQ(problem.slug, "idempotency-key-reused");
  ASSERT_EQ(problem.errors.size(), 1u);
  EXPECT_EQ(problem.errors[0].field, "Idempotency-Key");
  EXPECT_EQ(problem.detail, result.detail);
  const StoredResponse response = command_response(result);
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(response.etag, "");
}

TEST(CommandProblem, ConfusableAndWrongStatus) {
  DecideError confusable{DecideError::Kind::kConfusable, "looks the same", CreditStatus::kUnregistered};
  confusable.confusable_with = kParentId;
  Problem problem = command_problem(refused_with(CreditCommandResult::Kind::kRejected, confusable));
  EXPECT_EQ(problem.status, 409);
  EXPECT_EQ(problem.slug, "confusable-credit");
  EXPECT_EQ(problem.confusable_with, std::optional<std::string>(kParentId));
  problem = command_problem(refused_with(CreditCommandResult::Kind::kRejected,
                                         DecideError{DecideError::Kind::kWrongStatus, "x", CreditStatus::kCancelled}));
  EXPECT_EQ(problem.slug, "invalid-status");
  EXPECT_EQ(problem.current_status, std::optional<std::string>("CANCELLED"));
}

// Spec: answers are "Stored for answers 200/201/403/404/409 (not 412/422/429/5xx; a 5xx is not stored, so a retry
// executes)". Whether a result is stored must follow the status it is answered with.
TEST(IsStorableResult, FollowsTheAnsweredStatus) {
  using Kind = CreditCommandResult::Kind;
  const std::pair<Kind, DecideError::Kind> refusals[] = {
      {Kind::kRejected, DecideError::Kind::kWrongStatus},      {Kind::kRejected, DecideError::Kind::kAttributesDiffer},
      {Kind::kRejected, DecideError::Kind::kConfusable},       {Kind::kRejected, DecideError::Kind::kUnitsIssued},
      {Kind::kRejected, DecideError::Kind::kQuantityExceeds},  {Kind::kRejected, DecideError::Kind::kUnknownBuyer},
      {Kind::kForbidden, DecideError::Kind::kForbidden},       {Kind::kForbidden, DecideError::Kind::kRegistryNotBound},
      {Kind::kNotFound, DecideError::Kind::kNotFound},
  };
  for (const auto& [kind, why] : refusals) {
    const CreditCommandResult result = refused_with(kind, DecideError{why, "d", CreditStatus::kCreated});
    const int status = command_response(result).status;
    SCOPED_TRACE(std::to_string(status) + " " + command_problem(result).slug);
    const bool storable_status = status == 200 || status == 201 || status == 403 || status == 404 || status == 409;
    EXPECT_EQ(is_storable_result(result), storable_status);
  }
  for (Kind kind : {Kind::kCreated, Kind::kApplied}) {
    CreditCommandResult result;
    result.kind = kind;
    EXPECT_TRUE(is_storable_result(result));
  }
  for (Kind kind : {Kind::kPreconditionFailed, Kind::kContended, Kind::kUnavailable, Kind::kOutcomeUnknown,
                    Kind::kInternal, Kind::kIdempotencyKeyReused}) {
    CreditCommandResult result;
    result.kind = kind;
    EXPECT_FALSE(is_storable_result(result)) << static_cast<int>(kind);
  }
}

}  // namespace
}  // namespace ledger
