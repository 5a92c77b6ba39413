// POST /register against the real binary: status codes, problem+json errors, idempotency, the deterministic id.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class RegisterApi : public LedgerFixture {};

// The command response of a successful register/sell/retire.
void ExpectCommandResponse(const HttpResponse& r, int status, const std::string& id, const std::string& state,
                           std::int64_t version) {
  ASSERT_EQ(r.status, status) << r.body;
  EXPECT_TRUE(contains(lower(r.header("Content-Type").value_or("")), "application/json"))
      << "Content-Type: " << r.header("Content-Type").value_or("<none>");
  EXPECT_EQ(r.header("ETag").value_or("<none>"), "\"" + std::to_string(version) + "\"");
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "id"), id);
  EXPECT_EQ(string_member(doc, "status"), state);
  ASSERT_TRUE(has_int_member(doc, "version")) << r.body;
  EXPECT_EQ(int_member(doc, "version"), version);
}

TEST_F(RegisterApi, ReadmeExampleAnswers201WithDeterministicIdAndHeaders) {
  EXPECT_EQ(ledger::credit_id("Registry1", "SN1234"), kReadmeCreditId);

  const HttpResponse r = http("POST", "/register", kReadmeRegisterBody);
  ExpectCommandResponse(r, 201, kReadmeCreditId, "CREATED", 1);
  EXPECT_EQ(r.header("Location").value_or("<none>"), std::string("/records/") + kReadmeCreditId);
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "project_name"), "Project") << "strings are trimmed";
  EXPECT_EQ(string_member(doc, "registry"), "Registry1");
  EXPECT_EQ(string_member(doc, "serial_number"), "SN1234");
  ASSERT_TRUE(has_int_member(doc, "vintage")) << "a 4-digit string vintage is answered as a number: " << r.body;
  EXPECT_EQ(int_member(doc, "vintage"), 2023);
  ASSERT_TRUE(has_int_member(doc, "quantity")) << r.body;
  EXPECT_EQ(int_member(doc, "quantity"), 100);

  // Committed before the answer: the event is in the log already.
  EXPECT_EQ(query_int(std::string("SELECT count(*) FROM events WHERE stream_id = '") + kReadmeCreditId +
                      "' AND stream_version = 1 AND event_type = 'CREATED'"),
            1);
  EXPECT_EQ(count_events(), 1);
}

TEST_F(RegisterApi, ReadmeExampleWorksAtTrailingSlashAndPrototypeGetUrl) {
  const HttpResponse created = http("POST", "/register/", kReadmeRegisterBody);
  ExpectCommandResponse(created, 201, kReadmeCreditId, "CREATED", 1);
  EXPECT_EQ(created.header("Location").value_or("<none>"), std::string("/records/") + kReadmeCreditId);

  const HttpResponse again = http("POST", "/register", kReadmeRegisterBody);
  ExpectCommandResponse(again, 200, kReadmeCreditId, "CREATED", 1);

  get_record_eventually(kReadmeCreditId, 1);
  const HttpResponse got = http("GET", std::string("/records/") + kReadmeCreditId + "/");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(string_member(parse_json(got.body), "project_name"), "Project");
}

TEST_F(RegisterApi, IdIsUuidV5OfLowerCasedRegistryAndSerial) {
  CreditSpec spec;
  spec.registry = "Gold Standard";
  spec.serial_number = "GS-42";
  const HttpResponse r = register_credit(spec);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = string_member(parse_json(r.body), "id");
  EXPECT_EQ(id, ledger::credit_id("Gold Standard", "GS-42"));
  EXPECT_EQ(id, ledger::credit_id("gold standard", "GS-42")) << "the registry is lower-cased for the id";
  EXPECT_EQ(id[14], '5') << "UUID version 5: " << id;
  EXPECT_NE(id, ledger::credit_id("gold standard", "gs-42")) << "the serial number is case-sensitive";
}

TEST_F(RegisterApi, IdenticalRegistrationAnswers200AndAppendsNothing) {
  CreditSpec spec;
  spec.serial_number = "VCS-IDEM-1";
  const HttpResponse first = register_credit(spec);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = string_member(parse_json(first.body), "id");
  ASSERT_EQ(count_events(), 1);

  ExpectCommandResponse(register_credit(spec), 200, id, "CREATED", 1);
  EXPECT_EQ(count_events(), 1) << "an identical registration must not append an event";

  // The same credit written differently is still identical: padded strings, vintage as a 4-digit string.
  CreditSpec same = spec;
  same.project_name = "  " + spec.project_name + "\t";
  same.registry = spec.registry + " ";
  same.vintage = "\"2023\"";
  ExpectCommandResponse(register_credit(same), 200, id, "CREATED", 1);
  EXPECT_EQ(count_events(), 1);
}

TEST_F(RegisterApi, RegistrationAfterSaleStillAnswers200WithCurrentState) {
  const std::string id = register_new("VCS-IDEM-2");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  CreditSpec spec;
  spec.serial_number = "VCS-IDEM-2";
  const HttpResponse again = register_credit(spec);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(string_member(parse_json(again.body), "id"), id);
  EXPECT_EQ(count_events(), 2);
}

TEST_F(RegisterApi, DifferentAttributesAnswer409NamingEachDifference) {
  CreditSpec spec;
  spec.serial_number = "VCS-CONFLICT-1";
  ASSERT_EQ(register_credit(spec).status, 201);

  CreditSpec other_quantity = spec;
  other_quantity.quantity = "200";
  const HttpResponse r1 = register_credit(other_quantity);
  EXPECT_TRUE(IsProblem(r1, 409));
  EXPECT_TRUE(contains(problem_detail(r1), "quantity")) << "detail: " << problem_detail(r1);
  EXPECT_FALSE(contains(problem_detail(r1), "project_name")) << "detail: " << problem_detail(r1);

  CreditSpec two_differ = spec;
  two_differ.project_name = "Another Project";
  two_differ.vintage = "2019";
  const HttpResponse r2 = register_credit(two_differ);
  EXPECT_TRUE(IsProblem(r2, 409));
  EXPECT_TRUE(contains(problem_detail(r2), "project_name")) << "detail: " << problem_detail(r2);
  EXPECT_TRUE(contains(problem_detail(r2), "vintage")) << "detail: " << problem_detail(r2);
  EXPECT_FALSE(contains(problem_detail(r2), "quantity")) << "detail: " << problem_detail(r2);

  EXPECT_EQ(count_events(), 1) << "a conflicting registration must not append";
  const HttpResponse got = get_record_eventually(ledger::credit_id(spec.registry, spec.serial_number), 1);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(int_member(parse_json(got.body), "quantity"), 100) << "the first registration stands";
}

TEST_F(RegisterApi, MalformedJsonAnswers400) {
  const std::vector<std::string> bodies = {
      R"({"project_name": "x", "registry": )",
      "not json at all",
      "{\"project_name\":\"Bad \xff\xfe UTF-8\",\"registry\":\"R\",\"vintage\":2020,\"quantity\":1,"
      "\"serial_number\":\"S\"}",
      R"({"project_name":"P","registry":"R","vintage":2020,"quantity":1,"serial_number":"S"} trailing)",
      // A repeated field is ambiguous (which one counts?), so it is refused rather than guessed.
      R"({"project_name":"P","registry":"R","vintage":2020,"quantity":1,"quantity":1000,"serial_number":"S"})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE("body: " + body);
    EXPECT_TRUE(IsProblem(http("POST", "/register", body), 400));
  }
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RegisterApi, NonJsonContentTypeAnswers415) {
  CreditSpec spec;
  spec.serial_number = "CT-1";
  const HttpResponse r = http("POST", "/register", spec.to_json(), {{"Content-Type", "text/plain"}});
  EXPECT_TRUE(IsProblem(r, 415));
  EXPECT_EQ(count_events(), 0);
  const HttpResponse with_charset =
      http("POST", "/register", spec.to_json(), {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(with_charset.status, 201) << with_charset.body;
}

TEST_F(RegisterApi, RequestIdIsEchoedAndRecordedInEventMetadata) {
  CreditSpec spec;
  spec.serial_number = "REQ-ID-1";
  const HttpResponse r = http("POST", "/register", spec.to_json(), {{"X-Request-Id", "it-request-0042"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("X-Request-Id").value_or("<none>"), "it-request-0042");
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE metadata::text LIKE '%it-request-0042%'"), 1)
      << "metadata: " << query_scalar("SELECT metadata::text FROM events LIMIT 1");
  const HttpResponse without = http("GET", "/healthz");
  EXPECT_FALSE(without.header("X-Request-Id").value_or("").empty()) << "a request id is made when none is sent";
}

TEST_F(RegisterApi, HeadersOver8KiBAnswer431) {
  CreditSpec spec;
  spec.serial_number = "BIG-HEADER";
  const RawResult raw = send_raw(port(), "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Content-Type: application/json\r\nX-Padding: " +
                                             std::string(9 * 1024, 'h') + "\r\nContent-Length: " +
                                             std::to_string(spec.to_json().size()) + "\r\n\r\n" + spec.to_json());
  ASSERT_TRUE(raw.response.has_value()) << "no response: " << raw.error;
  EXPECT_TRUE(IsProblem(*raw.response, 431));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RegisterApi, EmptyBodyIsRejected) {
  // Not JSON (400), or read as an object missing every field (422): either way a problem, and no event.
  const HttpResponse r = http("POST", "/register", "");
  EXPECT_TRUE(r.status == 400 || r.status == 422) << r.status << " " << r.body;
  EXPECT_TRUE(IsProblem(r, r.status));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RegisterApi, JsonThatIsNotAnObjectIsRejected) {
  for (const std::string body : {"[1,2,3]", "\"text\"", "null", "42"}) {
    SCOPED_TRACE("body: " + body);
    const HttpResponse r = http("POST", "/register", body);
    EXPECT_TRUE(r.status == 400 || r.status == 422) << r.status << " " << r.body;
    EXPECT_TRUE(IsProblem(r, r.status));
  }
  EXPECT_EQ(count_events(), 0);
}

struct InvalidCase {
  std::string name;
  std::string body;
  std::string field;
};

std::string body_with(const std::string& project_name, const std::string& registry, const std::string& vintage,
                      const std::string& quantity, const std::string& serial) {
  std::vector<std::pair<std::string, std::string>> members;
  if (!project_name.empty()) members.emplace_back("project_name", project_name);
  if (!registry.empty()) members.emplace_back("registry", registry);
  if (!vintage.empty()) members.emplace_back("vintage", vintage);
  if (!quantity.empty()) members.emplace_back("quantity", quantity);
  if (!serial.empty()) members.emplace_back("serial_number", serial);
  return json_object(members);
}

std::vector<InvalidCase> invalid_cases() {
  const std::string p = "\"Project\"", r = "\"Verra\"", v = "2023", q = "100", s = "\"SN-1\"";
  const std::string omit;
  return {
      {"quantity as string", body_with(p, r, v, "\"100\"", s), "quantity"},
      {"quantity fractional", body_with(p, r, v, "1.5", s), "quantity"},
      {"quantity zero", body_with(p, r, v, "0", s), "quantity"},
      {"quantity negative", body_with(p, r, v, "-5", s), "quantity"},
      {"quantity over 10^12", body_with(p, r, v, "1000000000001", s), "quantity"},
      {"quantity null", body_with(p, r, v, "null", s), "quantity"},
      {"quantity missing", body_with(p, r, v, omit, s), "quantity"},
      {"vintage 1989", body_with(p, r, "1989", q, s), "vintage"},
      {"vintage 2101", body_with(p, r, "2101", q, s), "vintage"},
      {"vintage 2-digit string", body_with(p, r, "\"23\"", q, s), "vintage"},
      {"vintage non-numeric string", body_with(p, r, "\"abcd\"", q, s), "vintage"},
      {"vintage fractional", body_with(p, r, "2023.5", q, s), "vintage"},
      {"vintage missing", body_with(p, r, omit, q, s), "vintage"},
      {"project_name missing", body_with(omit, r, v, q, s), "project_name"},
      {"project_name blank after trim", body_with("\" \\t  \"", r, v, q, s), "project_name"},
      {"project_name 201 chars", body_with(json_string(std::string(201, 'p')), r, v, q, s), "project_name"},
      {"project_name control char", body_with("\"Pro\\u0007ject\"", r, v, q, s), "project_name"},
      {"project_name not a string", body_with("5", r, v, q, s), "project_name"},
      {"registry empty", body_with(p, "\"\"", v, q, s), "registry"},
      {"registry missing", body_with(p, omit, v, q, s), "registry"},
      {"registry newline", body_with(p, "\"Ver\\nra\"", v, q, s), "registry"},
      {"serial_number 257 chars", body_with(p, r, v, q, json_string(std::string(257, 's'))), "serial_number"},
      {"serial_number missing", body_with(p, r, v, q, omit), "serial_number"},
  };
}

TEST_F(RegisterApi, InvalidFieldsAnswer422NamingTheField) {
  for (const auto& c : invalid_cases()) {
    SCOPED_TRACE(c.name + ": " + c.body.substr(0, 300));
    const HttpResponse r = http("POST", "/register", c.body);
    EXPECT_TRUE(IsProblem(r, 422));
    EXPECT_TRUE(has_item(error_fields(r), c.field)) << r.body;
  }
  EXPECT_EQ(count_events(), 0) << "no invalid registration may append";
}

TEST_F(RegisterApi, SeveralInvalidFieldsAreAllReportedInOneResponse) {
  const std::string body = json_object({{"registry", "\"Verra\""},
                                        {"vintage", "1989"},
                                        {"quantity", "\"100\""},
                                        {"serial_number", "\"SN-MULTI\""}});
  const HttpResponse r = http("POST", "/register", body);
  ASSERT_TRUE(IsProblem(r, 422));
  const auto fields = error_fields(r);
  EXPECT_TRUE(has_item(fields, "project_name")) << r.body;
  EXPECT_TRUE(has_item(fields, "vintage")) << r.body;
  EXPECT_TRUE(has_item(fields, "quantity")) << r.body;
  EXPECT_FALSE(has_item(fields, "registry")) << r.body;
  EXPECT_FALSE(has_item(fields, "serial_number")) << r.body;
  const auto doc = parse_json(r.body);
  for (const auto& error : doc["errors"].GetArray()) {
    EXPECT_FALSE(string_member(error, "message").empty()) << "every error has a message: " << r.body;
  }
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RegisterApi, BoundaryValuesAreAccepted) {
  struct Case {
    std::string name;
    CreditSpec spec;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, auto change) {
    CreditSpec spec;
    spec.serial_number = "BOUNDARY-" + std::to_string(cases.size());
    change(spec);
    cases.push_back({std::move(name), spec});
  };
  add("vintage 1990", [](CreditSpec& s) { s.vintage = "1990"; });
  add("vintage 2100", [](CreditSpec& s) { s.vintage = "2100"; });
  add("vintage \"2100\"", [](CreditSpec& s) { s.vintage = "\"2100\""; });
  add("quantity 1", [](CreditSpec& s) { s.quantity = "1"; });
  add("quantity 10^12", [](CreditSpec& s) { s.quantity = "1000000000000"; });
  add("project_name 200 chars", [](CreditSpec& s) { s.project_name = std::string(200, 'p'); });
  add("project_name 200 chars after trim", [](CreditSpec& s) { s.project_name = "  " + std::string(200, 'q') + " "; });
  add("serial_number 256 chars", [](CreditSpec& s) { s.serial_number = std::string(256, 's'); });
  add("non-ASCII text", [](CreditSpec& s) { s.project_name = "Reforestación Ñandú 森林"; });
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const HttpResponse r = register_credit(c.spec);
    EXPECT_EQ(r.status, 201) << r.body;
  }
  EXPECT_EQ(count_events(), static_cast<std::int64_t>(cases.size()));

  CreditSpec trimmed;
  trimmed.project_name = "\t Tabbed Name \t";
  trimmed.serial_number = "  TRIM-1\t";
  const HttpResponse r = register_credit(trimmed);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "project_name"), "Tabbed Name");
  EXPECT_EQ(string_member(doc, "serial_number"), "TRIM-1");
  EXPECT_EQ(string_member(doc, "id"), ledger::credit_id("Verra", "TRIM-1"));
}

TEST_F(RegisterApi, UnknownFieldsAreIgnored) {
  const std::string body = json_object({{"project_name", "\"P\""},
                                        {"registry", "\"Verra\""},
                                        {"vintage", "2022"},
                                        {"quantity", "5"},
                                        {"serial_number", "\"UNKNOWN-FIELDS\""},
                                        {"colour", "\"green\""},
                                        {"nested", R"({"a":[1,2,{"b":null}]})"}});
  const HttpResponse r = http("POST", "/register", body);
  EXPECT_EQ(r.status, 201) << r.body;
}

// A valid registration padded with an unknown field to `total_bytes`.
std::string padded_register_body(const std::string& serial, std::size_t total_bytes) {
  const std::string head = R"({"project_name":"P","registry":"Verra","vintage":2020,"quantity":1,"serial_number":")" +
                           serial + R"(","padding":")";
  const std::string tail = "\"}";
  return head + std::string(total_bytes - head.size() - tail.size(), 'x') + tail;
}

TEST_F(RegisterApi, BodyOver64KiBAnswers413AndAppendsNothing) {
  const std::string big = padded_register_body("BIG-1", 65 * 1024 + 512);
  const HttpResponse r = http("POST", "/register", big);
  EXPECT_TRUE(IsProblem(r, 413));

  const std::string huge = padded_register_body("BIG-2", 1024 * 1024);
  const RawResult raw = send_raw(port(), "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Content-Type: application/json\r\nContent-Length: " +
                                             std::to_string(huge.size()) + "\r\n\r\n" + huge);
  ASSERT_TRUE(raw.response.has_value()) << "no response to a 1 MiB body: " << raw.error;
  EXPECT_TRUE(IsProblem(*raw.response, 413));

  EXPECT_EQ(count_events(), 0);
  EXPECT_EQ(http("GET", "/healthz").status, 200) << "the server still serves";
}

TEST_F(RegisterApi, BodyJustUnderTheLimitIsAccepted) {
  const HttpResponse r = http("POST", "/register", padded_register_body("NEAR-LIMIT", 60 * 1024));
  EXPECT_EQ(r.status, 201) << r.body.substr(0, 300);
}

TEST_F(RegisterApi, ChunkedBodyOver64KiBAnswers413) {
  const std::string body = padded_register_body("BIG-CHUNKED", 70 * 1024);
  std::string request =
      "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t offset = 0; offset < body.size(); offset += 8192) {
    const std::string chunk = body.substr(offset, 8192);
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    request += std::string(size) + "\r\n" + chunk + "\r\n";
  }
  request += "0\r\n\r\n";
  const RawResult raw = send_raw(port(), request);
  ASSERT_TRUE(raw.response.has_value()) << "no response: " << raw.error;
  EXPECT_TRUE(IsProblem(*raw.response, 413));
  EXPECT_EQ(count_events(), 0);
}

}  // namespace
}  // namespace ledger::test
