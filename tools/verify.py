#!/usr/bin/env python3
"""tools/verify.py - an independent, offline verifier for Carbon Ledger's verifiable log (docs/audit.md).

Checks signed checkpoints (C2SP signed-note + tlog-checkpoint, Ed25519), inclusion proofs of a record's
events, retirement certificates against the events they cite, consistency between two checkpoints
(RFC 9162 section 2.1), and runs the committed RFC 9162 test vectors. Written from docs/audit.md and the RFCs,
not from the server's code, so that it is a second implementation an auditor can read in one sitting.
Python 3 standard library only; Ed25519 signatures are checked by the `openssl` command-line tool (OpenSSL 3).

Exit status: 0 verified, 1 verification failed (what failed is printed), 2 usage error or unreadable input.
"""

import argparse
import base64
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from decimal import Decimal

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
HASH_SIZE = 32
EM_DASH_PREFIX = "\u2014 "   # every signature line of a signed note starts with an em dash and a space
ED25519_ALG = 0x01           # the signed-note signature type byte of Ed25519
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo DER up to the key
LEAF_FIELDS = {"data", "event_id", "event_type", "metadata", "recorded_at", "stream_id", "stream_version"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RECORDED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class VerificationFailed(Exception):
    """The input is well-formed but does not prove what it claims (exit 1)."""


class InputError(Exception):
    """Usage error, unreadable file or input that is not of the expected shape (exit 2)."""


# ---------------------------------------------------------------------------------------------------------
# RFC 9162 section 2.1: hashes and proof verification

def leaf_hash(leaf_data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def verify_inclusion(index, tree_size, leaf, proof, root):
    """RFC 9162 2.1.3.2. Returns None when the proof holds, else why it does not."""
    if index >= tree_size:
        return f"leaf index {index} is not below tree size {tree_size}"
    if len(leaf) != HASH_SIZE:
        return f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}"
    if any(len(p) != HASH_SIZE for p in proof):
        return "a proof hash is not 32 bytes"
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return "inclusion proof is too long"
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "inclusion proof is too short"
    if r != root:
        return "inclusion proof does not lead to the root hash"
    return None


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2 for 0 < first <= second (the RFC defines consistency proofs only for a non-empty
    first tree; equal sizes need equal roots and no proof). Returns None when the proof holds, else why not.
    An empty first tree is the caller's business (see consistency_from_empty)."""
    if first > second:
        return f"first size {first} is greater than second size {second}"
    if first == 0:
        return "a consistency proof from the empty tree is meaningless"
    if first == second:
        if proof:
            return "equal sizes need an empty proof"
        return None if first_root == second_root else "equal sizes but different roots"
    if not proof:
        return "empty consistency proof"
    if any(len(p) != HASH_SIZE for p in proof):
        return "a proof hash is not 32 bytes"
    path = list(proof)
    # A first tree that is a complete subtree is itself a node of the second tree: its root starts the path.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return "consistency proof is too long"
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "consistency proof is too short"
    if fr != first_root:
        return "consistency proof does not lead to the first root"
    if sr != second_root:
        return "consistency proof does not lead to the second root"
    return None


def consistency_from_empty(second, first_root, proof):
    """The ledger serves /log/consistency?first=0: every tree extends the empty one, whose root must be
    SHA-256 of nothing; there is nothing to prove, so the proof must be empty."""
    if first_root != EMPTY_ROOT:
        return "a tree of size 0 must have the empty-tree root SHA-256('')"
    if proof:
        return "a consistency proof from the empty tree must be empty"
    return None


# ---------------------------------------------------------------------------------------------------------
# RFC 8785 JSON Canonicalization Scheme

def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_object(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate member name {key!r}")
        obj[key] = value
    return obj


def parse_json_strict(text):
    """json.loads refusing what I-JSON (RFC 7493, required by RFC 8785) refuses: duplicate names, NaN and
    Infinity. Numbers are kept as Python int/float; canonical output converts them to IEEE doubles."""
    return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)


def es_number(value) -> str:
    """ECMAScript Number.prototype.toString of the IEEE double nearest `value` (RFC 8785 3.2.2.3)."""
    x = float(value)  # integers beyond 2^53 lose precision here, exactly as in JavaScript
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + es_number(-x)
    # repr() is the shortest decimal that round-trips, which is the digit string ES requires.
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len("".join(map(str, digit_tuple))) - len(digits)
    k = len(digits)
    n = exponent + k  # the value is 0.digits * 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def es_string(s: str) -> str:
    """JSON.stringify of a string: only '"', '\\' and U+0000..U+001F are escaped (RFC 8785 3.2.2.2)."""
    out = ['"']
    for ch in s:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("a lone surrogate is not Unicode text (I-JSON)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical_json(value) -> str:
    """RFC 8785 canonical text of a parsed JSON value; object members sorted by their UTF-16 code units."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return es_number(value)
    if isinstance(value, str):
        return es_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        # Big-endian UTF-16 bytes compare like their sequences of code units.
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(es_string(k) + ":" + canonical_json(value[k]) for k in keys) + "}"
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def json_equal(a, b) -> bool:
    """Equality of JSON values, where (unlike Python) true is not 1 and numbers compare as doubles."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------------------------------------
# C2SP signed-note keys and Ed25519 through openssl

def b64decode_strict(text, what):
    """Standard base64 with padding, nothing else (RFC 4648 section 4)."""
    if not isinstance(text, str):
        raise InputError(f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InputError(f"{what} is not standard base64: {text!r}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise InputError(f"{what} is not canonical padded base64: {text!r}")
    return raw


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519_ALG]) + public_key).digest()[:4]


def valid_key_name(name: str) -> bool:
    return bool(name) and all(0x21 <= ord(c) <= 0x7E and c != "+" for c in name)


class VerifierKey:
    """A parsed `<name>+<key id hex8>+<base64(0x01 || public key)>` verifier key."""

    def __init__(self, text: str):
        parts = text.split("+", 2)  # the base64 key may itself hold '+'; the name may not
        if len(parts) != 3:
            raise InputError("a verifier key is <name>+<key id hex>+<base64 key>")
        self.name, id_hex, key_b64 = parts
        if not valid_key_name(self.name):
            raise InputError(f"verifier key name {self.name!r} is not printable ASCII without '+'")
        if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
            raise InputError(f"verifier key id {id_hex!r} is not 8 lowercase hex digits")
        raw = b64decode_strict(key_b64, "verifier key")
        if len(raw) != 33 or raw[0] != ED25519_ALG:
            raise InputError("verifier key is not 0x01 followed by a 32-byte Ed25519 public key")
        self.public_key = raw[1:]
        self.key_id = bytes.fromhex(id_hex)
        if key_id(self.name, self.public_key) != self.key_id:
            raise InputError(f"verifier key id {id_hex} is not the id of its name and key "
                             f"(that is {key_id(self.name, self.public_key).hex()})")
        self.text = text


def load_verifier_key(argument: str) -> VerifierKey:
    """--key is either a verifier key string or a file holding one (one line)."""
    text = argument
    if os.path.isfile(argument):
        try:
            with open(argument, "r", encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read key file {argument}: {e}") from None
        if text.endswith("\n"):
            text = text[:-1]
    return VerifierKey(text)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    pem = ("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(ED25519_SPKI_PREFIX + public_key).decode("ascii")
           + "\n-----END PUBLIC KEY-----\n")
    with tempfile.TemporaryDirectory(prefix="ledger-verify-") as tmp:
        paths = {name: os.path.join(tmp, name) for name in ("pub.pem", "msg", "sig")}
        for name, content in (("pub.pem", pem.encode("ascii")), ("msg", message), ("sig", signature)):
            with open(paths[name], "wb") as f:
                f.write(content)
        try:
            result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"],
                                     "-rawin", "-in", paths["msg"], "-sigfile", paths["sig"]],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            raise InputError(f"cannot run openssl (needed for Ed25519): {e}") from None
    # openssl exits 1 with "Signature Verification Failure" for a bad signature; anything else is broken.
    if result.returncode == 0 and b"Signature Verified Successfully" in result.stdout:
        return True
    if result.returncode == 1 and b"Verification Failure" in result.stdout + result.stderr:
        return False
    raise InputError("openssl could not check the signature (OpenSSL 3 with Ed25519 needed): "
                     + result.stderr.decode("utf-8", "replace").strip())


# ---------------------------------------------------------------------------------------------------------
# C2SP tlog-checkpoint notes

class Checkpoint:
    def __init__(self, origin, size, root, extensions, signer):
        self.origin, self.size, self.root, self.extensions, self.signer = origin, size, root, extensions, signer


def verify_checkpoint_note(note: str, key: VerifierKey, what="checkpoint") -> Checkpoint:
    """Parses a signed note strictly and checks its signature by `key`; returns the checkpoint it carries."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise InputError(f"{what}: a note holds no control characters but newline")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise InputError(f"{what}: not a signed note (body, blank line, signature lines, final newline)")
    body, signature_block = note[:split + 1], note[split + 2:]
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise InputError(f"{what}: the body is origin, tree size and root hash lines, none empty")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text) or int(size_text) >= 1 << 64:
        raise InputError(f"{what}: tree size {size_text!r} is not a decimal uint64 without leading zeros")
    root = b64decode_strict(root_text, f"{what} root hash")
    if len(root) != HASH_SIZE:
        raise InputError(f"{what}: root hash is {len(root)} bytes, not 32")

    signatures = signature_block[:-1].split("\n")
    wrong_ids, matching = [], None
    for line in signatures:
        if not line.startswith(EM_DASH_PREFIX):
            raise InputError(f"{what}: signature line {line!r} does not start with an em dash and a space")
        fields = line[len(EM_DASH_PREFIX):].split(" ")
        if len(fields) != 2 or not valid_key_name(fields[0]):
            raise InputError(f"{what}: signature line {line!r} is not '\u2014 <name> <base64>'")
        raw = b64decode_strict(fields[1], f"{what} signature")
        if len(raw) < 5:
            raise InputError(f"{what}: signature of {fields[0]} is too short")
        if fields[0] != key.name:
            continue  # signed-note: signatures by keys the verifier does not know are ignored
        if raw[:4] != key.key_id:
            wrong_ids.append(raw[:4].hex())
            continue
        if matching is not None:
            raise InputError(f"{what}: two signatures by {key.name}")
        matching = raw[4:]
    if matching is None:
        if wrong_ids:
            raise VerificationFailed(f"{what}: signed by key id {', '.join(wrong_ids)} of {key.name}, "
                                     f"not by the pinned key id {key.key_id.hex()}")
        raise VerificationFailed(f"{what}: no signature by {key.name}")
    if len(matching) != 64 or not ed25519_verify(key.public_key, body.encode("utf-8"), matching):
        raise VerificationFailed(f"{what}: the Ed25519 signature of {key.name} does not verify")
    if origin != key.name:
        raise VerificationFailed(f"{what}: origin {origin!r} is not the key name {key.name!r}")
    return Checkpoint(origin, int(size_text), root, lines[3:], key.name)


# ---------------------------------------------------------------------------------------------------------
# Reading inputs

def read_text(path, what):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return raw.decode("utf-8")
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8") from None


def read_json(path, what):
    try:
        return parse_json_strict(read_text(path, what))
    except ValueError as e:
        raise InputError(f"{what} {path} is not JSON: {e}") from None


def field(obj, name, kind, what):
    """obj[name], which must be of JSON type `kind` ("int" is a non-negative integer)."""
    if not isinstance(obj, dict) or name not in obj:
        raise InputError(f"{what} has no {name!r}")
    value = obj[name]
    ok = {"int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          "str": isinstance(value, str), "list": isinstance(value, list), "dict": isinstance(value, dict)}[kind]
    if not ok:
        raise InputError(f"{what}: {name!r} is not a{'n' if kind == 'int' else ''} {kind}")
    return value


def hash_list(values, what):
    if not isinstance(values, list):
        raise InputError(f"{what} is not a list of base64 hashes")
    hashes = [b64decode_strict(v, what) for v in values]
    if any(len(h) != HASH_SIZE for h in hashes):
        raise InputError(f"{what}: a hash is not 32 bytes")
    return hashes


# ---------------------------------------------------------------------------------------------------------
# Subcommands

def cmd_checkpoint(args):
    key = load_verifier_key(args.key)
    cp = verify_checkpoint_note(read_text(args.note, "checkpoint"), key)
    print(f"origin: {cp.origin}")
    print(f"size:   {cp.size}")
    print(f"root:   {base64.b64encode(cp.root).decode('ascii')}")
    print(f"        {cp.root.hex()}")
    for line in cp.extensions:
        print(f"extension line (signed, not interpreted): {line}")
    print(f"OK: signature by {cp.signer} ({key.key_id.hex()}) verified")
    return EXIT_OK


def verify_bundle(bundle, key):
    """Everything `inclusion` checks. Returns (checkpoint, [(event entry, parsed leaf data)])."""
    if not isinstance(bundle, dict):
        raise InputError("the bundle is not a JSON object")
    record_id = field(bundle, "record_id", "str", "bundle")
    cp = verify_checkpoint_note(field(bundle, "checkpoint", "str", "bundle"), key, "bundle checkpoint")
    if field(bundle, "tree_size", "int", "bundle") != cp.size:
        raise VerificationFailed(f"bundle tree_size {bundle['tree_size']} is not the checkpoint's size {cp.size}")
    if b64decode_strict(field(bundle, "root_hash", "str", "bundle"), "bundle root_hash") != cp.root:
        raise VerificationFailed("bundle root_hash is not the checkpoint's root hash")
    if isinstance(bundle.get("verifier_key"), str) and bundle["verifier_key"] != key.text:
        print(f"note: the bundle names verifier key {bundle['verifier_key']!r}; checked with the pinned key")
    events = field(bundle, "events", "list", "bundle")
    verified, seen_leaves, seen_versions = [], set(), set()
    for n, entry in enumerate(events):
        what = f"event #{n}"
        version = field(entry, "stream_version", "int", what)
        event_type = field(entry, "event_type", "str", what)
        index = field(entry, "leaf_index", "int", what)
        what = f"event v{version} {event_type} (leaf {index})"
        data_text = field(entry, "leaf_data", "str", what)
        claimed_hash = b64decode_strict(field(entry, "leaf_hash", "str", what), f"{what} leaf_hash")
        proof = hash_list(field(entry, "inclusion_proof", "list", what), f"{what} inclusion_proof")
        if index in seen_leaves or version in seen_versions:
            raise VerificationFailed(f"{what}: listed twice")
        seen_leaves.add(index)
        seen_versions.add(version)
        try:
            data_bytes = data_text.encode("utf-8")
        except UnicodeEncodeError:
            raise VerificationFailed(f"{what}: leaf_data is not Unicode text") from None
        computed = leaf_hash(data_bytes)
        if computed != claimed_hash:
            raise VerificationFailed(f"{what}: leaf_hash is not SHA-256(0x00 || leaf_data) = {computed.hex()}")
        why = verify_inclusion(index, cp.size, computed, proof, cp.root)
        if why:
            raise VerificationFailed(f"{what}: {why} (checkpoint size {cp.size})")
        try:
            leaf = parse_json_strict(data_text)
            canonical = canonical_json(leaf)
        except (ValueError, RecursionError) as e:
            raise VerificationFailed(f"{what}: leaf_data is not I-JSON: {e}") from None
        if canonical != data_text:
            raise VerificationFailed(f"{what}: leaf_data is not RFC 8785 canonical JSON; canonical: {canonical}")
        if not isinstance(leaf, dict) or set(leaf) != LEAF_FIELDS:
            raise VerificationFailed(f"{what}: leaf data fields are not exactly {sorted(LEAF_FIELDS)}")
        if leaf["stream_id"] != record_id:
            raise VerificationFailed(f"{what}: leaf stream_id {leaf['stream_id']!r} is not record {record_id}")
        if not json_equal(leaf["stream_version"], version):
            raise VerificationFailed(f"{what}: leaf stream_version {leaf['stream_version']} is not {version}")
        if leaf["event_type"] != event_type:
            raise VerificationFailed(f"{what}: leaf event_type {leaf['event_type']!r} is not {event_type!r}")
        if not isinstance(leaf["event_id"], str) or not UUID_RE.match(leaf["event_id"]) \
                or not UUID_RE.match(leaf["stream_id"]):
            raise VerificationFailed(f"{what}: event_id/stream_id are not lowercase uuids")
        if not isinstance(leaf["recorded_at"], str) or not RECORDED_AT_RE.match(leaf["recorded_at"]):
            raise VerificationFailed(f"{what}: recorded_at {leaf['recorded_at']!r} is not RFC 3339 UTC "
                                     "with 6 fraction digits")
        verified.append((entry, leaf))
        print(f"ok: leaf {index} v{version} {event_type} {leaf['recorded_at']} hash {computed.hex()}")
    if not verified:
        raise VerificationFailed(f"no event of record {record_id} is in checkpoint size {cp.size} yet "
                                 f"(pending_events: {bundle.get('pending_events')})")
    return cp, verified


def cmd_inclusion(args):
    key = load_verifier_key(args.key)
    bundle = read_json(args.bundle, "bundle")
    cp, verified = verify_bundle(bundle, key)
    print(f"VERIFIED: {len(verified)} event(s) of record {bundle['record_id']} included in checkpoint "
          f"size {cp.size} signed by {cp.signer}; pending (not yet in the log): {bundle.get('pending_events', 0)}")
    return EXIT_OK


CERT_RETIREMENT_FIELDS = ("beneficiary", "reason", "category", "details")
CERT_BLOCK_FIELDS = ("quantity", "registry", "serial_number", "block_start", "block_end", "vintage", "project_name")


def cmd_certificate(args):
    key = load_verifier_key(args.key)
    bundle = read_json(args.bundle, "bundle")
    cp, verified = verify_bundle(bundle, key)
    cert = field(bundle, "certificate", "dict", "bundle")
    for name in ("record_id", "retired_at", *CERT_RETIREMENT_FIELDS, *CERT_BLOCK_FIELDS):
        if name not in cert:
            raise InputError(f"certificate has no {name!r}")
    if cert["record_id"] != bundle["record_id"]:
        raise VerificationFailed(f"certificate record_id {cert['record_id']} is not the bundle's record")
    retirement_index = field(cert, "retirement_leaf_index", "int", "certificate")
    retirement_hash = b64decode_strict(field(cert, "retirement_leaf_hash", "str", "certificate"),
                                       "certificate retirement_leaf_hash")
    by_version = {entry["stream_version"]: (entry, leaf) for entry, leaf in verified}
    retired = [(e, leaf) for e, leaf in verified if e["event_type"] == "RETIRED"]
    if len(retired) != 1:
        raise VerificationFailed(f"{len(retired)} verified RETIRED events, not exactly one")
    entry, retired_leaf = retired[0]
    if entry["leaf_index"] != retirement_index:
        raise VerificationFailed(f"certificate retirement_leaf_index {retirement_index} is not the RETIRED "
                                 f"event's leaf {entry['leaf_index']}")
    if b64decode_strict(entry["leaf_hash"], "leaf_hash") != retirement_hash:
        raise VerificationFailed(f"certificate retirement_leaf_hash is not the hash of leaf {retirement_index}")
    data = retired_leaf["data"]
    if not isinstance(data, dict):
        raise VerificationFailed(f"leaf {retirement_index}: RETIRED data is not an object")
    for name in CERT_RETIREMENT_FIELDS:
        if not json_equal(cert[name], data.get(name)):
            raise VerificationFailed(f"certificate {name} {cert[name]!r} is not the RETIRED event's "
                                     f"{data.get(name)!r} (leaf {retirement_index})")
    if cert["retired_at"] != retired_leaf["recorded_at"]:
        raise VerificationFailed(f"certificate retired_at {cert['retired_at']!r} is not the RETIRED event's "
                                 f"recorded_at {retired_leaf['recorded_at']!r} (leaf {retirement_index})")

    # The block: what the version-1 event (CREATED or CARVED) issued, less what each SPLIT before the
    # retirement carved off its low end. Every earlier version must be among the verified events.
    retired_version = entry["stream_version"]
    missing = [v for v in range(1, retired_version) if v not in by_version]
    if missing:
        raise VerificationFailed(f"stream versions {missing} before the retirement are not in the bundle")
    first_entry, first_leaf = by_version[1]
    if first_entry["event_type"] not in ("CREATED", "CARVED") or not isinstance(first_leaf["data"], dict):
        raise VerificationFailed(f"leaf {first_entry['leaf_index']}: version 1 is not a CREATED or CARVED event")
    block = {name: first_leaf["data"].get(name) for name in CERT_BLOCK_FIELDS}
    if first_entry["event_type"] == "CREATED" and "block_start" not in first_leaf["data"]:
        block["block_start"], block["block_end"] = 1, block["quantity"]  # recorded before blocks existed
    for version in range(2, retired_version):
        split_entry, split_leaf = by_version[version]
        if split_entry["event_type"] != "SPLIT":
            continue
        split = split_leaf["data"]
        try:
            block["block_start"] = split["block_end"] + 1
            block["quantity"] = block["quantity"] - split["quantity"]
        except (KeyError, TypeError):
            raise VerificationFailed(f"leaf {split_entry['leaf_index']}: SPLIT data lacks block_end/quantity") \
                from None
    for name in CERT_BLOCK_FIELDS:
        if not json_equal(cert[name], block[name]):
            raise VerificationFailed(f"certificate {name} {cert[name]!r} is not the logged block's "
                                     f"{block[name]!r} (leaf {first_entry['leaf_index']}, version 1)")
    reason = f", reason: {cert['reason']}" if cert["reason"] is not None else ""
    quantity = cert["quantity"]
    if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
        quantity = es_number(quantity)
    print(f"VERIFIED: {quantity} tonnes retired for {cert['beneficiary']}{reason}; "
          f"{cert['registry']} serial {cert['serial_number']} units {cert['block_start']}-{cert['block_end']}, "
          f"vintage {cert['vintage']}, project {cert['project_name']}; retired at {cert['retired_at']}; "
          f"included at leaf {retirement_index} of checkpoint size {cp.size} signed by {cp.signer}")
    return EXIT_OK


def cmd_consistency(args):
    key = load_verifier_key(args.key)
    old = verify_checkpoint_note(read_text(args.old_note, "old checkpoint"), key, "old checkpoint")
    new = verify_checkpoint_note(read_text(args.new_note, "new checkpoint"), key, "new checkpoint")
    answer = read_json(args.proof, "consistency proof")
    first = field(answer, "first", "int", "consistency proof")
    second = field(answer, "second", "int", "consistency proof")
    proof = hash_list(field(answer, "proof", "list", "consistency proof"), "consistency proof")
    if (first, second) != (old.size, new.size):
        raise VerificationFailed(f"the proof is for sizes {first} -> {second}, the checkpoints are "
                                 f"{old.size} -> {new.size}")
    if old.size > new.size:
        raise VerificationFailed(f"the new checkpoint ({new.size}) is smaller than the old one ({old.size})")
    if old.size == 0:
        why = consistency_from_empty(new.size, old.root, proof)
    else:
        why = verify_consistency(old.size, new.size, old.root, new.root, proof)
    if why:
        raise VerificationFailed(f"checkpoint {old.size} -> {new.size}: {why}")
    print(f"VERIFIED: checkpoint size {new.size} (root {new.root.hex()}) extends checkpoint size {old.size} "
          f"(root {old.root.hex()}), both signed by {key.name}")
    return EXIT_OK


def run_vector(path, v):
    """Runs one transparency-dev/merkle vector `v` (read from `path`); returns (kind, passed_verification)."""

    def hashes(value):
        # The vectors use "" for an empty hash and null for an empty proof; raw bytes of any length.
        return [] if value is None else [base64.b64decode(h, validate=True) for h in value]

    try:
        if "leafIdx" in v:
            why = verify_inclusion(v["leafIdx"], v["treeSize"], base64.b64decode(v["leafHash"], validate=True),
                                   hashes(v["proof"]), base64.b64decode(v["root"], validate=True))
            return "inclusion", why is None
        if "size1" in v:
            why = verify_consistency(v["size1"], v["size2"], base64.b64decode(v["root1"], validate=True),
                                     base64.b64decode(v["root2"], validate=True), hashes(v["proof"]))
            return "consistency", why is None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"vector {path} is not of the expected shape: {e}") from None
    raise InputError(f"vector {path} is neither an inclusion nor a consistency vector")


def cmd_vectors(args):
    if not os.path.isdir(args.dir):
        raise InputError(f"{args.dir} is not a directory")
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(args.dir)
                   for name in names if name.endswith(".json"))
    if not paths:
        raise InputError(f"no .json vectors under {args.dir}")
    counts, disagreements = {}, []
    for path in paths:
        v = read_json(path, "vector")
        if not isinstance(v, dict) or not isinstance(v.get("wantErr"), bool):
            raise InputError(f"vector {path} has no boolean wantErr")
        kind, passed = run_vector(path, v)
        agrees = passed != v["wantErr"]
        good, bad = counts.get(kind, (0, 0))
        counts[kind] = (good + agrees, bad + (not agrees))
        if not agrees:
            disagreements.append(f"DISAGREES: {os.path.relpath(path, args.dir)} "
                                 f"({v.get('desc')}): wantErr {v['wantErr']}, verified {passed}")
    for line in disagreements:
        print(line)
    for kind in sorted(counts):
        print(f"{kind}: {counts[kind][0]} agree, {counts[kind][1]} disagree")
    return EXIT_FAILED if disagreements else EXIT_OK


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 on usage errors already; keep it, with our usage text
        self.print_usage(sys.stderr)
        print(f"verify.py: {message}", file=sys.stderr)
        sys.exit(EXIT_INPUT)


def main(argv=None):
    parser = Parser(prog="verify.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("checkpoint", help="verify a signed checkpoint note")
    p.add_argument("note")
    p.add_argument("--key", required=True, help="verifier key name+id+key, or a file holding it")
    p.set_defaults(run=cmd_checkpoint)
    for name, run, text in (("inclusion", cmd_inclusion, "a /records/{id}/proof bundle"),
                            ("certificate", cmd_certificate, "a /records/{id}/certificate.proof bundle")):
        p = sub.add_parser(name, help=f"verify {text}")
        p.add_argument("bundle")
        p.add_argument("--key", required=True)
        p.set_defaults(run=run)
    p = sub.add_parser("consistency", help="verify that NEW_NOTE's tree extends OLD_NOTE's")
    p.add_argument("old_note")
    p.add_argument("new_note")
    p.add_argument("proof", help="the GET /log/consistency answer")
    p.add_argument("--key", required=True)
    p.set_defaults(run=cmd_consistency)
    p = sub.add_parser("vectors", help="run the RFC 9162 test vectors under DIR")
    p.add_argument("dir")
    p.set_defaults(run=cmd_vectors)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except VerificationFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return EXIT_FAILED
    except InputError as e:
        print(f"verify.py: {e}", file=sys.stderr)
        return EXIT_INPUT
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        # Input of a shape no check above anticipated: still an input error, never a traceback.
        print(f"verify.py: unexpected input ({type(e).__name__}: {e})", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
