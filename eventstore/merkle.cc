#include "eventstore/merkle.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "eventstore/assert.h"
#include "eventstore/base64.h"

namespace ledger {
namespace {

// The largest power of two smaller than n (n >= 2): the split point k of RFC 9162 2.1.1.
std::uint64_t split_point(std::uint64_t n) {
  LEDGER_ASSERT(n >= 2, "a tree of fewer than two leaves has no split");
  std::uint64_t k = 1;
  while (k < n - k) k <<= 1;  // largest power of two < n: k < n <= 2k
  return k;
}

MerkleHash sha256_with_prefix(std::uint8_t prefix, const void* a, std::size_t a_size, const void* b,
                              std::size_t b_size) {
  // OpenSSL's SHA-256 functions rather than EVP: the same code (SHA-NI where the CPU has it) without the
  // provider dispatch, which measured 45% of a node hash and 17% of a leaf's (verify hashes every leaf and
  // node of the log). Deprecated in OpenSSL 3 in favour of EVP, not removed.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  MerkleHash out;
  LEDGER_ASSERT(SHA256_Init(&ctx) == 1 && SHA256_Update(&ctx, &prefix, 1) == 1 &&
                    (a_size == 0 || SHA256_Update(&ctx, a, a_size) == 1) &&
                    (b_size == 0 || SHA256_Update(&ctx, b, b_size) == 1) && SHA256_Final(out.data(), &ctx) == 1,
                "SHA-256 failed");
#pragma GCC diagnostic pop
  return out;
}

void path(std::uint64_t m, std::span<const MerkleHash> d, std::vector<MerkleHash>* out) {
  const std::uint64_t n = d.size();
  if (n <= 1) return;
  const std::uint64_t k = split_point(n);
  if (m < k) {
    path(m, d.subspan(0, k), out);
    out->push_back(merkle_root(d.subspan(k)));
  } else {
    path(m - k, d.subspan(k), out);
    out->push_back(merkle_root(d.subspan(0, k)));
  }
}

void subproof(std::uint64_t m, std::span<const MerkleHash> d, bool complete, std::vector<MerkleHash>* out) {
  const std::uint64_t n = d.size();
  if (m == n) {
    if (!complete) out->push_back(merkle_root(d));
    return;
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    subproof(m, d.subspan(0, k), complete, out);
    out->push_back(merkle_root(d.subspan(k)));
  } else {
    subproof(m - k, d.subspan(k), false, out);
    out->push_back(merkle_root(d.subspan(0, k)));
  }
}

// PATH and SUBPROOF over ranges: the same recursion as above, emitting [offset + a, offset + b) instead of
// hashing it.
void path_ranges(std::uint64_t m, std::uint64_t offset, std::uint64_t n, std::vector<MerkleRange>* out) {
  if (n <= 1) return;
  const std::uint64_t k = split_point(n);
  if (m < k) {
    path_ranges(m, offset, k, out);
    out->push_back({offset + k, offset + n});
  } else {
    path_ranges(m - k, offset + k, n - k, out);
    out->push_back({offset, offset + k});
  }
}

void subproof_ranges(std::uint64_t m, std::uint64_t offset, std::uint64_t n, bool complete,
                     std::vector<MerkleRange>* out) {
  if (m == n) {
    if (!complete) out->push_back({offset, offset + n});
    return;
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    subproof_ranges(m, offset, k, complete, out);
    out->push_back({offset + k, offset + n});
  } else {
    subproof_ranges(m - k, offset + k, n - k, false, out);
    out->push_back({offset, offset + k});
  }
}

}  // namespace

std::vector<MerkleRange> merkle_inclusion_ranges(std::uint64_t index, std::uint64_t tree_size) {
  std::vector<MerkleRange> out;
  if (index >= tree_size) return out;
  path_ranges(index, 0, tree_size, &out);
  return out;
}

std::vector<MerkleRange> merkle_consistency_ranges(std::uint64_t first, std::uint64_t tree_size) {
  std::vector<MerkleRange> out;
  if (first == 0 || first >= tree_size) return out;
  subproof_ranges(first, 0, tree_size, true, &out);
  return out;
}

std::vector<MerkleNodeId> merkle_range_nodes(const MerkleRange& range) {
  std::vector<MerkleNodeId> out;
  std::uint64_t begin = range.begin;
  while (begin < range.end) {
    // The largest complete subtree starting at `begin` that fits: aligned to its own size.
    int level = 0;
    while (level < 62) {
      const std::uint64_t size = std::uint64_t{1} << (level + 1);
      if ((begin & (size - 1)) != 0 || begin + size > range.end) break;
      ++level;
    }
    out.push_back({level, begin >> level});
    begin += std::uint64_t{1} << level;
  }
  return out;
}

MerkleHash merkle_fold_range(std::span<const MerkleHash> node_hashes) {
  if (node_hashes.empty()) return merkle_empty_root();
  MerkleHash hash = node_hashes.back();
  for (std::size_t i = node_hashes.size() - 1; i-- > 0;) hash = merkle_node_hash(node_hashes[i], hash);
  return hash;
}

bool MerkleFrontier::reset(std::uint64_t size, std::vector<MerkleHash> node_hashes) {
  if (merkle_range_nodes({0, size}).size() != node_hashes.size()) return false;
  size_ = size;
  hashes_ = std::move(node_hashes);
  return true;
}

MerkleHash merkle_leaf_hash(std::string_view leaf_data) {
  return sha256_with_prefix(0x00, leaf_data.data(), leaf_data.size(), nullptr, 0);
}

MerkleHash merkle_node_hash(const MerkleHash& left, const MerkleHash& right) {
  return sha256_with_prefix(0x01, left.data(), left.size(), right.data(), right.size());
}

MerkleHash merkle_empty_root() {
  MerkleHash out;
  unsigned int length = 0;
  LEDGER_ASSERT(EVP_Digest("", 0, out.data(), &length, EVP_sha256(), nullptr) == 1 && length == out.size(),
                "SHA-256 failed");
  return out;
}

MerkleHash merkle_root(std::span<const MerkleHash> leaves) {
  if (leaves.empty()) return merkle_empty_root();
  if (leaves.size() == 1) return leaves[0];
  const std::uint64_t k = split_point(leaves.size());
  return merkle_node_hash(merkle_root(leaves.subspan(0, k)), merkle_root(leaves.subspan(k)));
}

std::vector<MerkleHash> merkle_roots_at_sizes(std::span<const MerkleHash> leaves, std::span<const std::uint64_t> sizes,
                                              std::size_t threads) {
  LEDGER_ASSERT(std::is_sorted(sizes.begin(), sizes.end()) && (sizes.empty() || sizes.back() <= leaves.size()),
                "sizes ascending, within the leaves");
  const std::uint64_t n = leaves.size();
  threads = std::max<std::size_t>(threads, 1);
  // Chunks of 2^m leaves, m >= 12, about four a thread (threads take them as they come).
  int m = 12;
  while ((std::uint64_t{1} << m) * threads * 4 < n && m < 40) ++m;
  const std::uint64_t chunk = std::uint64_t{1} << m;
  const std::uint64_t chunks = (n + chunk - 1) / chunk;
  std::vector<MerkleHash> chunk_roots(chunks);
  // For each size, its chunk's frontier at that size (the subtrees of [chunk start, size)).
  std::vector<std::vector<MerkleHash>> size_parts(sizes.size());
  std::atomic<std::uint64_t> next_chunk{0};
  auto work = [&] {
    for (std::uint64_t c; (c = next_chunk.fetch_add(1)) < chunks;) {
      const std::uint64_t begin = c * chunk, end = std::min(n, begin + chunk);
      // The sizes in (begin, end]: the leaves of this chunk they end in.
      std::size_t k = static_cast<std::size_t>(std::upper_bound(sizes.begin(), sizes.end(), begin) - sizes.begin());
      MerkleFrontier frontier;
      for (std::uint64_t i = begin; i < end; ++i) {
        frontier.append(leaves[i], [](const MerkleNodeId&, const MerkleHash&) {});
        for (; k < sizes.size() && sizes[k] == i + 1; ++k) size_parts[k] = frontier.hashes();
      }
      chunk_roots[c] = frontier.root();  // a full chunk's frontier is its one subtree
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads && t < chunks; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();

  std::vector<MerkleHash> roots(sizes.size());
  MerkleFrontier left;  // over the chunk roots: the subtrees of [0, chunk start)
  std::vector<MerkleHash> parts;
  std::size_t k = 0;
  for (; k < sizes.size() && sizes[k] == 0; ++k) roots[k] = merkle_empty_root();
  for (std::uint64_t c = 0; c < chunks && k < sizes.size(); ++c) {
    const std::uint64_t end = std::min(n, (c + 1) * chunk);
    for (; k < sizes.size() && sizes[k] <= end; ++k) {
      parts = left.hashes();
      parts.insert(parts.end(), size_parts[k].begin(), size_parts[k].end());
      roots[k] = merkle_fold_range(parts);
    }
    left.append(chunk_roots[c], [](const MerkleNodeId&, const MerkleHash&) {});
  }
  return roots;
}

std::vector<MerkleHash> merkle_inclusion_proof(std::span<const MerkleHash> leaves, std::uint64_t index) {
  std::vector<MerkleHash> out;
  if (index >= leaves.size()) return out;
  path(index, leaves, &out);
  return out;
}

std::vector<MerkleHash> merkle_consistency_proof(std::span<const MerkleHash> leaves, std::uint64_t first) {
  std::vector<MerkleHash> out;
  if (first == 0 || first >= leaves.size()) return out;
  subproof(first, leaves, true, &out);
  return out;
}

bool merkle_verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const MerkleHash& leaf_hash,
                             std::span<const MerkleHash> proof, const MerkleHash& root) {
  if (index >= tree_size) return false;
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  MerkleHash r = leaf_hash;
  for (const MerkleHash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = merkle_node_hash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = merkle_node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool merkle_verify_consistency(std::uint64_t first_size, std::uint64_t second_size, const MerkleHash& first_root,
                               const MerkleHash& second_root, std::span<const MerkleHash> proof) {
  if (first_size > second_size) return false;
  if (first_size == second_size) return proof.empty() && first_root == second_root;
  if (first_size == 0) return proof.empty();
  if (proof.empty()) return false;
  std::vector<MerkleHash> path_hashes;
  // A first tree that is a complete subtree is a node of the second: its root starts the path.
  if ((first_size & (first_size - 1)) == 0) path_hashes.push_back(first_root);
  path_hashes.insert(path_hashes.end(), proof.begin(), proof.end());
  std::uint64_t fn = first_size - 1;
  std::uint64_t sn = second_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  MerkleHash fr = path_hashes[0];
  MerkleHash sr = path_hashes[0];
  for (std::size_t i = 1; i < path_hashes.size(); ++i) {
    const MerkleHash& c = path_hashes[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = merkle_node_hash(c, fr);
      sr = merkle_node_hash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = merkle_node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

std::string merkle_base64(const MerkleHash& hash) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

std::string merkle_hex(const MerkleHash& hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const std::uint8_t b : hash) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool merkle_from_hex(std::string_view hex, MerkleHash* out) {
  if (hex.size() != 64) return false;
  // A table: verify decodes a stored hash per leaf.
  static const std::array<std::int8_t, 256> kNibble = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::int8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<std::int8_t>(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<std::int8_t>(c - 'A' + 10);
    return t;
  }();
  int bad = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = kNibble[static_cast<unsigned char>(hex[2 * i])], lo = kNibble[static_cast<unsigned char>(hex[2 * i + 1])];
    bad |= hi | lo;
    (*out)[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return bad >= 0;
}

}  // namespace ledger
