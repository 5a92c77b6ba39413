// eventstore/merkle.h against every RFC 9162 test vector committed under tests/vectors/rfc9162 (copied from
// transparency-dev/merkle's testdata/inclusion and testdata/consistency, see its README.md): the verifiers must
// accept exactly the vectors that expect success ("wantErr": false) and refuse the others. tools/verify.py runs
// the same files (`verify.py vectors`), so the C++ and the auditor's Python verifier agree on the same data.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "eventstore/merkle.h"

namespace ledger {
namespace {

namespace fs = std::filesystem;

// Vectors whose hashes are not 32 bytes long but which expect success. merkle.h takes 32-byte hashes, so such
// a vector cannot be handed over as is: transparency-dev compares the two roots of equal-size trees as byte
// strings of any length. For these the test maps every hash to a 32-byte stand-in (its SHA-256 leaf hash, which
// keeps equal inputs equal and different ones different) and expects the vector's outcome. Every other vector
// with a hash of the wrong length expects an error, which refusing it at decoding gives.
const std::set<std::string> kShortHashesExpectedToPass = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
};

// Standard base64 (RFC 4648 section 4) with padding; nullopt when it is not.
std::optional<std::string> base64_decode(const std::string& text) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t group = 0;
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++padding;
        group <<= 6;
        continue;
      }
      const std::size_t value = kAlphabet.find(c);
      if (value == std::string::npos || padding > 0) return std::nullopt;
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    out.push_back(static_cast<char>(group >> 16));
    if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

struct Vector {
  std::string name;  // path below tests/vectors/rfc9162
  rapidjson::Document json;
};

std::vector<Vector> load_vectors(const std::string& kind) {
  std::vector<Vector> vectors;
  const fs::path root = fs::path(LEDGER_VECTORS_DIR);
  for (const auto& entry : fs::recursive_directory_iterator(root / kind)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    Vector vector;
    vector.name = fs::relative(entry.path(), root).generic_string();
    vector.json.Parse(text.str().c_str());
    EXPECT_FALSE(vector.json.HasParseError()) << vector.name;
    EXPECT_TRUE(vector.json.IsObject() && vector.json.HasMember("wantErr") && vector.json["wantErr"].IsBool())
        << vector.name;
    if (!vector.json.HasParseError() && vector.json.IsObject()) vectors.push_back(std::move(vector));
  }
  return vectors;
}

// The bytes of each hash of a vector, decoded; "proof": null is the empty proof.
std::string bytes_of(const rapidjson::Value& value, const std::string& name) {
  std::optional<std::string> decoded = base64_decode(value.GetString());
  EXPECT_TRUE(decoded.has_value()) << name << ": " << value.GetString();
  return decoded.value_or("");
}

std::vector<std::string> proof_bytes(const rapidjson::Value& proof, const std::string& name) {
  std::vector<std::string> out;
  if (proof.IsNull()) return out;
  for (const auto& element : proof.GetArray()) out.push_back(bytes_of(element, name));
  return out;
}

// Decodes hashes into MerkleHash: false when one is not 32 bytes (a caller of merkle.h cannot pass it), unless
// the vector is listed in kShortHashesExpectedToPass, whose hashes all become their stand-ins.
bool to_merkle_hashes(const std::vector<std::string>& raw, bool use_stand_ins, std::vector<MerkleHash>* out) {
  for (const std::string& bytes : raw) {
    if (use_stand_ins) {
      out->push_back(merkle_leaf_hash(bytes));
      continue;
    }
    if (bytes.size() != MerkleHash{}.size()) return false;
    MerkleHash hash{};
    std::copy(bytes.begin(), bytes.end(), hash.begin());
    out->push_back(hash);
  }
  return true;
}

bool has_short_hash(const std::vector<std::string>& raw) {
  for (const std::string& bytes : raw) {
    if (bytes.size() != 32) return true;
  }
  return false;
}

TEST(MerkleVectors, InclusionVerifiesExactlyTheVectorsThatExpectSuccess) {
  const std::vector<Vector> vectors = load_vectors("inclusion");
  ASSERT_GE(vectors.size(), 90u) << "tests/vectors/rfc9162/inclusion is missing vectors";
  int passing = 0;
  for (const Vector& v : vectors) {
    const rapidjson::Value& j = v.json;
    std::vector<std::string> raw = {bytes_of(j["leafHash"], v.name), bytes_of(j["root"], v.name)};
    for (std::string& p : proof_bytes(j["proof"], v.name)) raw.push_back(std::move(p));
    std::vector<MerkleHash> hashes;
    bool verified = false;
    if (to_merkle_hashes(raw, false, &hashes)) {
      const std::vector<MerkleHash> proof(hashes.begin() + 2, hashes.end());
      verified = merkle_verify_inclusion(j["leafIdx"].GetUint64(), j["treeSize"].GetUint64(), hashes[0], proof,
                                         hashes[1]);
    }
    EXPECT_EQ(verified, !j["wantErr"].GetBool()) << v.name << " (" << j["desc"].GetString() << ")";
    passing += verified ? 1 : 0;
  }
  EXPECT_GT(passing, 0);
}

TEST(MerkleVectors, ConsistencyVerifiesExactlyTheVectorsThatExpectSuccess) {
  const std::vector<Vector> vectors = load_vectors("consistency");
  ASSERT_GE(vectors.size(), 90u) << "tests/vectors/rfc9162/consistency is missing vectors";
  int passing = 0;
  std::set<std::string> stand_ins_used;
  for (const Vector& v : vectors) {
    const rapidjson::Value& j = v.json;
    std::vector<std::string> raw = {bytes_of(j["root1"], v.name), bytes_of(j["root2"], v.name)};
    for (std::string& p : proof_bytes(j["proof"], v.name)) raw.push_back(std::move(p));
    const bool use_stand_ins = kShortHashesExpectedToPass.count(v.name) > 0;
    if (use_stand_ins) {
      // Keep the list honest: it names only vectors that need it.
      EXPECT_TRUE(has_short_hash(raw) && !j["wantErr"].GetBool()) << v.name << " need not be listed";
      stand_ins_used.insert(v.name);
    }
    std::vector<MerkleHash> hashes;
    bool verified = false;
    if (to_merkle_hashes(raw, use_stand_ins, &hashes)) {
      const std::vector<MerkleHash> proof(hashes.begin() + 2, hashes.end());
      verified = merkle_verify_consistency(j["size1"].GetUint64(), j["size2"].GetUint64(), hashes[0], hashes[1],
                                           proof);
    }
    EXPECT_EQ(verified, !j["wantErr"].GetBool()) << v.name << " (" << j["desc"].GetString() << ")";
    passing += verified ? 1 : 0;
  }
  EXPECT_EQ(stand_ins_used, kShortHashesExpectedToPass) << "a listed vector is no longer committed";
  EXPECT_GT(passing, 0);
}

TEST(MerkleVectors, Base64DecoderOfTheVectorsIsStrict) {
  EXPECT_EQ(base64_decode(""), std::string());
  EXPECT_EQ(base64_decode("ZG9uJ3QgY2FyZSAy"), std::string("don't care 2"));
  EXPECT_EQ(base64_decode("YQ=="), std::string("a"));
  EXPECT_EQ(base64_decode("YWI="), std::string("ab"));
  EXPECT_FALSE(base64_decode("YQ").has_value());
  EXPECT_FALSE(base64_decode("Y=Q=").has_value());
  EXPECT_FALSE(base64_decode("YQ-_").has_value());
}

}  // namespace
}  // namespace ledger
