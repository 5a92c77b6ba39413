// RFC 9162 (Certificate Transparency 2.0) Merkle trees over SHA-256, section 2.1: the tree hash of a list of
// leaves, inclusion proofs (2.1.3) and consistency proofs (2.1.4), and their verification. Pure functions over
// leaf hashes held in memory; what a leaf is and where the hashes are stored is the caller's business. The
// foundation of the ledger's verifiable log (issue 12): written from the RFC, checked against the test
// vectors transparency-dev/merkle publishes (tests/unit/merkle_test.cc).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ledger {

using MerkleHash = std::array<std::uint8_t, 32>;

// SHA-256(0x00 || leaf): the hash of a leaf's data.
MerkleHash merkle_leaf_hash(std::string_view leaf_data);
// SHA-256(0x01 || left || right): the hash of an interior node.
MerkleHash merkle_node_hash(const MerkleHash& left, const MerkleHash& right);
// MTH({}) = SHA-256 of the empty string.
MerkleHash merkle_empty_root();

// MTH(D[n]) of these leaf hashes (RFC 9162 2.1.1).
MerkleHash merkle_root(std::span<const MerkleHash> leaves);

// PATH(index, D[n]) (2.1.3.1): the inclusion proof of leaf `index` in the tree of all `leaves`. Empty when
// index >= leaves.size() (no such leaf) or the tree has one leaf.
std::vector<MerkleHash> merkle_inclusion_proof(std::span<const MerkleHash> leaves, std::uint64_t index);

// PROOF(first, D[n]) (2.1.4.1): that the tree of the first `first` leaves is a prefix of the tree of all
// `leaves`. Empty when first == 0, first >= leaves.size() (nothing to prove) or first > leaves.size().
std::vector<MerkleHash> merkle_consistency_proof(std::span<const MerkleHash> leaves, std::uint64_t first);

// 2.1.3.2: true when `proof` shows `leaf_hash` at `index` in a tree of `tree_size` leaves with `root`.
bool merkle_verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const MerkleHash& leaf_hash,
                             std::span<const MerkleHash> proof, const MerkleHash& root);

// 2.1.4.2: true when `proof` shows the tree of `first_size` leaves with `first_root` is a prefix of the tree of
// `second_size` leaves with `second_root`. Equal sizes need equal roots and an empty proof; from an empty tree
// (first_size 0) any tree follows with an empty proof.
bool merkle_verify_consistency(std::uint64_t first_size, std::uint64_t second_size, const MerkleHash& first_root,
                               const MerkleHash& second_root, std::span<const MerkleHash> proof);

// Lowercase hex of a hash, and back (false unless exactly 64 hex digits).
std::string merkle_hex(const MerkleHash& hash);
bool merkle_from_hex(std::string_view hex, MerkleHash* out);

}  // namespace ledger
