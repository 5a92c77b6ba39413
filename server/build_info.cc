#include "server/build_info.h"

#include <cstdlib>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "eventstore/migrator.h"

namespace ledger {

int schema_version() {
  const auto& migrations = embedded_migrations();
  if (migrations.empty()) return 0;
  return std::atoi(migrations.back().name.c_str());  // "0008_blocks.sql" -> 8
}

std::string build_info_json() {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("version");
  writer.String(kBuildVersion);
  writer.Key("commit");
  writer.String(kBuildCommit);
  writer.Key("build_type");
  writer.String(kBuildType);
  writer.Key("schema_version");
  writer.Int(schema_version());
  writer.EndObject();
  return buffer.GetString();
}

}  // namespace ledger
