// The pure parts of the HTTP API, kept out of the Beast translation unit so they build fast and are unit
// tested directly: routing, header parsing, and the JSON bodies of responses (RFC 9457 problems included).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command/credit.h"
#include "command/credit_commands.h"
#include "command/credit_request.h"

namespace ledger {

struct Route {
  enum class Kind { kRegister, kSell, kRetire, kGetRecord, kHealth, kUnknown };
  Kind kind = Kind::kUnknown;
  std::string id;             // the {id} path segment as sent, for kSell / kRetire / kGetRecord
  const char* method = "";    // the one method the route takes ("POST" or "GET")
};

// Matches a request target (query string ignored, one trailing '/' allowed).
Route match_route(std::string_view target);

// Parses an If-Match header value: `*` or a list of strong entity tags like "3". Weak tags (W/"3") never
// match (RFC 9110 strong comparison). nullopt when the value is malformed.
std::optional<VersionPrecondition> parse_if_match(std::string_view value);

// True when a Content-Type names JSON (application/json or any +json type), parameters ignored.
bool is_json_content_type(std::string_view content_type);

// A request id from the client's X-Request-Id when it is short and printable; otherwise empty.
std::string sanitize_request_id(std::string_view value);

// {"id","project_name","registry","vintage","quantity","serial_number","status","version","holder"}
std::string credit_json(const std::string& id, const CreditState& state);

struct Problem {
  int status = 500;
  std::string slug;    // becomes "type": "/problems/<slug>"
  std::string title;
  std::string detail;
  std::vector<FieldError> errors;              // 422: one per bad field
  std::optional<std::string> current_status;   // 409 on a status conflict
  std::vector<std::string> differing_fields;   // 409 on attempted double issuance
  std::optional<std::string> confusable_with;  // 409: the id of the credit a new one looks like
};

std::string problem_json(const Problem& problem);

// The problem answering a failed command (any kind but kCreated/kApplied).
Problem command_problem(const CreditCommandResult& result);

}  // namespace ledger
