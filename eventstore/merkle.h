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

// --- Stored trees -------------------------------------------------------------------------------------------
// A log that stores its complete subtrees (MerkleNodeId) answers every proof from O(log n) stored hashes: each
// hash a proof needs is the tree hash of a range of leaves (MerkleRange), and each such range is a run of
// complete subtrees. Computing a proof is then: ranges -> node ids -> fetch -> fold.

// Leaves [begin, end).
struct MerkleRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  bool operator==(const MerkleRange&) const = default;
};

// The complete subtree of 2^level leaves starting at leaf index << level. Level 0 is a leaf.
struct MerkleNodeId {
  int level = 0;
  std::uint64_t index = 0;
  bool operator==(const MerkleNodeId&) const = default;
};

// The ranges whose tree hashes make PATH(index, D[tree_size]), in proof order. Empty as for
// merkle_inclusion_proof.
std::vector<MerkleRange> merkle_inclusion_ranges(std::uint64_t index, std::uint64_t tree_size);
// The ranges whose tree hashes make PROOF(first, D[tree_size]), in proof order. Empty as for
// merkle_consistency_proof.
std::vector<MerkleRange> merkle_consistency_ranges(std::uint64_t first, std::uint64_t tree_size);

// The complete subtrees a range that occurs in RFC 9162's recursion is made of, left to right (largest first):
// [0, n) for any n, and every range merkle_*_ranges returns. Empty for an empty range.
std::vector<MerkleNodeId> merkle_range_nodes(const MerkleRange& range);
// The tree hash of a range from the hashes of its merkle_range_nodes, in that order: folded from the right,
// as RFC 9162's split puts the larger complete subtree on the left. The empty root for no hashes.
MerkleHash merkle_fold_range(std::span<const MerkleHash> node_hashes);

// The right edge of a growing tree (a "compact range" over [0, size)): the complete subtrees
// merkle_range_nodes({0, size}) names, with their hashes. Appending a leaf completes zero or more nodes, each
// reported once, so an appender can store every complete node as it appears.
class MerkleFrontier {
 public:
  MerkleFrontier() = default;
  // The frontier of a tree of `size` leaves from its nodes' hashes (merkle_range_nodes({0, size}) order).
  // False when the counts disagree.
  bool reset(std::uint64_t size, std::vector<MerkleHash> node_hashes);

  // Appends a leaf hash; calls on_node(id, hash) for each node of level >= 1 it completes, lowest first.
  template <typename OnNode>
  void append(const MerkleHash& leaf_hash, OnNode&& on_node) {
    std::uint64_t index = size_;
    MerkleHash hash = leaf_hash;
    int level = 0;
    while (!hashes_.empty() && (index & 1) != 0) {
      hash = merkle_node_hash(hashes_.back(), hash);
      hashes_.pop_back();
      index >>= 1;
      ++level;
      on_node(MerkleNodeId{level, index}, hash);
    }
    hashes_.push_back(hash);
    ++size_;
  }

  std::uint64_t size() const { return size_; }
  MerkleHash root() const { return merkle_fold_range(hashes_); }
  const std::vector<MerkleHash>& hashes() const { return hashes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<MerkleHash> hashes_;  // merkle_range_nodes({0, size_}) order
};

// The roots of the trees of the first s leaves, for each s in `sizes` (ascending, each <= leaves.size()), on
// up to `threads` threads: the leaves are cut into aligned chunks of a power of two, whose subtrees the threads
// build side by side (each recording its own frontier at the sizes inside its chunk); a frontier over the
// chunks' roots then joins each size's left part to its chunk's part. What verify uses on a whole log.
std::vector<MerkleHash> merkle_roots_at_sizes(std::span<const MerkleHash> leaves, std::span<const std::uint64_t> sizes,
                                              std::size_t threads);

// Standard base64 of a hash: how checkpoints, proofs and bundles carry it (docs/audit.md).
std::string merkle_base64(const MerkleHash& hash);

// Lowercase hex of a hash, and back (false unless exactly 64 hex digits).
std::string merkle_hex(const MerkleHash& hash);
bool merkle_from_hex(std::string_view hex, MerkleHash* out);

}  // namespace ledger
