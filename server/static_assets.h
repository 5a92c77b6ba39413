// The files the binary serves as they are: the OpenAPI document, the explorer page, the Swagger UI page and
// the Swagger UI files from the pinned npm package swagger-ui-dist. All are compiled into the binary (see
// CMakeLists.txt, "Static assets"), so serve needs no files beside it and never reads a disk per request.
// LEDGER_ASSETS_DIR may name a directory whose files of the same names replace the compiled-in copies at
// startup (for working on the page without a rebuild).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eventstore/status.h"

namespace ledger {

struct StaticAsset {
  std::string name;          // "index.html", "explorer.js", "openapi.json", "swagger-ui-bundle.js", ...
  std::string content_type;  // from the name's extension
  std::string_view body;     // the compiled-in bytes, or `replaced` after load_asset_overrides
  std::string replaced;      // owns the bytes read from LEDGER_ASSETS_DIR, if any
};

// Every compiled-in file, by name (names are unique). Built once, on first use; thread-safe to read.
const std::vector<StaticAsset>& static_assets();
// The asset of this name, or nullptr.
const StaticAsset* find_static_asset(std::string_view name);

// Replaces each asset whose name is a regular file in `dir` by that file's bytes. Call once at startup,
// before any request. Returns how many it replaced in *count; an unreadable directory is an error.
Status load_asset_overrides(const std::string& dir, int* count);

// The Content-Type a file name's extension gives (utf-8 for text), application/octet-stream otherwise.
std::string content_type_for(std::string_view name);

}  // namespace ledger
