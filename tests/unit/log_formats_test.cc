// The verifiable log's formats: RFC 8785 canonical JSON (with the RFC's own examples), the leaf data of an
// event, C2SP signed notes and checkpoints with Ed25519 keys, base64, and the stored-tree arithmetic (ranges,
// complete subtrees, the frontier) checked against eventstore/merkle.h's in-memory proofs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstore/base64.h"
#include "eventstore/canonical_json.h"
#include "eventstore/merkle.h"
#include "eventstore/merkle_log.h"
#include "eventstore/signed_note.h"

namespace ledger {
namespace {

std::string canonical(const std::string& json) {
  std::string out;
  const Status s = canonicalize_json(json, &out);
  EXPECT_TRUE(s.ok()) << json << ": " << s.ToString();
  return out;
}

std::string number(double d) {
  std::string out;
  append_canonical_json_number(d, &out);
  return out;
}

TEST(CanonicalJson, Rfc8785MainExample) {
  // RFC 8785 section 3.2.2 (input) and 3.2.3 (output).
  const std::string input =
      R"({"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],)"
      R"( "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]})";
  EXPECT_EQ(canonical(input), "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                              "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(CanonicalJson, SortsMembersByUtf16CodeUnits) {
  // RFC 8785 section 3.2.3's sorting example: U+1F600 (a surrogate pair, 0xD83D...) sorts before U+FB33,
  // though its UTF-8 bytes sort after.
  const std::string input =
      R"({"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",)"
      R"( "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"})";
  EXPECT_EQ(canonical(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xC2\x80\":\"Control\",\"\xC3\xB6\":\"Latin Small Letter O "
            "With Diaeresis\",\"\xE2\x82\xAC\":\"Euro Sign\",\"\xF0\x9F\x98\x80\":\"Emoji: Grinning "
            "Face\",\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(CanonicalJson, NumbersAsEcmaScriptPrintsThem) {
  // RFC 8785 Appendix B's IEEE 754 samples.
  EXPECT_EQ(number(0.0), "0");
  EXPECT_EQ(number(-0.0), "0");
  EXPECT_EQ(number(5e-324), "5e-324");
  EXPECT_EQ(number(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(number(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(number(-9007199254740992.0), "-9007199254740992");
  EXPECT_EQ(number(295147905179352830000.0), "295147905179352830000");
  EXPECT_EQ(number(1e21), "1e+21");
  EXPECT_EQ(number(1e20), "100000000000000000000");
  EXPECT_EQ(number(1e-7), "1e-7");
  EXPECT_EQ(number(0.000001), "0.000001");
  EXPECT_EQ(number(333333333.3333333), "333333333.3333333");
  EXPECT_EQ(number(1e23), "1e+23");
  EXPECT_EQ(number(-1.5e-10), "-1.5e-10");
  EXPECT_EQ(canonical("[1.0, -0, 10, 2023, 1e2, 123456789012]"), "[1,0,10,2023,100,123456789012]");
}

TEST(CanonicalJson, StringsEscapedAsJsonStringify) {
  EXPECT_EQ(canonical(R"(["\u0000\u001f\b\t\n\f\r\u007f\u2028 \/ \"x\\"])"),
            "[\"\\u0000\\u001f\\b\\t\\n\\f\\r\x7f\xE2\x80\xA8 / \\\"x\\\\\"]");
}

TEST(CanonicalJson, RefusesWhatHasNoCanonicalForm) {
  std::string out;
  EXPECT_FALSE(canonicalize_json(R"({"a": 1, "a": 2})", &out).ok());  // duplicate member
  EXPECT_FALSE(canonicalize_json("{\"a\": \"\xC3\"}", &out).ok());     // invalid UTF-8
  EXPECT_FALSE(canonicalize_json("1e400", &out).ok());                 // not a finite double
  EXPECT_FALSE(canonicalize_json("{} x", &out).ok());                  // trailing bytes
  EXPECT_FALSE(canonicalize_json(std::string(100, '[') + std::string(100, ']'), &out).ok());  // too deep
}

TEST(LogLeafData, IsTheCanonicalJsonOfTheEventsFields) {
  RecordedEvent e;
  e.position = 7;
  e.stream_id = "0b9a7f62-3c1e-4d8f-9a40-5b6f1f3e2d10";
  e.stream_version = 2;
  e.event_id = "5f0c2a9e-8e41-4b57-a0c3-2f1d9e7b6a55";
  e.event_type = "RETIRED";
  e.data_json = R"({"reason": "Scope 1 offset", "beneficiary": "Acme Zürich"})";  // as PostgreSQL prints jsonb
  e.metadata_json = R"({"request_id": "r-1", "account": "acme"})";
  e.recorded_at = "2026-12-01T21:29:23.123456Z";
  std::string leaf;
  ASSERT_TRUE(log_leaf_data(e, &leaf).ok());
  EXPECT_EQ(leaf,
            "{\"data\":{\"beneficiary\":\"Acme Zürich\",\"reason\":\"Scope 1 offset\"},"
            "\"event_id\":\"5f0c2a9e-8e41-4b57-a0c3-2f1d9e7b6a55\",\"event_type\":\"RETIRED\","
            "\"metadata\":{\"account\":\"acme\",\"request_id\":\"r-1\"},\"recorded_at\":\"2026-12-01T21:29:23.123456Z\","
            "\"stream_id\":\"0b9a7f62-3c1e-4d8f-9a40-5b6f1f3e2d10\",\"stream_version\":2}");
  // The same event printed with other spacing and member order gives the same leaf.
  e.data_json = R"({"beneficiary":"Acme Zürich","reason":"Scope 1 offset"})";
  std::string again;
  ASSERT_TRUE(log_leaf_data(e, &again).ok());
  EXPECT_EQ(again, leaf);
}

TEST(Base64, RoundTripsAndRefusesNonCanonicalText) {
  for (const std::string& bytes : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                                  std::string("\x00\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  }
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_FALSE(base64_decode("Zm9vYg=").has_value());   // missing padding
  EXPECT_FALSE(base64_decode("Zm9vYh==").has_value());  // stray bits
  EXPECT_FALSE(base64_decode("Zm9v Yg==").has_value());
  EXPECT_FALSE(base64_decode("Zm=vYg==").has_value());
}

TEST(SignedNote, SignsAndVerifiesACheckpoint) {
  NoteSigner signer;
  ASSERT_TRUE(generate_note_signer("ledger.example/log", &signer).ok());
  const std::string key_text = format_signer_key(signer);
  NoteSigner parsed;
  ASSERT_TRUE(parse_signer_key(key_text + "\n", &parsed).ok());
  EXPECT_EQ(parsed.verifier.public_key, signer.verifier.public_key);
  NoteVerifier verifier;
  ASSERT_TRUE(parse_verifier_key(format_verifier_key(signer.verifier), &verifier).ok());
  EXPECT_EQ(verifier.key_id, signer.verifier.key_id);

  const MerkleHash root = merkle_leaf_hash("x");
  const std::string body = format_checkpoint_body({"ledger.example/log", 5, root});
  const std::string note = sign_note(signer, body);
  EXPECT_EQ(note.substr(0, body.size() + 1), body + "\n");
  EXPECT_EQ(note.substr(body.size() + 1, 4 + 19), "\xE2\x80\x94 ledger.example/log ");
  std::string text;
  ASSERT_TRUE(verify_note(note, verifier, &text).ok());
  EXPECT_EQ(text, body);
  CheckpointBody checkpoint;
  ASSERT_TRUE(parse_checkpoint_body(text, &checkpoint).ok());
  EXPECT_EQ(checkpoint.origin, "ledger.example/log");
  EXPECT_EQ(checkpoint.tree_size, 5u);
  EXPECT_EQ(checkpoint.root_hash, root);

  // Any changed byte of the text, another key of the same name, or no signature fails.
  std::string edited = note;
  edited[body.size() - 3] ^= 1;
  EXPECT_FALSE(verify_note(edited, verifier, nullptr).ok());
  NoteSigner other;
  ASSERT_TRUE(generate_note_signer("ledger.example/log", &other).ok());
  EXPECT_FALSE(verify_note(sign_note(other, body), verifier, nullptr).ok());
  EXPECT_FALSE(verify_note(body, verifier, nullptr).ok());
  EXPECT_FALSE(verify_note(body + "\n", verifier, nullptr).ok());
}

TEST(SignedNote, KeyTextsAreCheckedWhole) {
  NoteSigner signer;
  ASSERT_TRUE(generate_note_signer("a/log", &signer).ok());
  std::string vkey = format_verifier_key(signer.verifier);
  NoteVerifier v;
  EXPECT_FALSE(parse_verifier_key("b/log" + vkey.substr(5), &v).ok());  // the id no longer matches the name
  EXPECT_FALSE(parse_verifier_key(vkey.substr(0, vkey.size() - 4), &v).ok());
  EXPECT_FALSE(parse_verifier_key("no-plus-signs", &v).ok());
  // Keys whose base64 has '+' in it parse (names and ids never have one): try until one does.
  for (int i = 0; i < 200; ++i) {
    NoteSigner k;
    ASSERT_TRUE(generate_note_signer("plus/log", &k).ok());
    const std::string text = format_verifier_key(k.verifier);
    if (text.find('+', text.rfind('+', text.size()) == std::string::npos ? 0 : 15) == std::string::npos) continue;
    NoteVerifier parsed;
    ASSERT_TRUE(parse_verifier_key(text, &parsed).ok()) << text;
    NoteSigner parsed_signer;
    ASSERT_TRUE(parse_signer_key(format_signer_key(k), &parsed_signer).ok()) << format_signer_key(k);
  }
  EXPECT_FALSE(parse_signer_key(vkey, &signer).ok());
  NoteSigner s;
  EXPECT_FALSE(generate_note_signer("has space", &s).ok());
  EXPECT_FALSE(generate_note_signer("has+plus", &s).ok());
  EXPECT_FALSE(generate_note_signer("", &s).ok());
}

std::vector<MerkleHash> leaves_of(std::size_t n) {
  std::vector<MerkleHash> leaves;
  for (std::size_t i = 0; i < n; ++i) leaves.push_back(merkle_leaf_hash("leaf " + std::to_string(i)));
  return leaves;
}

MerkleHash node_of(const std::vector<MerkleHash>& leaves, const MerkleNodeId& id) {
  return merkle_root(std::span<const MerkleHash>(leaves).subspan(id.index << id.level, std::size_t{1} << id.level));
}

std::vector<MerkleHash> proof_from_ranges(const std::vector<MerkleHash>& leaves, const std::vector<MerkleRange>& ranges) {
  std::vector<MerkleHash> proof;
  for (const MerkleRange& r : ranges) {
    std::vector<MerkleHash> hashes;
    for (const MerkleNodeId& id : merkle_range_nodes(r)) hashes.push_back(node_of(leaves, id));
    proof.push_back(merkle_fold_range(hashes));
  }
  return proof;
}

TEST(StoredTree, ProofsFromCompleteSubtreesEqualTheRfcProofs) {
  const std::vector<MerkleHash> all = leaves_of(70);
  for (std::size_t n = 1; n <= all.size(); ++n) {
    const std::vector<MerkleHash> leaves(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(proof_from_ranges(leaves, {{0, n}}), std::vector<MerkleHash>{merkle_root(leaves)}) << n;
    for (std::uint64_t i = 0; i < n; ++i) {
      ASSERT_EQ(proof_from_ranges(leaves, merkle_inclusion_ranges(i, n)), merkle_inclusion_proof(leaves, i)) << i << "/" << n;
    }
    for (std::uint64_t m = 0; m <= n; ++m) {
      ASSERT_EQ(proof_from_ranges(leaves, merkle_consistency_ranges(m, n)), merkle_consistency_proof(leaves, m)) << m << "/" << n;
    }
  }
}

TEST(StoredTree, FrontierReportsEveryCompleteNodeOnceAndKnowsTheRoot) {
  const std::vector<MerkleHash> leaves = leaves_of(100);
  MerkleFrontier frontier;
  std::vector<MerkleNodeId> reported;
  for (std::size_t n = 0; n < leaves.size(); ++n) {
    frontier.append(leaves[n], [&](const MerkleNodeId& id, const MerkleHash& hash) {
      reported.push_back(id);
      EXPECT_EQ(hash, node_of(leaves, id));
    });
    ASSERT_EQ(frontier.root(), merkle_root(std::span<const MerkleHash>(leaves).subspan(0, n + 1))) << n;
    // A frontier rebuilt from the stored nodes of this size continues identically.
    std::vector<MerkleHash> edge;
    for (const MerkleNodeId& id : merkle_range_nodes({0, n + 1})) edge.push_back(node_of(leaves, id));
    EXPECT_EQ(edge, frontier.hashes());
  }
  // 100 leaves complete 50 + 25 + 12 + 6 + 3 + 1 nodes above them, each once.
  EXPECT_EQ(reported.size(), 97u);
  MerkleFrontier bad;
  EXPECT_FALSE(bad.reset(5, {merkle_leaf_hash("x")}));
}

}  // namespace
}  // namespace ledger
