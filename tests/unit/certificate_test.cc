// Tests for retirement certificates (query/certificate.h): the certificate object's fields and their sources
// (the record's current block, the RETIRED leaf's recorded_at, index and hash), null optionals, the refusals
// (not retired, RETIRED not yet in a checkpoint, an unreadable leaf), and the page's escaping of user input.
#include "query/certificate.h"

#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "command/credit.h"
#include "eventstore/merkle.h"

namespace ledger {
namespace {

constexpr const char* kId = "0c6fa10c-6dab-5174-a798-a0a62ecfdeda";
constexpr const char* kRetiredAt = "2026-11-25T18:53:46.766594Z";

// The leaf of an event as the sealer writes it (only what the certificate reads matters here).
RecordProof::Event Leaf(std::int64_t version, const std::string& type, std::int64_t leaf_index) {
  RecordProof::Event e;
  e.stream_version = version;
  e.event_type = type;
  e.leaf.leaf_index = leaf_index;
  e.leaf.leaf_data = std::string(R"({"data":{},"event_id":"00000000-0000-4000-8000-00000000000)") +
                     std::to_string(version) + R"(","event_type":")" + type +
                     R"(","metadata":{},"recorded_at":")" + kRetiredAt + R"(","stream_id":")" + kId +
                     R"(","stream_version":)" + std::to_string(version) + "}";
  e.leaf.leaf_hash = merkle_leaf_hash(e.leaf.leaf_data);
  return e;
}

RecordProof ProofOf(std::vector<RecordProof::Event> events) {
  RecordProof proof;
  proof.record_id = kId;
  proof.checkpoint.tree_size = 42;
  proof.checkpoint.root_hash = merkle_leaf_hash("root");
  proof.checkpoint.note = "carbon-ledger.test/log\n42\nAAAA\n\n\xE2\x80\x94 carbon-ledger.test/log sig<&>\n";
  proof.checkpoint.verifier_key = "carbon-ledger.test/log+01234567+AQID";
  proof.events = std::move(events);
  return proof;
}

CreditAttributes Block() {
  CreditAttributes a;
  a.project_name = "Mangrove Restoration";
  a.registry = "Verra";
  a.serial_number = "VCS-0001";
  a.vintage = 2023;
  a.quantity = 100;
  a.block_start = 1;
  a.block_end = 100;
  return a;
}

// CREATED (1..100), then the events given, folded with evolve() as the projector does.
CreditRecord RecordAfter(const std::vector<CreditEvent>& events) {
  CreditRecord record;
  record.id = kId;
  record.state = evolve(CreditState{}, CreditCreated{Block(), "issuer-a"});
  for (const CreditEvent& e : events) record.state = evolve(record.state, e);
  return record;
}

Retirement FullRetirement() {
  Retirement r;
  r.beneficiary = "Acme Zürich";
  r.reason = "Scope 1 2025";
  r.category = "corporate_inventory";
  r.details = "Offsetting the Zürich office";
  return r;
}

TEST(Certificate, FieldsComeFromTheRecordAndTheRetiredLeaf) {
  const CreditRecord record = RecordAfter({CreditSold{"buyer-b", "issuer-a"}, CreditRetired{FullRetirement()}});
  const RecordProof proof = ProofOf({Leaf(1, "CREATED", 3), Leaf(2, "SOLD", 7), Leaf(3, "RETIRED", 11)});
  Certificate c;
  const CertificateOutcome outcome = build_certificate(record, proof, &c);
  ASSERT_EQ(outcome.kind, CertificateOutcome::Kind::kOk) << outcome.detail;

  const std::string json = certificate_json(c);
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  ASSERT_FALSE(doc.HasParseError()) << json;
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc.MemberCount(), 15u) << json;
  EXPECT_STREQ(doc["record_id"].GetString(), kId);
  EXPECT_STREQ(doc["beneficiary"].GetString(), "Acme Zürich");
  EXPECT_STREQ(doc["reason"].GetString(), "Scope 1 2025");
  EXPECT_STREQ(doc["category"].GetString(), "corporate_inventory");
  EXPECT_STREQ(doc["details"].GetString(), "Offsetting the Zürich office");
  EXPECT_EQ(doc["quantity"].GetInt64(), 100);
  EXPECT_STREQ(doc["registry"].GetString(), "Verra");
  EXPECT_STREQ(doc["serial_number"].GetString(), "VCS-0001");
  EXPECT_EQ(doc["block_start"].GetInt64(), 1);
  EXPECT_EQ(doc["block_end"].GetInt64(), 100);
  EXPECT_EQ(doc["vintage"].GetInt(), 2023);
  EXPECT_STREQ(doc["project_name"].GetString(), "Mangrove Restoration");
  EXPECT_STREQ(doc["retired_at"].GetString(), kRetiredAt);
  EXPECT_EQ(doc["retirement_leaf_index"].GetInt64(), 11);
  EXPECT_EQ(doc["retirement_leaf_hash"].GetString(), merkle_base64(proof.events[2].leaf.leaf_hash));
}

TEST(Certificate, AbsentRetirementFieldsAreNull) {
  Retirement only_beneficiary;
  only_beneficiary.beneficiary = "Acme";
  const CreditRecord record = RecordAfter({CreditRetired{only_beneficiary}});
  Certificate c;
  ASSERT_EQ(build_certificate(record, ProofOf({Leaf(1, "CREATED", 0), Leaf(2, "RETIRED", 1)}), &c).kind,
            CertificateOutcome::Kind::kOk);
  const std::string json = certificate_json(c);
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  ASSERT_TRUE(doc.IsObject()) << json;
  EXPECT_STREQ(doc["beneficiary"].GetString(), "Acme");
  EXPECT_TRUE(doc["reason"].IsNull()) << json;
  EXPECT_TRUE(doc["category"].IsNull()) << json;
  EXPECT_TRUE(doc["details"].IsNull()) << json;
}

TEST(Certificate, ASplitParentCertifiesTheUnitsItKept) {
  // Units 1..30 were carved off (sold to someone else) before the parent itself was retired: its certificate
  // is for 31..100, 70 tonnes, not the block as issued.
  const CreditRecord record =
      RecordAfter({CreditSplit{"11111111-1111-5111-8111-111111111111", 1, 30, 30}, CreditRetired{FullRetirement()}});
  const RecordProof proof = ProofOf({Leaf(1, "CREATED", 0), Leaf(2, "SPLIT", 4), Leaf(3, "RETIRED", 9)});
  Certificate c;
  ASSERT_EQ(build_certificate(record, proof, &c).kind, CertificateOutcome::Kind::kOk);
  EXPECT_EQ(c.block_start, 31);
  EXPECT_EQ(c.block_end, 100);
  EXPECT_EQ(c.quantity, 70);
  EXPECT_EQ(c.retirement_leaf_index, 9);
  const std::string json = certificate_json(c);
  EXPECT_NE(json.find("\"quantity\":70,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"block_start\":31,\"block_end\":100,"), std::string::npos) << json;
}

TEST(Certificate, ANotRetiredRecordIsRefusedWithItsStatus) {
  const CreditRecord record = RecordAfter({CreditSold{"buyer-b", "issuer-a"}});
  Certificate c;
  const CertificateOutcome outcome = build_certificate(record, ProofOf({Leaf(1, "CREATED", 0), Leaf(2, "SOLD", 1)}), &c);
  EXPECT_EQ(outcome.kind, CertificateOutcome::Kind::kNotRetired);
  EXPECT_EQ(outcome.current_status, "SOLD");
  EXPECT_NE(outcome.detail.find("SOLD"), std::string::npos);
}

TEST(Certificate, ARetirementNotYetSealedIsNotYetInLog) {
  const CreditRecord record = RecordAfter({CreditRetired{FullRetirement()}});
  RecordProof proof = ProofOf({Leaf(1, "CREATED", 0)});
  proof.pending_events = 1;
  Certificate c;
  EXPECT_EQ(build_certificate(record, proof, &c).kind, CertificateOutcome::Kind::kNotYetInLog);
}

TEST(Certificate, ARetiredLeafWithoutRecordedAtIsInternal) {
  const CreditRecord record = RecordAfter({CreditRetired{FullRetirement()}});
  RecordProof proof = ProofOf({Leaf(1, "CREATED", 0), Leaf(2, "RETIRED", 1)});
  proof.events[1].leaf.leaf_data = "{\"data\":{}}";
  Certificate c;
  EXPECT_EQ(build_certificate(record, proof, &c).kind, CertificateOutcome::Kind::kInternal);
}

TEST(CertificatePage, EscapesUserInputAndShowsTheProof) {
  Retirement hostile;
  hostile.beneficiary = "<script>alert('x')</script> & \"Co\"";
  hostile.reason = "<img src=x onerror=alert(1)>";
  hostile.details = "</pre><script>";
  CreditRecord record = RecordAfter({CreditRetired{hostile}});
  record.state.attributes.project_name = "<b>Project</b>";
  const RecordProof proof = ProofOf({Leaf(1, "CREATED", 0), Leaf(2, "RETIRED", 5)});
  Certificate c;
  ASSERT_EQ(build_certificate(record, proof, &c).kind, CertificateOutcome::Kind::kOk);
  const std::string html = certificate_html(c, proof);

  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>Project"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;/pre&gt;&lt;script&gt;"), std::string::npos);
  // The signed note is shown escaped too (it is ours, but a <pre> is not a place for raw text).
  EXPECT_NE(html.find("sig&lt;&amp;&gt;"), std::string::npos);

  // Self-contained and printable: no scripts, nothing fetched, an A4 print style.
  EXPECT_EQ(html.find("src=\""), std::string::npos);  // (the escaped reason has an unquoted src=)
  EXPECT_EQ(html.find("href=\""), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_NE(html.find("size: A4"), std::string::npos);
  EXPECT_NE(html.find("<title>Retirement certificate</title>"), std::string::npos);

  // The proof: leaf index, leaf hash in hex and base64, checkpoint size and root, note, verifier key, how to
  // verify.
  EXPECT_NE(html.find(">5<"), std::string::npos);
  EXPECT_NE(html.find(merkle_hex(c.retirement_leaf_hash)), std::string::npos);
  EXPECT_NE(html.find(merkle_base64(c.retirement_leaf_hash)), std::string::npos);
  EXPECT_NE(html.find(">42<"), std::string::npos);
  EXPECT_NE(html.find(merkle_base64(proof.checkpoint.root_hash)), std::string::npos);
  EXPECT_NE(html.find("<pre>carbon-ledger.test/log\n42\nAAAA\n"), std::string::npos);
  EXPECT_NE(html.find("carbon-ledger.test/log+01234567+AQID"), std::string::npos);
  EXPECT_NE(html.find("/records/" + std::string(kId) + "/certificate.proof &gt; cert.json"), std::string::npos);
  EXPECT_NE(html.find("python3 tools/verify.py certificate cert.json --key 'carbon-ledger.test/log+01234567+AQID'"),
            std::string::npos);
  EXPECT_NE(html.find("2026-11-25T18:53:46.766594Z"), std::string::npos);
  EXPECT_NE(html.find("VCS-0001, units 1&ndash;100"), std::string::npos);
}

TEST(CertificatePage, HtmlEscapeReplacesEveryMarkupCharacter) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("Zürich"), "Zürich");
  EXPECT_EQ(html_escape(""), "");
}

}  // namespace
}  // namespace ledger
