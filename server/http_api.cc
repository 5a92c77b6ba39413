#include "server/http_api.h"

#include <cctype>

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

Route match_route(std::string_view target) {
  Route route;
  const std::size_t query = target.find('?');
  std::string_view path = target.substr(0, query);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/register") {
    route.kind = Route::Kind::kRegister;
    route.method = "POST";
    return route;
  }
  if (path == "/healthz") {
    route.kind = Route::Kind::kHealth;
    route.method = "GET";
    return route;
  }
  // /records/{id}, /record/{id}, /records/{id}/sell, /records/{id}/retire
  std::vector<std::string_view> segments;
  std::string_view rest = path;
  while (!rest.empty()) {
    if (rest.front() != '/') return route;
    rest.remove_prefix(1);
    const std::size_t slash = rest.find('/');
    segments.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  for (std::string_view s : segments) {
    if (s.empty()) return route;
  }
  if (segments.size() == 2 && (segments[0] == "records" || segments[0] == "record")) {
    route.kind = Route::Kind::kGetRecord;
    route.method = "GET";
    route.id = std::string(segments[1]);
  } else if (segments.size() == 3 && segments[0] == "records" && segments[2] == "sell") {
    route.kind = Route::Kind::kSell;
    route.method = "POST";
    route.id = std::string(segments[1]);
  } else if (segments.size() == 3 && segments[0] == "records" && segments[2] == "retire") {
    route.kind = Route::Kind::kRetire;
    route.method = "POST";
    route.id = std::string(segments[1]);
  }
  return route;
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
    if (tag.find('"') != std::string_view::npos) return std::nullopt;
    any_tag = true;
    if (weak || tag.empty() || tag.size() > 18) continue;  // syntactically fine, can never match
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

std::string credit_json(const std::string& id, const CreditState& state) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("id");
  write_string(writer, id);
  writer.Key("project_name");
  write_string(writer, state.attributes.project_name);
  writer.Key("registry");
  write_string(writer, state.attributes.registry);
  writer.Key("vintage");
  writer.Int(state.attributes.vintage);
  writer.Key("quantity");
  writer.Int64(state.attributes.quantity);
  writer.Key("serial_number");
  write_string(writer, state.attributes.serial_number);
  writer.Key("status");
  writer.String(status_name(state.status));
  writer.Key("version");
  writer.Int64(state.version);
  writer.Key("holder");
  write_string(writer, state.holder);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
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
  if (!problem.differing_fields.empty()) {
    writer.Key("differing_fields");
    writer.StartArray();
    for (const std::string& field : problem.differing_fields) write_string(writer, field);
    writer.EndArray();
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
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
    case Kind::kRejected:
      problem.status = 409;
      if (result.error.has_value() && result.error->kind == DecideError::Kind::kAttributesDiffer) {
        problem.slug = "already-registered";
        problem.title = "Credit already registered with different attributes";
        problem.differing_fields = result.error->differing_fields;
      } else if (result.error.has_value() && result.error->kind == DecideError::Kind::kConfusable) {
        problem.slug = "confusable-credit";
        problem.title = "A credit that looks the same is already registered";
        problem.confusable_with = result.error->confusable_with;
      } else {
        problem.slug = "invalid-status";
        problem.title = "Command not allowed in the credit's current status";
        problem.current_status = status_name(result.state.status);
      }
      break;
    case Kind::kForbidden:
      problem.status = 403;
      problem.slug = "forbidden";
      problem.title = "Not allowed for this key";
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
      problem.status = 500;
      problem.slug = "internal-error";
      problem.title = "Internal error";
      break;
  }
  return problem;
}

}  // namespace ledger
