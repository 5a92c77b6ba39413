#include "server/http_api.h"

#include <cctype>

#include "command/text_rules.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ledger {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter& writer, std::string_view value) {
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view origin_form(std::string_view target) {
  auto starts_with_scheme = [&target](std::string_view scheme) {
    if (target.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(target[i])) != scheme[i]) return false;
    }
    return true;
  };
  std::size_t authority = 0;
  if (starts_with_scheme("http://")) authority = 7;
  else if (starts_with_scheme("https://")) authority = 8;
  else return target;
  const std::size_t path = target.find_first_of("/?", authority);
  if (path == std::string_view::npos) return "/";
  return target.substr(path);
}

namespace {

// RFC 3986 uri-host [":" port], loosely: reg-name / IPv4 characters, or an IP-literal in brackets, then
// an optional port of digits. Empty is allowed (RFC 9110 7.2: a target URI without authority).
bool valid_host(std::string_view host) {
  if (host.size() > 255) return false;
  std::string_view name = host;
  std::string_view port;
  if (!name.empty() && name.front() == '[') {
    const std::size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : name.substr(1, close - 1)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    std::string_view rest = name.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    const std::size_t colon = name.rfind(':');
    if (colon != std::string_view::npos) {
      port = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    for (char c : name) {
      const bool unreserved = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
                              c == '~';
      const bool sub_delim = std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
      if (!unreserved && !sub_delim && c != '%') return false;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<Problem> check_request_head(const RequestHead& head) {
  for (std::size_t i = 0; i < kSingletonFields.size(); ++i) {
    if (head.counts[i] <= 1) continue;
    const std::string field(kSingletonFields[i]);
    Problem problem{400, "repeated-header", "Header field sent more than once",
                    "the request has " + std::to_string(head.counts[i]) + " " + field +
                        " header fields; send exactly one"};
    problem.errors.push_back({field, "must appear at most once"});
    return problem;
  }
  if (head.counts[0] == 0 && head.version >= 11) {
    Problem problem{400, "missing-host", "Host header field required",
                    "an HTTP/1.1 request must carry a Host header field (RFC 9112 3.2)"};
    problem.errors.push_back({"Host", "is required in HTTP/1.1"});
    return problem;
  }
  if (head.counts[0] == 1 && !valid_host(head.host)) {
    Problem problem{400, "invalid-host", "Invalid Host header field", "Host must be host[:port]"};
    problem.errors.push_back({"Host", "must be host[:port]"});
    return problem;
  }
  return std::nullopt;
}

bool role_may_send(Role role, Route::Kind kind) {
  if (!is_command_route(kind)) return true;
  if (role == Role::kAuditor) return false;
  if (role == Role::kHolder && kind == Route::Kind::kRegister) return false;
  return true;
}

Problem role_forbidden_problem(Role role, Route::Kind kind) {
  Problem problem{403, "forbidden", "Not allowed for this key", ""};
  if (role == Role::kAuditor) {
    problem.detail = "the auditor role reads the ledger and changes nothing";
  } else if (role == Role::kHolder && kind == Route::Kind::kRegister) {
    problem.detail = "the holder role cannot register credits; an issuer (or admin) key is needed";
  } else {
    problem.detail = std::string("the ") + role_name(role) + " role cannot send this command";
  }
  return problem;
}

bool is_command_route(Route::Kind kind) {
  for (const RouteEntry& entry : kRoutes) {
    if (entry.kind == kind) return entry.command;
  }
  return false;
}

namespace {

// "/a/b/c" -> {"a", "b", "c"}, "/" -> {}; false for an empty segment ("//", or a path not starting with '/').
bool split_path(std::string_view path, std::vector<std::string_view>* segments) {
  if (path == "/") return true;
  while (!path.empty()) {
    if (path.front() != '/') return false;
    path.remove_prefix(1);
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (segment.empty()) return false;
    segments->push_back(segment);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return true;
}

}  // namespace

Route match_route(std::string_view target) {
  Route route;
  const std::string_view origin = origin_form(target);
  std::string_view path = origin.substr(0, origin.find('?'));
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) {
    // An absolute-form target without a path ("http://h", "http://h?x") names the root (RFC 9110 4.2.3);
    // an origin-form one without a path ("", "?x") names nothing.
    if (origin.data() == target.data()) return route;
    path = "/";
  }
  std::vector<std::string_view> segments;
  if (!split_path(path, &segments)) return route;
  for (const RouteEntry& entry : kRoutes) {
    std::vector<std::string_view> pattern;
    split_path(entry.path, &pattern);
    if (pattern.size() != segments.size()) continue;
    bool matched = true;
    std::string_view id;
    for (std::size_t i = 0; i < pattern.size() && matched; ++i) {
      if (pattern[i].front() == '{') id = segments[i];
      else matched = pattern[i] == segments[i];
    }
    if (!matched) continue;
    route.kind = entry.kind;
    route.method = entry.method;
    route.path = entry.path;
    route.needs_key = entry.needs_key;
    route.id = std::string(id);
    return route;
  }
  return route;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> params;
  target = origin_form(target);
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return params;
  std::string_view query = target.substr(question + 1);
  const auto decode = [](std::string_view text, std::string* out) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out->push_back(' ');
      } else if (text[i] == '%') {
        if (i + 2 >= text.size()) return false;
        const auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        const int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        out->push_back(text[i]);
      }
    }
    return true;
  };
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string name, value;
    if (!decode(pair.substr(0, eq), &name)) return std::nullopt;
    if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), &value)) return std::nullopt;
    for (const auto& [existing, unused] : params) {
      if (existing == name) return std::nullopt;
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

std::string check_idempotency_key(std::string_view value) {
  if (value.empty() || value.size() > 255) return "must be 1 to 255 characters";
  for (const char c : value) {
    if (c < 0x20 || c > 0x7e) return "must be printable ASCII characters";
  }
  if (value.front() == ' ' || value.back() == ' ') return "must not start or end with a space";
  return "";
}

std::string request_fingerprint(std::string_view method, std::string_view target, std::string_view body) {
  std::string text;
  text.reserve(method.size() + target.size() + body.size() + 2);
  text.append(method).append("\n").append(origin_form(target)).append("\n").append(body);
  return sha256_hex(text);
}

std::optional<VersionPrecondition> parse_if_match(std::string_view value) {
  VersionPrecondition precondition;
  value = trim_ows(value);
  if (value == "*") {
    precondition.any = true;
    return precondition;
  }
  bool any_tag = false;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view tag = trim_ows(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (tag.empty()) continue;
    bool weak = false;
    if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') {
      weak = true;
      tag.remove_prefix(2);
    }
    if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
    tag = tag.substr(1, tag.size() - 2);
    // etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3)
    for (char c : tag) {
      const auto u = static_cast<unsigned char>(c);
      if (u == '"' || u < 0x21 || u == 0x7f) return std::nullopt;
    }
    any_tag = true;
    // Syntactically fine but can never match: weak, or not the exact text of a version this server sends
    // (a leading zero makes a different string).
    if (weak || tag.empty() || tag.size() > 18 || (tag.size() > 1 && tag[0] == '0')) continue;
    std::int64_t version = 0;
    bool digits = true;
    for (char c : tag) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      version = version * 10 + (c - '0');
    }
    if (digits) precondition.versions.push_back(version);
  }
  if (!any_tag) return std::nullopt;
  return precondition;
}

bool is_json_content_type(std::string_view content_type) {
  std::string media(trim_ows(content_type.substr(0, content_type.find(';'))));
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media == "application/json") return true;
  const std::size_t slash = media.find('/');
  return slash != std::string::npos && media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0;
}

std::string sanitize_request_id(std::string_view value) {
  if (value.empty() || value.size() > 128) return "";
  for (char c : value) {
    if (c < 0x21 || c > 0x7e) return "";
  }
  return std::string(value);
}

std::string problem_json(const Problem& problem) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("type");
  write_string(writer, "/problems/" + problem.slug);
  writer.Key("title");
  write_string(writer, problem.title);
  writer.Key("status");
  writer.Int(problem.status);
  writer.Key("detail");
  write_string(writer, problem.detail);
  if (!problem.errors.empty()) {
    writer.Key("errors");
    writer.StartArray();
    for (const FieldError& error : problem.errors) {
      writer.StartObject();
      writer.Key("field");
      write_string(writer, error.field);
      writer.Key("message");
      write_string(writer, error.message);
      writer.EndObject();
    }
    writer.EndArray();
  }
  if (problem.current_status.has_value()) {
    writer.Key("current_status");
    write_string(writer, *problem.current_status);
  }
  if (problem.confusable_with.has_value()) {
    writer.Key("confusable_with");
    write_string(writer, *problem.confusable_with);
  }
  if (problem.overlapping_id.has_value()) {
    writer.Key("overlapping");
    writer.StartObject();
    writer.Key("id");
    write_string(writer, *problem.overlapping_id);
    writer.Key("serial_number");
    if (problem.overlapping_serial_number.has_value()) write_string(writer, *problem.overlapping_serial_number);
    else writer.Null();
    writer.Key("block_start");
    writer.Int64(problem.overlapping_start);
    writer.Key("block_end");
    writer.Int64(problem.overlapping_end);
    writer.EndObject();
  }
  if (problem.min_version.has_value()) {
    writer.Key("min_version");
    writer.Int64(*problem.min_version);
  }
  if (problem.version_held.has_value()) {
    writer.Key("version");
    writer.Int64(*problem.version_held);
  }
  if (problem.available.has_value()) {
    writer.Key("available");
    writer.Int64(*problem.available);
  }
  if (!problem.differing_fields.empty()) {
    writer.Key("differing_fields");
    writer.StartArray();
    for (const std::string& field : problem.differing_fields) write_string(writer, field);
    writer.EndArray();
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<Problem> health_problem(const HealthStatus& status, std::chrono::steady_clock::time_point now,
                                      int stale_after_ms) {
  const std::string slug = "database-unavailable";
  const std::string title = "The ledger database is unavailable";
  if (status.checked_at == std::chrono::steady_clock::time_point{}) {
    return Problem{503, slug, title, "the database has not been checked yet; retry shortly"};
  }
  const auto age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - status.checked_at).count();
  if (age_ms > stale_after_ms) {
    return Problem{503, slug, title,
                   "the last database check finished " + std::to_string(age_ms) + " ms ago (more than " +
                       std::to_string(stale_after_ms) + " ms): the database is not answering"};
  }
  if (!status.database_ok) return Problem{503, slug, title, status.database_detail};
  if (status.projector_halted_reason.has_value()) {
    return Problem{503, "projector-halted", "The projector has stopped", *status.projector_halted_reason};
  }
  return std::nullopt;
}

Problem command_problem(const CreditCommandResult& result) {
  using Kind = CreditCommandResult::Kind;
  Problem problem;
  problem.detail = result.detail;
  switch (result.kind) {
    case Kind::kNotFound:
      problem.status = 404;
      problem.slug = "credit-not-found";
      problem.title = "Credit not found";
      problem.detail = "no credit has this id";
      break;
    case Kind::kRejected: {
      problem.status = 409;
      const DecideError::Kind why = result.error.has_value() ? result.error->kind : DecideError::Kind::kWrongStatus;
      if (why == DecideError::Kind::kAttributesDiffer) {
        problem.slug = "already-registered";
        problem.title = "Credit already registered with different attributes";
        problem.differing_fields = result.error->differing_fields;
      } else if (why == DecideError::Kind::kConfusable) {
        problem.slug = "confusable-credit";
        problem.title = "A credit that looks the same is already registered";
        problem.confusable_with = result.error->confusable_with;
      } else if (why == DecideError::Kind::kUnitsIssued) {
        problem.slug = "units-already-issued";
        problem.title = "Some of these units were issued before";
        problem.overlapping_id = result.error->overlapping_id;
        if (!result.error->overlapping_serial_number.empty()) {
          problem.overlapping_serial_number = result.error->overlapping_serial_number;
        }
        problem.overlapping_start = result.error->overlapping_start;
        problem.overlapping_end = result.error->overlapping_end;
      } else if (why == DecideError::Kind::kQuantityExceeds) {
        problem.slug = "quantity-exceeds-block";
        problem.title = "The block holds fewer units than asked for";
        problem.available = result.error->available;
        problem.errors.push_back({"quantity", "must be at most " + std::to_string(result.error->available) +
                                                  ", the block's quantity"});
      } else if (why == DecideError::Kind::kUnknownBuyer) {
        problem.status = 422;
        problem.slug = "unknown-buyer";
        problem.title = "The buyer is not a known account";
        problem.errors.push_back({"buyer", "must be an account that has or had an API key"});
      } else {
        problem.slug = "invalid-status";
        problem.title = "Command not allowed in the credit's current status";
        problem.current_status = status_name(result.state.status);
      }
      break;
    }
    case Kind::kForbidden:
      problem.status = 403;
      if (result.error.has_value() && result.error->kind == DecideError::Kind::kRegistryNotBound) {
        problem.slug = "registry-not-bound";
        problem.title = "The registry is not bound to this issuer";
        problem.errors.push_back({"registry", "is not bound to this account"});
      } else {
        problem.slug = "forbidden";
        problem.title = "Not allowed for this key";
      }
      break;
    case Kind::kIdempotencyKeyReused:
      problem.status = 422;
      problem.slug = "idempotency-key-reused";
      problem.title = "The Idempotency-Key was used for another request";
      problem.errors.push_back({"Idempotency-Key", "was used for a different request"});
      break;
    case Kind::kPreconditionFailed:
      problem.status = 412;
      problem.slug = "precondition-failed";
      problem.title = "The credit has changed since the version in If-Match";
      break;
    case Kind::kContended:
      problem.status = 409;
      problem.slug = "contended";
      problem.title = "Too many concurrent changes to this credit";
      break;
    case Kind::kUnavailable:
      problem.status = 503;
      problem.slug = "database-unavailable";
      problem.title = "The ledger database is unavailable";
      break;
    case Kind::kOutcomeUnknown:
      problem.status = 503;
      problem.slug = "commit-outcome-unknown";
      problem.title = "The outcome of the command is not known yet";
      break;
    case Kind::kCreated:
    case Kind::kApplied:
    case Kind::kInternal:
    case Kind::kInDoubt:  // settled before it reaches here; answered as a fault if it ever does
    case Kind::kReplayed:  // answered from its stored response, never through here
      problem.status = 500;
      problem.slug = "internal-error";
      problem.title = "Internal error";
      break;
  }
  return problem;
}

bool is_storable_result(const CreditCommandResult& result) {
  using Kind = CreditCommandResult::Kind;
  switch (result.kind) {
    case Kind::kCreated:
    case Kind::kApplied:
    case Kind::kNotFound:
    case Kind::kForbidden:
      return true;
    case Kind::kRejected:  // 409s; an unknown buyer is a 422, which a retry may get past
      return !(result.error.has_value() && result.error->kind == DecideError::Kind::kUnknownBuyer);
    default:
      return false;
  }
}

StoredResponse command_response(const CreditCommandResult& result) {
  using Kind = CreditCommandResult::Kind;
  StoredResponse response;
  if (result.kind == Kind::kCreated || result.kind == Kind::kApplied) {
    response.status = result.kind == Kind::kCreated ? 201 : 200;
    std::string extra;
    if (result.remainder.has_value()) {
      const CreditState& parent = *result.remainder;
      rapidjson::StringBuffer buffer;
      JsonWriter writer(buffer);
      writer.StartObject();
      writer.Key("id");
      write_string(writer, result.remainder_id);
      writer.Key("quantity");
      writer.Int64(parent.attributes.quantity);
      writer.Key("block_start");
      writer.Int64(parent.attributes.block_start);
      writer.Key("block_end");
      writer.Int64(parent.attributes.block_end);
      writer.Key("version");
      writer.Int64(parent.version);
      writer.EndObject();
      extra = "\"remainder\":" + std::string(buffer.GetString(), buffer.GetSize());
      response.location = "/records/" + result.record_id;
    }
    if (result.kind == Kind::kCreated) response.location = "/records/" + result.record_id;
    response.body = credit_json(result.record_id, result.state, extra);
    response.etag = "\"" + std::to_string(result.state.version) + "\"";
    return response;
  }
  const Problem problem = command_problem(result);
  response.status = problem.status;
  response.body = problem_json(problem);
  if (result.state.version > 0) response.etag = "\"" + std::to_string(result.state.version) + "\"";
  return response;
}

}  // namespace ledger
