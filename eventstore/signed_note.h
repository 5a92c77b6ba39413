// C2SP signed notes with Ed25519 (c2sp.org/signed-note) and the checkpoints of a transparency log carried in
// them (c2sp.org/tlog-checkpoint): the formats outsiders keep and check, written down in docs/audit.md. Keys
// in the text forms of Go's golang.org/x/mod/sumdb/note: a verifier key "<name>+<hex key id>+<base64(0x01 ||
// public key)>" and a signer key "PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "eventstore/merkle.h"
#include "eventstore/status.h"

namespace ledger {

inline constexpr std::size_t kNoteKeyNameMaxChars = 200;

struct NoteVerifier {
  std::string name;
  std::uint32_t key_id = 0;  // first 4 bytes, big-endian, of SHA-256(name || "\n" || 0x01 || public key)
  std::array<std::uint8_t, 32> public_key{};
};

struct NoteSigner {
  NoteVerifier verifier;
  std::array<std::uint8_t, 32> seed{};  // the Ed25519 private key
};

// A key name as the spec allows it: 1..kNoteKeyNameMaxChars printable ASCII characters, no '+', no space.
bool valid_note_key_name(std::string_view name);

// A fresh key from the system's random source.
Status generate_note_signer(std::string_view name, NoteSigner* out);

std::string format_signer_key(const NoteSigner& signer);
std::string format_verifier_key(const NoteVerifier& verifier);
// Parse the text forms (surrounding whitespace, such as a file's final newline, is ignored). Invalid when
// malformed, when the algorithm is not Ed25519, or when the key id does not match the name and key.
Status parse_signer_key(std::string_view text, NoteSigner* out);
Status parse_verifier_key(std::string_view text, NoteVerifier* out);

// The note: `text` (non-empty, ending in '\n', no blank line) followed by a blank line and this signer's
// signature line "— <name> <base64(key id || signature)>\n".
std::string sign_note(const NoteSigner& signer, std::string_view text);

// Checks `note` is well formed and carries a valid signature by `verifier`; sets *text to the signed text.
// Invalid with what is wrong: malformed, no signature line of this key, or a signature that fails.
Status verify_note(std::string_view note, const NoteVerifier& verifier, std::string* text);

// --- tlog-checkpoint -------------------------------------------------------------------------------------
struct CheckpointBody {
  std::string origin;
  std::uint64_t tree_size = 0;
  MerkleHash root_hash{};
};

// "<origin>\n<tree size>\n<base64 root hash>\n".
std::string format_checkpoint_body(const CheckpointBody& body);
// The first three lines of a checkpoint's signed text (extension lines after them are allowed and ignored).
Status parse_checkpoint_body(std::string_view text, CheckpointBody* out);

}  // namespace ledger
