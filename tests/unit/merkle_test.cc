// eventstore/merkle.h against the RFC 9162 test vectors of transparency-dev/merkle (testonly/constants.go,
// Apache 2.0: leaf inputs, the hash of every complete subtree and the root of every prefix of 8 leaves, and
// testdata/inclusion: proofs that must be refused), and against itself: every inclusion and consistency proof
// of trees up to 70 leaves verifies, and any flipped bit, wrong index or wrong size is refused.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eventstore/merkle.h"

namespace ledger {
namespace {

MerkleHash H(const char* hex) {
  MerkleHash h{};
  EXPECT_TRUE(merkle_from_hex(hex, &h)) << hex;
  return h;
}

std::string bytes(const char* hex) {
  std::string out;
  for (std::size_t i = 0; hex[i] != '\0'; i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  return out;
}

const char* const kLeafInputs[] = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                   "606162636465666768696a6b6c6d6e6f"};
const char* const kRootHashes[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
const char* const kLeafHashes[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};

std::vector<MerkleHash> vector_leaves() {
  std::vector<MerkleHash> leaves;
  for (const char* input : kLeafInputs) leaves.push_back(merkle_leaf_hash(bytes(input)));
  return leaves;
}

TEST(Merkle, LeafHashesAndRootsOfEveryPrefixMatchTheVectors) {
  const std::vector<MerkleHash> leaves = vector_leaves();
  for (std::size_t i = 0; i < leaves.size(); ++i) EXPECT_EQ(merkle_hex(leaves[i]), kLeafHashes[i]) << i;
  EXPECT_EQ(merkle_hex(merkle_empty_root()), kRootHashes[0]);
  for (std::size_t n = 0; n <= leaves.size(); ++n) {
    EXPECT_EQ(merkle_hex(merkle_root(std::span<const MerkleHash>(leaves).first(n))), kRootHashes[n]) << n;
  }
  // Two interior nodes of the vectors: level 1 index 0, level 2 index 1.
  EXPECT_EQ(merkle_hex(merkle_node_hash(leaves[0], leaves[1])),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
  EXPECT_EQ(merkle_hex(merkle_root(std::span<const MerkleHash>(leaves).subspan(4, 4))),
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4");
}

// testdata/inclusion/1/modified-proof[0]-bit-@3.json: leaf 0 of 8 with a bit flipped in proof[0].
TEST(Merkle, TheVectorsModifiedInclusionProofIsRefusedAndTheTrueOneVerifies) {
  const std::vector<MerkleHash> leaves = vector_leaves();
  const MerkleHash root = H(kRootHashes[8]);
  const std::vector<MerkleHash> modified = {
      H("9ea296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
      H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
      H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")};
  EXPECT_FALSE(merkle_verify_inclusion(0, 8, leaves[0], modified, root));
  const std::vector<MerkleHash> proof = merkle_inclusion_proof(leaves, 0);
  ASSERT_EQ(proof.size(), 3u);
  EXPECT_EQ(merkle_hex(proof[0]), kLeafHashes[1]);
  EXPECT_EQ(proof[1], modified[1]);
  EXPECT_EQ(proof[2], modified[2]);
  EXPECT_TRUE(merkle_verify_inclusion(0, 8, leaves[0], proof, root));
}

std::vector<MerkleHash> numbered_leaves(std::size_t n) {
  std::vector<MerkleHash> leaves;
  for (std::size_t i = 0; i < n; ++i) leaves.push_back(merkle_leaf_hash("leaf " + std::to_string(i)));
  return leaves;
}

TEST(Merkle, EveryInclusionProofVerifiesAndNoAlteredOneDoes) {
  const std::vector<MerkleHash> all = numbered_leaves(70);
  for (std::size_t n = 1; n <= all.size(); ++n) {
    const auto leaves = std::span<const MerkleHash>(all).first(n);
    const MerkleHash root = merkle_root(leaves);
    for (std::size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(std::to_string(i) + " of " + std::to_string(n));
      std::vector<MerkleHash> proof = merkle_inclusion_proof(leaves, i);
      ASSERT_TRUE(merkle_verify_inclusion(i, n, leaves[i], proof, root));
      // (A proof is checked against a size and that size's root together, as a checkpoint states them: the
      // same proof can hold for another size whose tree has the same shape along its path, e.g. leaf 0 of 3 and 4.)
      if (n > 1) {
        EXPECT_FALSE(merkle_verify_inclusion((i + 1) % n, n, leaves[i], proof, root)) << "another index";
      }
      EXPECT_FALSE(merkle_verify_inclusion(n, n, leaves[i], proof, root));
      for (std::size_t k = 0; k < proof.size(); ++k) {
        proof[k][k % 32] ^= 0x01;
        EXPECT_FALSE(merkle_verify_inclusion(i, n, leaves[i], proof, root)) << "bit flipped in proof[" << k << "]";
        proof[k][k % 32] ^= 0x01;
      }
      if (!proof.empty()) {
        proof.pop_back();
        EXPECT_FALSE(merkle_verify_inclusion(i, n, leaves[i], proof, root)) << "truncated";
      }
    }
  }
}

TEST(Merkle, EveryConsistencyProofVerifiesAndNoAlteredOneDoes) {
  const std::vector<MerkleHash> all = numbered_leaves(40);
  for (std::size_t n = 1; n <= all.size(); ++n) {
    const auto second = std::span<const MerkleHash>(all).first(n);
    const MerkleHash second_root = merkle_root(second);
    EXPECT_TRUE(merkle_verify_consistency(0, n, merkle_empty_root(), second_root, {}));
    EXPECT_TRUE(merkle_verify_consistency(n, n, second_root, second_root, {}));
    for (std::size_t m = 1; m < n; ++m) {
      SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
      const MerkleHash first_root = merkle_root(second.first(m));
      std::vector<MerkleHash> proof = merkle_consistency_proof(second, m);
      ASSERT_TRUE(merkle_verify_consistency(m, n, first_root, second_root, proof));
      EXPECT_FALSE(merkle_verify_consistency(m, n, second_root, second_root, proof)) << "wrong first root";
      EXPECT_FALSE(merkle_verify_consistency(m, n, first_root, second_root, {})) << "empty proof";
      for (std::size_t k = 0; k < proof.size(); ++k) {
        proof[k][(k * 7) % 32] ^= 0x80;
        EXPECT_FALSE(merkle_verify_consistency(m, n, first_root, second_root, proof)) << "flipped proof[" << k << "]";
        proof[k][(k * 7) % 32] ^= 0x80;
      }
    }
  }
  // A larger tree is never a prefix of a smaller one.
  EXPECT_FALSE(merkle_verify_consistency(3, 2, merkle_root(std::span<const MerkleHash>(all).first(3)),
                                         merkle_root(std::span<const MerkleHash>(all).first(2)), {}));
}

TEST(Merkle, HexRoundTripsAndRefusesWhatIsNotAHash) {
  const MerkleHash h = merkle_leaf_hash("x");
  MerkleHash back{};
  ASSERT_TRUE(merkle_from_hex(merkle_hex(h), &back));
  EXPECT_EQ(back, h);
  for (const char* bad : {"", "00", "zz6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa0",
                          "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d00"}) {
    EXPECT_FALSE(merkle_from_hex(bad, &back)) << bad;
  }
}

}  // namespace
}  // namespace ledger
