// The independent verifier (tools/verify.py, Python standard library + openssl) agrees with the server: the
// checkpoint, a record's inclusion proofs, a retirement certificate's bundle and a consistency proof between
// two checkpoints, all fetched from a live serve, verify with the log's public key; tampered copies do not.
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;

class VerifyPy : public LedgerFixture {
 protected:

  std::string save(const std::string& name, const std::string& content) {
    const std::string path = work_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // Exit code of `python3 tools/verify.py args... --key <the log's public key>`.
  int verify_py(const std::vector<std::string>& args, std::string* output = nullptr) {
    std::vector<std::string> all{std::string(LEDGER_SOURCE_DIR) + "/tools/verify.py"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--key");
    all.push_back(verifier_key_);
    const RunResult r = run_to_completion("/usr/bin/python3", all, {}, work_dir(), 60s);
    if (output != nullptr) *output = r.out + r.err;
    return WIFEXITED(r.wait_status) ? WEXITSTATUS(r.wait_status) : -1;
  }

  std::string get_ok(const std::string& target) {
    const HttpResponse r = http("GET", target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return r.body;
  }
};

TEST_F(VerifyPy, AgreesWithTheServerOnCheckpointsProofsCertificatesAndConsistency) {
  const std::string id = register_new("PY-1");
  ASSERT_EQ(sell(id, "buyer-py").status, 200);
  ASSERT_EQ(retire(id, R"({"beneficiary":"Acme <Zürich>","reason":"Scope 1","category":"corporate_inventory"})").status, 200);
  register_new("PY-2");
  ASSERT_TRUE(wait_until_sealed());

  EXPECT_EQ(get_ok("/log/public-key"), verifier_key_ + "\n");
  const std::string old_note = get_ok("/log/checkpoint");
  const std::string old_path = save("old.note", old_note);
  std::string out;
  EXPECT_EQ(verify_py({"checkpoint", old_path}, &out), 0) << out;

  const std::string proof = get_ok("/records/" + id + "/proof");
  EXPECT_EQ(verify_py({"inclusion", save("proof.json", proof)}, &out), 0) << out;
  // One changed character of a leaf is caught.
  std::string tampered = proof;
  const std::size_t at = tampered.find("buyer-py");
  ASSERT_NE(at, std::string::npos);
  tampered[at] = 'B';
  EXPECT_EQ(verify_py({"inclusion", save("tampered.json", tampered)}, &out), 1) << out;

  const std::string certificate = get_ok("/records/" + id + "/certificate.proof");
  EXPECT_EQ(verify_py({"certificate", save("cert.json", certificate)}, &out), 0) << out;
  std::string forged = certificate;
  const std::size_t name_at = forged.rfind("Acme <Z");
  ASSERT_NE(name_at, std::string::npos);
  forged[name_at] = 'X';
  EXPECT_EQ(verify_py({"certificate", save("forged.json", forged)}, &out), 1) << out;

  // The log grows; the new checkpoint is consistent with the one kept.
  const std::int64_t old_size = query_int("SELECT max(tree_size) FROM log_checkpoints");
  register_new("PY-3");
  register_new("PY-4");
  ASSERT_TRUE(wait_until_sealed());
  const std::string new_note = get_ok("/log/checkpoint");
  const std::int64_t new_size = query_int("SELECT max(tree_size) FROM log_checkpoints");
  const std::string consistency = get_ok("/log/consistency?first=" + std::to_string(old_size) +
                                         "&second=" + std::to_string(new_size));
  EXPECT_EQ(verify_py({"consistency", old_path, save("new.note", new_note), save("consistency.json", consistency)}, &out), 0)
      << out;
  // A proof for other sizes does not pass for these checkpoints.
  const std::string other = get_ok("/log/consistency?first=1&second=" + std::to_string(new_size));
  EXPECT_EQ(verify_py({"consistency", old_path, save("new2.note", new_note), save("other.json", other)}, &out), 1) << out;
}

}  // namespace
}  // namespace ledger::test
