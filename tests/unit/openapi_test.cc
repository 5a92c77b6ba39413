// The OpenAPI document compiled into the binary (server/web/openapi.json, served at /openapi.json) and the
// route table (kRoutes) describe the same API: the same paths with the same methods, public routes marked
// public, and every operation answering what its route can answer.
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "server/http_api.h"
#include "server/static_assets.h"

namespace ledger {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const rapidjson::Document& openapi() {
  static const rapidjson::Document doc = [] {
    rapidjson::Document d;
    const StaticAsset* asset = find_static_asset("openapi.json");
    if (asset != nullptr) d.Parse(asset->body.data(), asset->body.size());
    return d;
  }();
  return doc;
}

const char* const kHttpMethods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

TEST(OpenApi, TheDocumentIsCompiledInAndIsOpenApi31) {
  ASSERT_NE(find_static_asset("openapi.json"), nullptr);
  const rapidjson::Document& doc = openapi();
  ASSERT_FALSE(doc.HasParseError());
  ASSERT_TRUE(doc.IsObject());
  ASSERT_TRUE(doc.HasMember("openapi"));
  EXPECT_EQ(std::string(doc["openapi"].GetString()).substr(0, 4), "3.1.");
  ASSERT_TRUE(doc.HasMember("paths") && doc["paths"].IsObject());
}

TEST(OpenApi, ItsPathsAndMethodsAreExactlyTheRouteTable) {
  const rapidjson::Document& doc = openapi();
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("paths"));
  std::set<std::pair<std::string, std::string>> documented, routed;
  for (const auto& path : doc["paths"].GetObject()) {
    for (const char* method : kHttpMethods) {
      if (path.value.HasMember(method)) documented.insert({path.name.GetString(), method});
    }
  }
  for (const RouteEntry& entry : kRoutes) {
    // {id} and {name} stand for one segment in both.
    routed.insert({entry.path, lower(entry.method)});
  }
  EXPECT_EQ(documented, routed);
}

// A route that needs no key says `security: []`; every other operation inherits the bearer scheme and
// documents the 401 it answers without one.
TEST(OpenApi, PublicRoutesNeedNoKeyAndTheOthersAnswer401) {
  const rapidjson::Document& doc = openapi();
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("paths"));
  ASSERT_TRUE(doc.HasMember("security"));
  for (const RouteEntry& entry : kRoutes) {
    SCOPED_TRACE(entry.path);
    ASSERT_TRUE(doc["paths"].HasMember(entry.path));
    const rapidjson::Value& path = doc["paths"][entry.path];
    const std::string method = lower(entry.method);
    ASSERT_TRUE(path.HasMember(method.c_str()));
    const rapidjson::Value& operation = path[method.c_str()];
    const bool overrides = operation.HasMember("security");
    if (!entry.needs_key) {
      ASSERT_TRUE(overrides);
      EXPECT_TRUE(operation["security"].IsArray() && operation["security"].Empty());
    } else {
      EXPECT_FALSE(overrides && operation["security"].Empty());
      ASSERT_TRUE(operation.HasMember("responses"));
      EXPECT_TRUE(operation["responses"].HasMember("401"));
    }
    EXPECT_TRUE(operation.HasMember("operationId"));
    if (entry.command) {
      EXPECT_TRUE(operation.HasMember("requestBody") || entry.kind != Route::Kind::kRegister);
    }
  }
}

}  // namespace
}  // namespace ledger
