// The pure parts of the HTTP API, kept out of the Beast translation unit so they build fast and are unit
// tested directly: routing, header parsing, and the JSON bodies of responses (RFC 9457 problems included).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command/role.h"
#include "command/credit.h"
#include "command/credit_commands.h"
#include "command/credit_record.h"
#include "command/credit_request.h"

namespace ledger {

struct Problem {
  int status = 500;
  std::string slug;    // becomes "type": "/problems/<slug>"
  std::string title;
  std::string detail;
  std::vector<FieldError> errors;              // 422: one per bad field
  std::optional<std::string> current_status;   // 409 on a status conflict
  std::vector<std::string> differing_fields;   // 409 on attempted double issuance
  std::optional<std::string> confusable_with;  // 409: the id of the credit a new one looks like
  // 409 units-already-issued: the earlier block the new one overlaps.
  std::optional<std::string> overlapping_id, overlapping_serial_number;
  std::int64_t overlapping_start = 0, overlapping_end = 0;
  std::optional<std::int64_t> available;  // 409 quantity-exceeds-block: the block's quantity
  // 504 version-not-reached: the version asked for (?min_version) and the one the read model holds (0: none).
  std::optional<std::int64_t> min_version, version_held;
};

struct Route {
  enum class Kind {
    kRegister, kSell, kRetire, kCancel, kGetRecord, kListRecords, kHealth,
    kExplorer, kAsset, kDocs, kOpenApi, kMetrics, kVersion,
    // The verifiable log (docs/audit.md).
    kLogCheckpoint, kLogPublicKey, kLogConsistency, kLogLeaves, kRecordProof, kEvents,
    // Retirement certificates.
    kCertificate, kCertificateProof,
    kUnknown
  };
  Kind kind = Kind::kUnknown;
  std::string id;             // the {id} (or {name}) path segment as sent, for the routes that have one
  const char* method = "";    // the one method the route takes ("POST" or "GET")
  const char* path = "unmatched";  // the route's path template from kRoutes (a metrics label)
  bool needs_key = true;      // false for the public routes (health, docs, the page, metrics, version)
};

// The route table: every endpoint, once. Paths are segments, "{id}" or "{name}" standing for one segment.
// Adding an endpoint is one entry here plus its handler in server/http_server.cc, and its operation in
// server/web/openapi.json (a unit test keeps the two sets of paths equal).
struct RouteEntry {
  const char* path;
  const char* method;
  Route::Kind kind;
  bool command;    // a POST that changes the ledger (takes Idempotency-Key, counts against the command cap)
  bool needs_key;  // answered only with a valid API key
};
inline constexpr RouteEntry kRoutes[] = {
    {"/register", "POST", Route::Kind::kRegister, true, true},
    {"/records/{id}/sell", "POST", Route::Kind::kSell, true, true},
    {"/records/{id}/retire", "POST", Route::Kind::kRetire, true, true},
    {"/records/{id}/cancel", "POST", Route::Kind::kCancel, true, true},
    {"/records/{id}", "GET", Route::Kind::kGetRecord, false, true},
    {"/record/{id}", "GET", Route::Kind::kGetRecord, false, true},  // the prototype's spelling
    {"/records", "GET", Route::Kind::kListRecords, false, true},
    {"/records/{id}/certificate", "GET", Route::Kind::kCertificate, false, true},
    {"/records/{id}/certificate.proof", "GET", Route::Kind::kCertificateProof, false, true},
    {"/healthz", "GET", Route::Kind::kHealth, false, false},
    {"/", "GET", Route::Kind::kExplorer, false, false},         // the explorer page
    {"/assets/{name}", "GET", Route::Kind::kAsset, false, false},  // the pages' scripts, styles, images
    {"/docs", "GET", Route::Kind::kDocs, false, false},         // Swagger UI over /openapi.json
    {"/openapi.json", "GET", Route::Kind::kOpenApi, false, false},
    {"/metrics", "GET", Route::Kind::kMetrics, false, false},   // Prometheus text format
    {"/version", "GET", Route::Kind::kVersion, false, false},
    {"/log/checkpoint", "GET", Route::Kind::kLogCheckpoint, false, true},
    {"/log/public-key", "GET", Route::Kind::kLogPublicKey, false, true},
    {"/log/consistency", "GET", Route::Kind::kLogConsistency, false, true},
    {"/log/leaves", "GET", Route::Kind::kLogLeaves, false, true},
    {"/records/{id}/proof", "GET", Route::Kind::kRecordProof, false, true},
    {"/events", "GET", Route::Kind::kEvents, false, true},
};

// True for the routes of kRoutes marked `command`.
bool is_command_route(Route::Kind kind);

// Matches a request target (query string ignored, one trailing '/' allowed) against kRoutes. An
// absolute-form target (RFC 9112 3.2.2: "http://host:port/records/x") is routed on its path.
Route match_route(std::string_view target);

// The query parameters of a target ("?a=1&b=x%20y"), percent-decoded ('+' as space). nullopt when an
// escape is malformed or a name repeats (which value should win is unclear).
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view target);

// Validates an Idempotency-Key value: 1..255 characters 0x20..0x7E, no space at either end. "" when fine,
// else what is wrong.
std::string check_idempotency_key(std::string_view value);

// The lowercase hex SHA-256 of a request (method, origin-form target, body): what "the same request" is
// for an idempotency key.
std::string request_fingerprint(std::string_view method, std::string_view target, std::string_view body);

// The origin-form part ("/path?query") of a request target: an absolute-form target ("http://a/b" or
// "https://a/b", scheme case-insensitive) loses its scheme and authority ("http://a" alone gives "/");
// anything else is returned as is.
std::string_view origin_form(std::string_view target);

// Header fields a request may carry at most once: not lists (RFC 9110 5.3), so two lines cannot be
// combined, and picking one would let a proxy and this server read different requests.
inline constexpr std::array<std::string_view, 5> kSingletonFields = {"Host", "Authorization", "Content-Type",
                                                                     "X-Request-Id", "Idempotency-Key"};

// What the server needs to know about a request head to check it before routing.
struct RequestHead {
  unsigned version = 11;                                 // 10 or 11
  std::array<std::size_t, kSingletonFields.size()> counts{};  // lines of each kSingletonFields entry
  std::string_view host;                                  // the Host value when counts[0] == 1
};

// 400 when a singleton field is repeated, when an HTTP/1.1 request has no Host (RFC 9112 3.2), or when
// Host is not a valid uri-host[:port]. nullopt when the head is fine.
std::optional<Problem> check_request_head(const RequestHead& head);

// True when `role` may ever send a command of this route (register, sell, retire), whatever the credit:
// auditors never may, holders never register. Refused before queueing, so such a key costs no database
// work. Which credit a key may change is still the decider's business.
bool role_may_send(Role role, Route::Kind kind);
// The 403 answering a command the key's role can never send.
Problem role_forbidden_problem(Role role, Route::Kind kind);

// Parses an If-Match header value: `*` or a list of strong entity tags like "3". Weak tags (W/"3") never
// match (RFC 9110 strong comparison); entity tags compare as strings, so only the exact text of an ETag
// this server sends ("2", never "02" or "+2") names a version. nullopt when the value is malformed.
// Several If-Match lines are one list (RFC 9110 5.3): join them with ", " before calling.
std::optional<VersionPrecondition> parse_if_match(std::string_view value);

// True when a Content-Type names JSON (application/json or any +json type), parameters ignored.
bool is_json_content_type(std::string_view content_type);

// A request id from the client's X-Request-Id when it is short and printable; otherwise empty.
std::string sanitize_request_id(std::string_view value);


std::string problem_json(const Problem& problem);

// What GET /healthz answers from: one background probe refreshes it every kHealthProbeIntervalMs (so an
// outage shows within a tenth of a second), and a health check costs no database work however often it
// is asked.
inline constexpr int kHealthProbeIntervalMs = 100;  // one SELECT 1 each: a constant load, however many ask
inline constexpr int kHealthStaleAfterMs = 3000;  // a status older than this (probe stuck) is unhealthy

struct HealthStatus {
  bool database_ok = false;
  std::string database_detail;                          // why not, when !database_ok
  std::chrono::steady_clock::time_point checked_at{};   // epoch: never probed yet
  // Set when the projector has stopped on an event it cannot apply (which one, and why); /healthz is
  // then unhealthy and says so.
  std::optional<std::string> projector_halted_reason;
};

// nullopt when healthy at `now`; otherwise the 503 problem (database down, status stale, projector halted).
std::optional<Problem> health_problem(const HealthStatus& status, std::chrono::steady_clock::time_point now,
                                      int stale_after_ms = kHealthStaleAfterMs);

// The problem answering a failed command (any kind but kCreated/kApplied/kReplayed).
Problem command_problem(const CreditCommandResult& result);

// The whole answer to a command result (not kReplayed): status, body (the record, with "remainder" for a
// partial command, or the problem), Location and ETag. Content-Type follows from the status (2xx JSON,
// else problem+json).
StoredResponse command_response(const CreditCommandResult& result);

// Whether a result's answer is stored with its idempotency key: decided answers are (2xx, 403, 404, 409
// refusals); outages, faults, contention and precondition failures are not, so a retry executes.
bool is_storable_result(const CreditCommandResult& result);

}  // namespace ledger
