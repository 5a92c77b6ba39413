// Which build this is: the version, the git commit it was built from ("<sha>-dirty" with uncommitted
// changes, "unknown" outside a git checkout) and the CMake build type, for `carbon-ledger --version` and
// GET /version. Written at every build by scripts/build_info.cmake.
#pragma once

#include <string>

namespace ledger {

extern const char kBuildVersion[];
extern const char kBuildCommit[];
extern const char kBuildType[];

// The schema version this binary migrates to: the number of the last migration compiled in (0008_... -> 8).
int schema_version();

// {"version","commit","build_type","schema_version"}: the body of GET /version.
std::string build_info_json();

}  // namespace ledger
