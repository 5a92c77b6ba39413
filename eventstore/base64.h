// Standard base64 (RFC 4648 section 4, with padding): how signed notes, checkpoints and proofs carry hashes,
// keys and signatures.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ledger {

std::string base64_encode(std::string_view bytes);

// The bytes, or nullopt unless `text` is canonical padded base64 (no whitespace, no missing or extra
// padding, no stray bits in the last character), so one value has exactly one text.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ledger
