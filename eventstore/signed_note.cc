#include "eventstore/signed_note.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "eventstore/assert.h"
#include "eventstore/base64.h"

namespace ledger {
namespace {

constexpr std::uint8_t kAlgEd25519 = 0x01;
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, then a space
constexpr std::string_view kPrivateKeyPrefix = "PRIVATE+KEY+";

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::uint32_t compute_key_id(std::string_view name, const std::array<std::uint8_t, 32>& public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(static_cast<char>(kAlgEd25519));
  input.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return std::uint32_t{digest[0]} << 24 | std::uint32_t{digest[1]} << 16 | std::uint32_t{digest[2]} << 8 |
         std::uint32_t{digest[3]};
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::optional<std::uint32_t> parse_hex8(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;  // the spec's form is lowercase
    v = v << 4 | static_cast<std::uint32_t>(d);
  }
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "<name>+<hex8>+<base64(0x01 || 32 bytes)>" into its parts.
Status parse_key_parts(std::string_view text, std::string* name, std::uint32_t* key_id,
                       std::array<std::uint8_t, 32>* key) {
  // Names and key ids have no '+'; base64 may: split at the first two.
  const std::size_t plus1 = text.find('+');
  if (plus1 == std::string_view::npos) return Status::Invalid("key is not name+hash+key");
  const std::size_t plus2 = text.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) return Status::Invalid("key is not name+hash+key");
  *name = std::string(text.substr(0, plus1));
  if (!valid_note_key_name(*name)) return Status::Invalid("key name is empty, too long, or has '+', space or control characters");
  const std::optional<std::uint32_t> id = parse_hex8(text.substr(plus1 + 1, plus2 - plus1 - 1));
  if (!id) return Status::Invalid("key hash is not 8 lowercase hex digits");
  const std::optional<std::string> raw = base64_decode(text.substr(plus2 + 1));
  if (!raw || raw->size() != 33) return Status::Invalid("key is not base64 of 33 bytes");
  if (static_cast<std::uint8_t>((*raw)[0]) != kAlgEd25519) return Status::Invalid("key algorithm is not Ed25519 (0x01)");
  std::copy(raw->begin() + 1, raw->end(), key->begin());
  *key_id = *id;
  return Status::Ok();
}

std::string encode_key(const std::array<std::uint8_t, 32>& key) {
  std::string raw(1, static_cast<char>(kAlgEd25519));
  raw.append(reinterpret_cast<const char*>(key.data()), key.size());
  return base64_encode(raw);
}

Status public_key_of(const std::array<std::uint8_t, 32>& seed, std::array<std::uint8_t, 32>* public_key) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()), EVP_PKEY_free);
  if (!pkey) return Status::Internal("OpenSSL refused the Ed25519 private key");
  std::size_t length = public_key->size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), public_key->data(), &length) != 1 || length != 32) {
    return Status::Internal("OpenSSL gave no Ed25519 public key");
  }
  return Status::Ok();
}

}  // namespace

bool valid_note_key_name(std::string_view name) {
  if (name.empty() || name.size() > kNoteKeyNameMaxChars) return false;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '+') return false;
  }
  return true;
}

Status generate_note_signer(std::string_view name, NoteSigner* out) {
  if (!valid_note_key_name(name)) return Status::Invalid("key name must be 1..200 printable ASCII characters without '+' or spaces");
  NoteSigner signer;
  if (RAND_bytes(signer.seed.data(), static_cast<int>(signer.seed.size())) != 1) {
    return Status::Internal("no random bytes from OpenSSL");
  }
  Status s = public_key_of(signer.seed, &signer.verifier.public_key);
  if (!s.ok()) return s;
  signer.verifier.name = std::string(name);
  signer.verifier.key_id = compute_key_id(name, signer.verifier.public_key);
  *out = std::move(signer);
  return Status::Ok();
}

std::string format_signer_key(const NoteSigner& signer) {
  return std::string(kPrivateKeyPrefix) + signer.verifier.name + "+" + hex8(signer.verifier.key_id) + "+" +
         encode_key(signer.seed);
}

std::string format_verifier_key(const NoteVerifier& verifier) {
  return verifier.name + "+" + hex8(verifier.key_id) + "+" + encode_key(verifier.public_key);
}

Status parse_signer_key(std::string_view text, NoteSigner* out) {
  text = trim(text);
  if (text.substr(0, kPrivateKeyPrefix.size()) != kPrivateKeyPrefix) return Status::Invalid("signer key does not start with PRIVATE+KEY+");
  NoteSigner signer;
  std::uint32_t key_id = 0;
  Status s = parse_key_parts(text.substr(kPrivateKeyPrefix.size()), &signer.verifier.name, &key_id, &signer.seed);
  if (!s.ok()) return Status::Invalid("signer key: " + s.message());
  s = public_key_of(signer.seed, &signer.verifier.public_key);
  if (!s.ok()) return s;
  signer.verifier.key_id = compute_key_id(signer.verifier.name, signer.verifier.public_key);
  if (signer.verifier.key_id != key_id) return Status::Invalid("signer key: the key hash does not match its name and key");
  *out = std::move(signer);
  return Status::Ok();
}

Status parse_verifier_key(std::string_view text, NoteVerifier* out) {
  text = trim(text);
  NoteVerifier verifier;
  Status s = parse_key_parts(text, &verifier.name, &verifier.key_id, &verifier.public_key);
  if (!s.ok()) return Status::Invalid("verifier key: " + s.message());
  if (compute_key_id(verifier.name, verifier.public_key) != verifier.key_id) {
    return Status::Invalid("verifier key: the key hash does not match its name and key");
  }
  *out = std::move(verifier);
  return Status::Ok();
}

std::string sign_note(const NoteSigner& signer, std::string_view text) {
  LEDGER_ASSERT(!text.empty() && text.back() == '\n', "a note's text ends with a newline");
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, signer.seed.data(), signer.seed.size()),
               EVP_PKEY_free);
  LEDGER_ASSERT(pkey != nullptr, "Ed25519 key");
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  LEDGER_ASSERT(ctx != nullptr, "EVP_MD_CTX_new");
  std::string signature(4 + 64, '\0');
  const std::uint32_t id = signer.verifier.key_id;
  signature[0] = static_cast<char>(id >> 24);
  signature[1] = static_cast<char>(id >> 16);
  signature[2] = static_cast<char>(id >> 8);
  signature[3] = static_cast<char>(id);
  std::size_t length = 64;
  LEDGER_ASSERT(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
                    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data() + 4), &length,
                                   reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1 &&
                    length == 64,
                "Ed25519 signing failed");
  std::string note(text);
  note += "\n";
  note += kSignaturePrefix;
  note += signer.verifier.name;
  note += " ";
  note += base64_encode(signature);
  note += "\n";
  return note;
}

Status verify_note(std::string_view note, const NoteVerifier& verifier, std::string* text) {
  if (note.size() > 1'000'000) return Status::Invalid("note is longer than 1 MB");
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Status::Invalid("note has no blank line before its signatures");
  const std::string_view body = note.substr(0, split + 1);
  if (body.find("\n\n") != std::string_view::npos) return Status::Invalid("note text has a blank line");
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') return Status::Invalid("note does not end with a newline");
  bool found = false;
  while (!signatures.empty()) {
    const std::size_t end = signatures.find('\n');
    const std::string_view line = signatures.substr(0, end);
    signatures.remove_prefix(end + 1);
    if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) return Status::Invalid("note signature line does not start with an em dash and a space");
    const std::string_view rest = line.substr(kSignaturePrefix.size());
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return Status::Invalid("note signature line has no signature");
    if (rest.substr(0, space) != verifier.name) continue;
    const std::optional<std::string> sig = base64_decode(rest.substr(space + 1));
    if (!sig || sig->size() < 5) return Status::Invalid("note signature is not base64 of a key id and a signature");
    const std::uint32_t id = std::uint32_t{static_cast<std::uint8_t>((*sig)[0])} << 24 |
                             std::uint32_t{static_cast<std::uint8_t>((*sig)[1])} << 16 |
                             std::uint32_t{static_cast<std::uint8_t>((*sig)[2])} << 8 |
                             std::uint32_t{static_cast<std::uint8_t>((*sig)[3])};
    if (id != verifier.key_id) continue;
    found = true;
    if (sig->size() != 68) return Status::Invalid("note signature of key " + verifier.name + " is not 64 bytes");
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, verifier.public_key.data(),
                                             verifier.public_key.size()),
                 EVP_PKEY_free);
    MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!pkey || !ctx) return Status::Internal("OpenSSL could not load the verifier key");
    const bool valid =
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data() + 4), 64,
                         reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1;
    if (!valid) return Status::Invalid("note signature of key " + verifier.name + " does not verify");
  }
  if (!found) return Status::Invalid("note has no signature by key " + verifier.name + "+" + hex8(verifier.key_id));
  if (text != nullptr) *text = std::string(body);
  return Status::Ok();
}

std::string format_checkpoint_body(const CheckpointBody& body) {
  return body.origin + "\n" + std::to_string(body.tree_size) + "\n" +
         merkle_base64(body.root_hash) +
         "\n";
}

Status parse_checkpoint_body(std::string_view text, CheckpointBody* out) {
  std::string_view lines[3];
  for (auto& line : lines) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) return Status::Invalid("checkpoint has fewer than three lines");
    line = text.substr(0, end);
    text.remove_prefix(end + 1);
  }
  CheckpointBody body;
  body.origin = std::string(lines[0]);
  if (body.origin.empty()) return Status::Invalid("checkpoint origin is empty");
  if (lines[1].empty() || lines[1].size() > 20 || (lines[1].size() > 1 && lines[1][0] == '0')) {
    return Status::Invalid("checkpoint tree size is not a decimal number");
  }
  for (char c : lines[1]) {
    if (c < '0' || c > '9') return Status::Invalid("checkpoint tree size is not a decimal number");
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (body.tree_size > (UINT64_MAX - digit) / 10) return Status::Invalid("checkpoint tree size is too large");
    body.tree_size = body.tree_size * 10 + digit;
  }
  const std::optional<std::string> root = base64_decode(lines[2]);
  if (!root || root->size() != 32) return Status::Invalid("checkpoint root hash is not base64 of 32 bytes");
  std::copy(root->begin(), root->end(), body.root_hash.begin());
  *out = std::move(body);
  return Status::Ok();
}

}  // namespace ledger
