// Retirement certificates over HTTP: GET /records/{id}/certificate (the printable page, ?format=pdf through
// headless Chromium) and /records/{id}/certificate.proof (the proof bundle plus "certificate"), for a whole
// retirement and a partial one (a RETIRED child); the bundle's RETIRED inclusion proof verifies against its
// root, and its checkpoint against the log's verifier key; the refusals (not retired, unknown, bad id, not
// yet in the log, bad format).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eventstore/base64.h"
#include "eventstore/merkle.h"
#include "eventstore/signed_note.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;

MerkleHash HashOf(const std::string& base64) {
  MerkleHash hash{};
  const std::optional<std::string> bytes = base64_decode(base64);
  if (!bytes || bytes->size() != hash.size()) throw std::runtime_error("not a base64 hash: " + base64);
  std::copy(bytes->begin(), bytes->end(), reinterpret_cast<char*>(hash.data()));
  return hash;
}

class Certificate : public LedgerFixture {
 protected:

  // A registered credit, sold to a buyer (a holder retires what it bought).
  std::string registered_and_sold(const std::string& serial) {
    const std::string id = register_new(serial);
    EXPECT_EQ(sell(id, "buyer-cert").status, 200);
    return id;
  }

  // Checks a certificate.proof bundle: the checkpoint note verifies with the fixture's key and says the
  // bundle's size and root; every event's leaf hash is its data's, and its inclusion proof verifies; the
  // certificate cites the RETIRED event.
  void expect_bundle_verifies(const HttpResponse& response, const std::string& id) {
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("Content-Type").value_or(""), "application/json");
    const auto bundle = parse_json(response.body);
    EXPECT_EQ(string_member(bundle, "record_id"), id);
    EXPECT_EQ(string_member(bundle, "verifier_key"), verifier_key_);
    const std::int64_t tree_size = int_member(bundle, "tree_size");
    const MerkleHash root = HashOf(string_member(bundle, "root_hash"));

    NoteVerifier verifier;
    ASSERT_TRUE(parse_verifier_key(verifier_key_, &verifier).ok());
    std::string text;
    ASSERT_TRUE(verify_note(string_member(bundle, "checkpoint"), verifier, &text).ok());
    CheckpointBody body;
    ASSERT_TRUE(parse_checkpoint_body(text, &body).ok());
    EXPECT_EQ(body.tree_size, static_cast<std::uint64_t>(tree_size));
    EXPECT_EQ(body.root_hash, root);

    const rapidjson::Value& certificate = bundle["certificate"];
    ASSERT_TRUE(certificate.IsObject());
    int retired = 0;
    for (const auto& event : bundle["events"].GetArray()) {
      const std::string leaf_data = string_member(event, "leaf_data");
      const MerkleHash leaf_hash = HashOf(string_member(event, "leaf_hash"));
      EXPECT_EQ(leaf_hash, merkle_leaf_hash(leaf_data));
      std::vector<MerkleHash> path;
      for (const auto& h : event["inclusion_proof"].GetArray()) path.push_back(HashOf(h.GetString()));
      const std::int64_t index = int_member(event, "leaf_index");
      EXPECT_TRUE(merkle_verify_inclusion(index, tree_size, leaf_hash, path, root)) << index;
      if (string_member(event, "event_type") != "RETIRED") continue;
      ++retired;
      EXPECT_EQ(int_member(certificate, "retirement_leaf_index"), index);
      EXPECT_EQ(string_member(certificate, "retirement_leaf_hash"), string_member(event, "leaf_hash"));
      const auto leaf = parse_json(leaf_data);
      EXPECT_EQ(string_member(certificate, "retired_at"), string_member(leaf, "recorded_at"));
      EXPECT_EQ(string_member(certificate, "beneficiary"), string_member(leaf["data"], "beneficiary"));
    }
    EXPECT_EQ(retired, 1);
    EXPECT_EQ(string_member(certificate, "record_id"), id);
  }
};

TEST_F(Certificate, AWholeRetirementHasAPageAndABundleThatVerify) {
  const std::string id = registered_and_sold("CERT-WHOLE");
  ASSERT_EQ(retire(id, R"({"beneficiary":"Acme <Zürich> & Co","reason":"Scope 1 2025","category":"corporate_inventory"})")
                .status,
            200);
  ASSERT_EQ(get_record_eventually(id, 3).status, 200);
  ASSERT_TRUE(wait_until_sealed());

  const HttpResponse proof = http("GET", "/records/" + id + "/certificate.proof");
  expect_bundle_verifies(proof, id);
  const auto bundle = parse_json(proof.body);
  const rapidjson::Value& c = bundle["certificate"];
  EXPECT_EQ(string_member(c, "beneficiary"), "Acme <Zürich> & Co");
  EXPECT_EQ(string_member(c, "reason"), "Scope 1 2025");
  EXPECT_EQ(string_member(c, "category"), "corporate_inventory");
  EXPECT_TRUE(c["details"].IsNull());
  EXPECT_EQ(int_member(c, "quantity"), 100);
  EXPECT_EQ(int_member(c, "block_start"), 1);
  EXPECT_EQ(int_member(c, "block_end"), 100);
  EXPECT_EQ(string_member(c, "serial_number"), "CERT-WHOLE");
  EXPECT_EQ(int_member(c, "vintage"), 2023);
  EXPECT_EQ(string_member(c, "project_name"), "Mangrove Restoration");
  {
    // For a manual run of tools/verify.py (the test output directory of the work dir).
    std::ofstream(work_dir() + "/certificate-whole.json") << proof.body;
    std::ofstream(work_dir() + "/verifier-key.txt") << verifier_key_ << "\n";
  }

  const HttpResponse page = http("GET", "/records/" + id + "/certificate");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("Content-Type").value_or(""), "text/html; charset=utf-8");
  const std::string csp = page.header("Content-Security-Policy").value_or("");
  EXPECT_TRUE(contains(csp, "default-src 'none'")) << csp;
  EXPECT_TRUE(contains(csp, "style-src 'unsafe-inline'")) << csp;
  EXPECT_TRUE(contains(page.body, "Acme &lt;Zürich&gt; &amp; Co")) << page.body;
  EXPECT_FALSE(contains(page.body, "<Zürich>"));
  EXPECT_TRUE(contains(page.body, "<td>" + std::to_string(int_member(c, "retirement_leaf_index")) + "</td>"));
  EXPECT_TRUE(contains(page.body, "<td>" + std::to_string(int_member(bundle, "tree_size")) + "</td>"));
  EXPECT_TRUE(contains(page.body, verifier_key_));

  EXPECT_TRUE(IsProblemNaming(http("GET", "/records/" + id + "/certificate?format=xyz"), 400, "format"));
  EXPECT_TRUE(IsProblemNaming(http("GET", "/records/" + id + "/certificate.proof?format=pdf"), 400, "format"));
}

TEST_F(Certificate, APartialRetirementCertifiesTheRetiredChild) {
  const std::string parent = registered_and_sold("CERT-PART");
  const HttpResponse retired = retire(parent, R"({"quantity":10,"beneficiary":"Partial Beneficiary"})");
  ASSERT_EQ(retired.status, 200) << retired.body;
  const std::string child = string_member(parse_json(retired.body), "id");
  ASSERT_NE(child, parent);
  ASSERT_EQ(get_record_eventually(child, 2).status, 200);
  ASSERT_TRUE(wait_until_sealed());

  const HttpResponse proof = http("GET", "/records/" + child + "/certificate.proof");
  expect_bundle_verifies(proof, child);
  const auto bundle = parse_json(proof.body);
  const rapidjson::Value& c = bundle["certificate"];
  EXPECT_EQ(int_member(c, "quantity"), 10);
  EXPECT_EQ(int_member(c, "block_start"), 1);
  EXPECT_EQ(int_member(c, "block_end"), 10);
  EXPECT_EQ(string_member(c, "beneficiary"), "Partial Beneficiary");
  std::ofstream(work_dir() + "/certificate-partial.json") << proof.body;

  const HttpResponse page = http("GET", "/records/" + child + "/certificate");
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(contains(page.body, "Partial Beneficiary"));

  // The parent keeps 11..100, SOLD: no certificate.
  const HttpResponse parent_page = http("GET", "/records/" + parent + "/certificate");
  EXPECT_TRUE(IsProblemOf(parent_page, 409, "not-retired"));
  EXPECT_EQ(string_member(parse_json(parent_page.body), "current_status"), "SOLD");
}

TEST_F(Certificate, RefusalsNotRetiredUnknownBadIdAndNotYetInLog) {
  const std::string id = register_new("CERT-NOT");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  const HttpResponse not_retired = http("GET", "/records/" + id + "/certificate.proof");
  EXPECT_TRUE(IsProblemOf(not_retired, 409, "not-retired"));
  EXPECT_EQ(string_member(parse_json(not_retired.body), "current_status"), "CREATED");
  EXPECT_TRUE(IsProblemOf(http("GET", "/records/" + id + "/certificate"), 409, "not-retired"));

  EXPECT_TRUE(IsProblemOf(http("GET", "/records/00000000-0000-4000-8000-000000000000/certificate"), 404,
                          "credit-not-found"));
  EXPECT_TRUE(IsProblemNaming(http("GET", "/records/not-a-uuid/certificate.proof"), 400, "id"));
  EXPECT_TRUE(IsProblemOf(http("GET", "/records/" + id + "/certificate", {}, {{"Authorization", "Bearer nope"}}), 401,
                          "unauthorized"));

  // Retired while the sealer is stopped: the read model has it RETIRED, the log not yet.
  ASSERT_EQ(sell(id, "buyer-cert").status, 200);
  ASSERT_TRUE(wait_until_sealed());
  const std::int64_t sealed = query_int("SELECT count(*) FROM log_leaves");
  stop_projector();
  ASSERT_EQ(retire(id, R"({"beneficiary":"Later"})").status, 200);
  // A projector without the signing key projects the retirement but does not seal it.
  signing_key_file_.clear();
  start_projector();
  ASSERT_EQ(get_record_eventually(id, 3).status, 200);
  EXPECT_EQ(query_int("SELECT count(*) FROM log_leaves"), sealed);
  const HttpResponse pending = http("GET", "/records/" + id + "/certificate.proof");
  EXPECT_TRUE(IsProblemOf(pending, 409, "not-yet-in-log")) << pending.body;
  EXPECT_EQ(pending.header("Retry-After").value_or(""), "1");
}

// A ledger whose projector never seals.
class CertificateUnsealed : public Certificate {
 protected:
  CertificateUnsealed() { seal_from_setup_ = false; }
};

TEST_F(CertificateUnsealed, NoCheckpointAtAllIsNotYetInLog) {
  // A projector that never seals: the log has no checkpoint.
  const std::string id = registered_and_sold("CERT-NOLOG");
  ASSERT_EQ(retire(id, R"({"beneficiary":"Nobody Yet"})").status, 200);
  ASSERT_EQ(get_record_eventually(id, 3).status, 200);
  ASSERT_EQ(query_int("SELECT count(*) FROM log_checkpoints"), 0);
  const HttpResponse pending = http("GET", "/records/" + id + "/certificate");
  EXPECT_TRUE(IsProblemOf(pending, 409, "not-yet-in-log")) << pending.body;
  EXPECT_EQ(pending.header("Retry-After").value_or(""), "1");
}

TEST_F(Certificate, FormatPdfIsPrintedByChromium) {
  if (::access("/usr/bin/chromium", X_OK) != 0) GTEST_SKIP() << "/usr/bin/chromium is not installed";
  // serve's temporary directory of its own, to see that each render's directory is removed.
  const std::string temp_dir = work_dir() + "/serve-tmp";
  ASSERT_TRUE(std::filesystem::create_directory(temp_dir));
  stop_serve();
  extra_env_.push_back({"TMPDIR", temp_dir});
  start_serve();
  const std::string id = registered_and_sold("CERT-PDF");
  ASSERT_EQ(retire(id, R"({"beneficiary":"<script>alert(1)</script>"})").status, 200);
  ASSERT_EQ(get_record_eventually(id, 3).status, 200);
  ASSERT_TRUE(wait_until_sealed());
  const HttpResponse pdf = http_request(port(), "GET", "/records/" + id + "/certificate?format=pdf", {}, {}, 60s);
  ASSERT_EQ(pdf.status, 200) << pdf.body.substr(0, 500);
  EXPECT_EQ(pdf.header("Content-Type").value_or(""), "application/pdf");
  EXPECT_EQ(pdf.body.rfind("%PDF-", 0), 0u) << pdf.body.substr(0, 20);
  EXPECT_TRUE(std::filesystem::is_empty(temp_dir));
}

}  // namespace
}  // namespace ledger::test
