#!/usr/bin/env python3
"""tests/tools/test_verify.py - tests of tools/verify.py, the auditor's offline verifier (docs/audit.md).

Builds a small log of its own here (leaves of canonical JSON, an RFC 9162 tree, proofs computed by the
definitions of sections 2.1.3.1 / 2.1.4.1 rather than by verify.py, an Ed25519 key made with openssl and
signed C2SP checkpoints) and checks that verify.py accepts what is right and refuses, with exit status 1 and
the failing leaf named, every tampering: a flipped proof bit, a changed leaf byte, another signing key, a
wrong key id, a proof for other sizes, a certificate that does not match its leaf data, a non-canonical leaf.
Also runs the committed RFC 9162 vectors and tricky RFC 8785 cases. Run from anywhere:
python3 tests/tools/test_verify.py (CTest: tools.verify_py).
"""

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERIFY_PY = os.path.join(SOURCE_DIR, "tools", "verify.py")
VECTORS_DIR = os.path.join(SOURCE_DIR, "tests", "vectors", "rfc9162")
ORIGIN = "carbon-ledger.example/log"

sys.dont_write_bytecode = True  # no __pycache__ left in tools/ by importing verify.py
_spec = importlib.util.spec_from_file_location("verify", VERIFY_PY)
verify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify)


# --- an RFC 9162 tree, straight from the definitions (2.1.1, 2.1.3.1, 2.1.4.1) ---

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n):  # the largest power of two smaller than n
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def path(m, hashes):
    if len(hashes) <= 1:
        return []
    k = split_point(len(hashes))
    if m < k:
        return path(m, hashes[:k]) + [mth(hashes[k:])]
    return path(m - k, hashes[k:]) + [mth(hashes[:k])]


def subproof(m, hashes, complete):
    n = len(hashes)
    if m == n:
        return [] if complete else [mth(hashes)]
    k = split_point(n)
    if m <= k:
        return subproof(m, hashes[:k], complete) + [mth(hashes[k:])]
    return subproof(m - k, hashes[k:], False) + [mth(hashes[:k])]


def consistency_proof(m, hashes):
    return subproof(m, hashes, True) if 0 < m < len(hashes) else []


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- keys and notes through openssl ---

class Signer:
    def __init__(self, directory, name):
        self.name = name
        self.private_pem = os.path.join(directory, f"{len(os.listdir(directory))}-key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.private_pem], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(["openssl", "pkey", "-in", self.private_pem, "-pubout", "-outform", "DER"],
                             check=True, stdout=subprocess.PIPE).stdout
        self.public_key = der[-32:]
        self.key_id = hashlib.sha256(name.encode() + b"\n\x01" + self.public_key).digest()[:4]
        encoded_key = b64(b"\x01" + self.public_key)  # signature type Ed25519, then the key
        self.verifier_key = f"{name}+{self.key_id.hex()}+{encoded_key}"
        self.directory = directory

    def sign(self, message: bytes) -> bytes:
        with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as f:
            f.write(message)
        try:
            return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", self.private_pem, "-rawin", "-in",
                                   f.name], check=True, stdout=subprocess.PIPE).stdout
        finally:
            os.unlink(f.name)

    def note(self, size, root, origin=None, key_id=None) -> str:
        body = f"{origin or self.name}\n{size}\n{b64(root)}\n"
        signature = (key_id or self.key_id) + self.sign(body.encode())
        return body + "\n" + f"\u2014 {self.name} {b64(signature)}\n"


RECORD = "5b0f6c1e-8d1e-4c3a-9f4e-2a7d9c1b3e55"
OTHER = "0c9e2b7a-1f3d-4e5a-8b6c-7d8e9f0a1b2c"


def event(n, stream, version, event_type, data):
    return {"data": data, "event_id": f"00000000-0000-4000-8000-{n:012x}", "event_type": event_type,
            "metadata": {"request_id": f"req-{n}"}, "recorded_at": f"2025-03-0{n + 1}T10:00:00.12345{n}Z",
            "stream_id": stream, "stream_version": version}


CREATED = {"project_name": "Rimba Raya", "registry": "verra", "vintage": 2021, "quantity": 10,
           "serial_number": "VCS-1234", "block_start": 1, "block_end": 10, "issuer": "acct-1"}
RETIRED = {"beneficiary": "Acme GmbH", "reason": "2024 flights", "category": "travel"}

# 7 leaves: RECORD is CREATED at leaf 0, SOLD at 2 and RETIRED at 5; OTHER's events in between.
EVENTS = [
    event(0, RECORD, 1, "CREATED", CREATED),
    event(1, OTHER, 1, "CREATED", dict(CREATED, serial_number="VCS-99", quantity=5, block_end=5)),
    event(2, RECORD, 2, "SOLD", {"buyer": "acct-2", "seller": "acct-1"}),
    event(3, OTHER, 2, "SOLD", {"buyer": "acct-3", "seller": "acct-1"}),
    event(4, OTHER, 3, "CANCELLED", {"reason": "double counted \u2028 \"quoted\" \u00e9\n"}),
    event(5, RECORD, 3, "RETIRED", RETIRED),
    event(6, OTHER, 4, "CANCELLED", {"reason": "x", "weight": 0.1, "big": 1e21}),
]


class Log:
    def __init__(self, leaves_data):
        self.leaves = leaves_data
        self.hashes = [leaf_hash(d.encode()) for d in leaves_data]

    def root(self, size=None):
        return mth(self.hashes[:len(self.hashes) if size is None else size])

    def bundle(self, signer, record, size=None, with_certificate=False):
        size = len(self.leaves) if size is None else size
        events = []
        for i, data in enumerate(self.leaves[:size]):
            leaf = json.loads(data)
            if leaf["stream_id"] != record:
                continue
            events.append({"stream_version": leaf["stream_version"], "event_type": leaf["event_type"],
                           "leaf_index": i, "leaf_data": data, "leaf_hash": b64(self.hashes[i]),
                           "inclusion_proof": [b64(h) for h in path(i, self.hashes[:size])]})
        bundle = {"record_id": record, "checkpoint": signer.note(size, self.root(size)), "tree_size": size,
                  "root_hash": b64(self.root(size)), "verifier_key": signer.verifier_key, "events": events,
                  "pending_events": 0}
        if with_certificate:
            created = json.loads(self.leaves[events[0]["leaf_index"]])["data"]
            retired_entry = [e for e in events if e["event_type"] == "RETIRED"][0]
            retired = json.loads(retired_entry["leaf_data"])
            bundle["certificate"] = {
                "record_id": record, "beneficiary": retired["data"].get("beneficiary"),
                "reason": retired["data"].get("reason"), "category": retired["data"].get("category"),
                "details": retired["data"].get("details"),
                **{k: created[k] for k in ("quantity", "registry", "serial_number", "block_start", "block_end",
                                           "vintage", "project_name")},
                "retired_at": retired["recorded_at"], "retirement_leaf_index": retired_entry["leaf_index"],
                "retirement_leaf_hash": retired_entry["leaf_hash"]}
        return bundle


def flip_bit(b64_hash):
    raw = bytearray(base64.b64decode(b64_hash))
    raw[7] ^= 0x10
    return b64(bytes(raw))


class VerifyPyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="verify-py-test-")
        cls.dir = cls.tmp.name
        cls.keys_dir = os.path.join(cls.dir, "keys")
        os.mkdir(cls.keys_dir)
        cls.signer = Signer(cls.keys_dir, ORIGIN)
        cls.other_signer = Signer(cls.keys_dir, ORIGIN)  # same name, another key
        cls.log = Log([verify.canonical_json(e) for e in EVENTS])
        cls.key_file = cls.write("verifier.key", cls.signer.verifier_key + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def write(cls, name, content):
        path_ = os.path.join(cls.dir, name)
        with open(path_, "w", encoding="utf-8", newline="") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path_

    def run_verify(self, *args):
        result = subprocess.run([sys.executable, VERIFY_PY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.assertNotIn("Traceback", result.stderr)
        return result

    def assert_verified(self, *args):
        result = self.run_verify(*args)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def assert_failed(self, *args, mentions=None):
        result = self.run_verify(*args)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        if mentions:
            self.assertIn(mentions, result.stderr)
        return result.stderr

    # --- the vectors ---

    def test_the_committed_rfc9162_vectors_all_agree(self):
        out = self.assert_verified("vectors", VECTORS_DIR)
        self.assertIn("inclusion: ", out)
        self.assertIn("consistency: ", out)
        self.assertIn(" 0 disagree", out)

    def test_a_vector_with_the_wrong_expectation_fails(self):
        with open(os.path.join(VECTORS_DIR, "inclusion", "1", "happy-path.json")) as f:
            vector = json.load(f)
        vector["wantErr"] = True
        vectors = os.path.join(self.dir, "bad-vectors")
        os.makedirs(vectors, exist_ok=True)
        with open(os.path.join(vectors, "v.json"), "w") as f:
            json.dump(vector, f)
        self.assertIn("DISAGREES", self.run_verify("vectors", vectors).stdout)
        self.assert_failed("vectors", vectors)

    # --- checkpoints ---

    def test_a_checkpoint_verifies_with_the_key_string_and_the_key_file(self):
        note = self.write("cp.txt", self.signer.note(7, self.log.root()))
        out = self.assert_verified("checkpoint", note, "--key", self.signer.verifier_key)
        self.assertIn(f"origin: {ORIGIN}", out)
        self.assertIn("size:   7", out)
        self.assertIn(self.log.root().hex(), out)
        self.assert_verified("checkpoint", note, "--key", self.key_file)

    def test_a_checkpoint_signed_with_another_key_fails(self):
        note = self.write("cp-other.txt", self.other_signer.note(7, self.log.root()))
        self.assert_failed("checkpoint", note, "--key", self.signer.verifier_key, mentions="key id")

    def test_a_signature_under_a_wrong_key_id_fails(self):
        note = self.write("cp-id.txt", self.signer.note(7, self.log.root(), key_id=b"\x01\x02\x03\x04"))
        self.assert_failed("checkpoint", note, "--key", self.signer.verifier_key, mentions="01020304")

    def test_a_changed_body_or_origin_fails(self):
        good = self.signer.note(7, self.log.root())
        self.assert_failed("checkpoint", self.write("cp-size.txt", good.replace("\n7\n", "\n8\n", 1)),
                           "--key", self.signer.verifier_key, mentions="does not verify")
        renamed = self.write("cp-origin.txt", self.signer.note(7, self.log.root(), origin="elsewhere/log"))
        self.assert_failed("checkpoint", renamed, "--key", self.signer.verifier_key, mentions="origin")

    def test_malformed_notes_and_keys_are_input_errors(self):
        good = self.signer.note(7, self.log.root())
        for name, text in (("no-blank", good.replace("\n\n", "\n")), ("hyphen", good.replace("\u2014", "-")),
                           ("leading-zero", good.replace("\n7\n", "\n07\n", 1)), ("no-final-newline", good[:-1])):
            with self.subTest(name):
                result = self.run_verify("checkpoint", self.write(f"bad-{name}.txt", text), "--key",
                                         self.signer.verifier_key)
                self.assertEqual(result.returncode, 2, result.stderr)
        note = self.write("cp-good.txt", good)
        name, key_id, key = self.signer.verifier_key.split("+", 2)
        for bad_key in ("nonsense", f"{name}+00000000+{key}", f"{name}+{key_id}+AAAA", "/no/such/key/file"):
            with self.subTest(bad_key):
                self.assertEqual(self.run_verify("checkpoint", note, "--key", bad_key).returncode, 2)
        self.assertEqual(self.run_verify("checkpoint", "/no/such/note", "--key", self.key_file).returncode, 2)
        self.assertEqual(self.run_verify("frobnicate").returncode, 2)

    # --- inclusion ---

    def test_a_proof_bundle_verifies_every_event(self):
        out = self.assert_verified("inclusion", self.write("b.json", self.log.bundle(self.signer, RECORD)),
                                   "--key", self.key_file)
        for leaf in (0, 2, 5):
            self.assertIn(f"ok: leaf {leaf} ", out)
        # A bundle of a smaller checkpoint (leaf 5 not yet in it) verifies too.
        out = self.assert_verified("inclusion", self.write("b4.json", self.log.bundle(self.signer, RECORD, 4)),
                                   "--key", self.key_file)
        self.assertNotIn("leaf 5", out)
        self.assert_verified("inclusion", self.write("b-other.json", self.log.bundle(self.signer, OTHER)),
                             "--key", self.key_file)

    def test_a_flipped_bit_in_a_proof_hash_fails_naming_the_leaf(self):
        bundle = self.log.bundle(self.signer, RECORD)
        bundle["events"][1]["inclusion_proof"][1] = flip_bit(bundle["events"][1]["inclusion_proof"][1])
        self.assert_failed("inclusion", self.write("b-flip.json", bundle), "--key", self.key_file,
                           mentions="leaf 2")

    def test_a_changed_leaf_data_byte_fails(self):
        bundle = self.log.bundle(self.signer, RECORD)
        entry = bundle["events"][2]
        entry["leaf_data"] = entry["leaf_data"].replace("Acme", "Acne")
        self.assert_failed("inclusion", self.write("b-data.json", bundle), "--key", self.key_file,
                           mentions="leaf 5")
        # With its hash recomputed to match, the proof no longer leads to the root.
        entry["leaf_hash"] = b64(leaf_hash(entry["leaf_data"].encode()))
        self.assert_failed("inclusion", self.write("b-data2.json", bundle), "--key", self.key_file,
                           mentions="root")

    def test_a_bundle_of_another_record_or_a_mislabelled_event_fails(self):
        bundle = self.log.bundle(self.signer, RECORD)
        bundle["record_id"] = OTHER
        self.assert_failed("inclusion", self.write("b-rec.json", bundle), "--key", self.key_file,
                           mentions="stream_id")
        bundle = self.log.bundle(self.signer, RECORD)
        bundle["events"][1]["event_type"] = "RETIRED"
        self.assert_failed("inclusion", self.write("b-type.json", bundle), "--key", self.key_file,
                           mentions="event_type")

    def test_a_bundle_whose_size_or_root_disagrees_with_its_checkpoint_fails(self):
        bundle = self.log.bundle(self.signer, RECORD)
        bundle["tree_size"] = 6
        self.assert_failed("inclusion", self.write("b-size.json", bundle), "--key", self.key_file)
        bundle = self.log.bundle(self.signer, RECORD)
        bundle["root_hash"] = b64(self.log.root(6))
        self.assert_failed("inclusion", self.write("b-root.json", bundle), "--key", self.key_file)
        bundle = self.log.bundle(self.other_signer, RECORD)
        self.assert_failed("inclusion", self.write("b-key.json", bundle), "--key", self.key_file)

    def test_a_leaf_that_is_not_canonical_json_fails_even_with_a_valid_proof(self):
        leaves = list(self.log.leaves)
        leaves[5] = json.dumps(EVENTS[5], sort_keys=True)  # spaces after ':' and ','
        log = Log(leaves)
        self.assert_failed("inclusion", self.write("b-jcs.json", log.bundle(self.signer, RECORD)), "--key",
                           self.key_file, mentions="canonical")

    def test_unreadable_bundles_are_input_errors(self):
        for name, content in (("garbage", "{not json"), ("list", "[]"), ("no-events", json.dumps({"x": 1}))):
            with self.subTest(name):
                result = self.run_verify("inclusion", self.write(f"b-{name}.json", content), "--key", self.key_file)
                self.assertEqual(result.returncode, 2, result.stderr)

    # --- certificates ---

    def test_a_certificate_verifies_against_its_leaf_data(self):
        out = self.assert_verified("certificate", self.write("c.json", self.log.bundle(self.signer, RECORD, None,
                                                                                       True)),
                                   "--key", self.key_file)
        self.assertIn("VERIFIED: 10 tonnes retired for Acme GmbH", out)
        self.assertIn(f"included at leaf 5 of checkpoint size 7 signed by {ORIGIN}", out)

    def test_a_certificate_that_differs_from_its_leaf_data_fails(self):
        for name, value in (("beneficiary", "Someone Else"), ("details", "added"), ("quantity", 11),
                            ("serial_number", "VCS-99"), ("retired_at", "2025-03-06T10:00:00.000000Z"),
                            ("retirement_leaf_index", 2)):
            with self.subTest(name):
                bundle = self.log.bundle(self.signer, RECORD, None, True)
                bundle["certificate"][name] = value
                self.assert_failed("certificate", self.write(f"c-{name}.json", bundle), "--key", self.key_file,
                                   mentions=name)

    def test_a_certificate_of_a_record_not_retired_in_the_checkpoint_fails(self):
        bundle = self.log.bundle(self.signer, RECORD, None, True)
        small = self.log.bundle(self.signer, RECORD, 4)
        small["certificate"] = bundle["certificate"]
        self.assert_failed("certificate", self.write("c-small.json", small), "--key", self.key_file,
                           mentions="RETIRED")

    # --- consistency ---

    def consistency_files(self, old_size, new_size, proof_first, proof_second, proof_of=None, signer=None):
        signer = signer or self.signer
        old = self.write(f"old-{old_size}.txt", signer.note(old_size, self.log.root(old_size)))
        new = self.write(f"new-{new_size}.txt", signer.note(new_size, self.log.root(new_size)))
        proof = consistency_proof(proof_of if proof_of is not None else proof_first, self.log.hashes[:new_size])
        answer = self.write(f"proof-{proof_first}-{proof_second}.json",
                            {"first": proof_first, "second": proof_second, "proof": [b64(h) for h in proof]})
        return old, new, answer

    def test_every_earlier_checkpoint_is_consistent_with_every_later_one(self):
        for old_size in range(0, 8):
            for new_size in range(old_size, 8):
                with self.subTest(old=old_size, new=new_size):
                    self.assert_verified("consistency", *self.consistency_files(old_size, new_size, old_size,
                                                                                new_size), "--key", self.key_file)

    def test_a_consistency_proof_for_the_wrong_sizes_fails(self):
        self.assert_failed("consistency", *self.consistency_files(3, 7, 2, 7), "--key", self.key_file,
                           mentions="sizes")
        # The proof of 2 -> 7 presented as the proof of 3 -> 7.
        self.assert_failed("consistency", *self.consistency_files(3, 7, 3, 7, proof_of=2), "--key", self.key_file)

    def test_a_flipped_consistency_proof_bit_or_a_forked_tree_fails(self):
        old, new, answer = self.consistency_files(3, 7, 3, 7)
        with open(answer) as f:
            proof = json.load(f)
        proof["proof"][0] = flip_bit(proof["proof"][0])
        self.assert_failed("consistency", old, new, self.write("proof-flip.json", proof), "--key", self.key_file)
        forked = Log(self.log.leaves[:2] + [self.log.leaves[3]] + self.log.leaves[3:])
        fork_note = self.write("fork.txt", self.signer.note(7, forked.root()))
        fork_proof = self.write("fork-proof.json", {"first": 3, "second": 7, "proof": [
            b64(h) for h in consistency_proof(3, forked.hashes)]})
        self.assert_failed("consistency", old, fork_note, fork_proof, "--key", self.key_file)

    def test_a_consistency_check_with_a_checkpoint_of_another_key_fails(self):
        old, _, answer = self.consistency_files(3, 7, 3, 7)
        _, new_other, _ = self.consistency_files(3, 7, 3, 7, signer=self.other_signer)
        self.assert_failed("consistency", old, new_other, answer, "--key", self.key_file)


class CanonicalJsonTest(unittest.TestCase):
    """RFC 8785 cases where a careless canonicaliser differs."""

    def canon(self, text):
        return verify.canonical_json(verify.parse_json_strict(text))

    def test_keys_sort_by_utf16_code_units_not_code_points(self):
        # U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000..U+FFFF in UTF-16.
        keys = ["\uffff", "\ufb33", "\ue000", "\U0001f600", "\u20ac", "\u00f6", "\u0080", "1", "\r", "a", "A",
                "aa", ""]
        obj = {k: i for i, k in enumerate(keys)}
        text = verify.canonical_json(obj)
        order = list(json.loads(text, object_pairs_hook=lambda pairs: [k for k, _ in pairs]))
        self.assertEqual(order, ["", "\r", "1", "A", "a", "aa", "\u0080", "\u00f6", "\u20ac", "\U0001f600",
                                 "\ue000", "\ufb33", "\uffff"])

    def test_numbers_use_the_ecmascript_form(self):
        cases = {"1e21": "1e+21", "1e20": "100000000000000000000", "1e-7": "1e-7", "0.000001": "0.000001",
                 "0.1": "0.1", "-0": "0", "-0.0": "0", "123456789012": "123456789012", "4.50": "4.5",
                 "2e-3": "0.002", "1E30": "1e+30", "333333333.33333329": "333333333.3333333",
                 "0.000000000000000000000000001": "1e-27", "-1e-7": "-1e-7", "5e-324": "5e-324",
                 "1.7976931348623157e308": "1.7976931348623157e+308", "9007199254740993": "9007199254740992",
                 "100": "100", "1.5e300": "1.5e+300", "123.456e-10": "1.23456e-8"}
        for source, expected in cases.items():
            with self.subTest(source):
                self.assertEqual(self.canon(source), expected)

    def test_strings_escape_only_quote_backslash_and_c0_controls(self):
        self.assertEqual(self.canon('"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\\\/ \\u007f\\u2028\\u2029\\u00e9"'),
                         '"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\/ \u007f\u2028\u2029\u00e9"')
        self.assertEqual(self.canon('"\\ud83d\\ude00"'), '"\U0001f600"')

    def test_the_rfc_8785_example(self):
        source = ('{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
                  '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}')
        self.assertEqual(self.canon(source),
                         '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                         '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')

    def test_what_i_json_forbids_is_refused(self):
        for source in ('{"a":1,"a":2}', "NaN", '[Infinity]', '"\\ud800"'):
            with self.subTest(source), self.assertRaises(ValueError):
                self.canon(source)


if __name__ == "__main__":
    unittest.main()
