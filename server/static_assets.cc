#include "server/static_assets.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "eventstore/assert.h"

namespace ledger {

// Defined in the generated static_assets_data.cc (CMakeLists.txt): the files' bytes, placed by .incbin.
struct EmbeddedFile {
  const char* name;
  const char* begin;
  const char* end;
};
extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

namespace {

std::vector<StaticAsset>& mutable_assets() {
  static std::vector<StaticAsset> assets = [] {
    std::vector<StaticAsset> out;
    for (std::size_t i = 0; i < kEmbeddedFileCount; ++i) {
      const EmbeddedFile& f = kEmbeddedFiles[i];
      LEDGER_ASSERT(f.end >= f.begin, "embedded file bounds");
      StaticAsset asset;
      asset.name = f.name;
      asset.content_type = content_type_for(asset.name);
      asset.body = std::string_view(f.begin, static_cast<std::size_t>(f.end - f.begin));
      out.push_back(std::move(asset));
    }
    return out;
  }();
  return assets;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const std::vector<StaticAsset>& static_assets() { return mutable_assets(); }

const StaticAsset* find_static_asset(std::string_view name) {
  for (const StaticAsset& asset : static_assets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

std::string content_type_for(std::string_view name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".json")) return "application/json";
  if (ends_with(name, ".png")) return "image/png";
  if (ends_with(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

Status load_asset_overrides(const std::string& dir, int* count) {
  *count = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::Invalid("LEDGER_ASSETS_DIR '" + dir + "' is not a readable directory");
  ::closedir(d);
  for (StaticAsset& asset : mutable_assets()) {
    const std::string path = dir + "/" + asset.name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in.good() && !in.eof()) return Status::Invalid("cannot read " + path);
    asset.replaced = bytes.str();
    asset.body = asset.replaced;
    ++*count;
  }
  return Status::Ok();
}

}  // namespace ledger
