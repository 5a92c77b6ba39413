#!/usr/bin/env python3
"""Writes the committed seed corpora tests/fuzz/corpus/{api,http}/ (re-run after changing a seed here;
it deletes nothing else than the files it writes). Seed inputs of ledger_fuzz_api start with the
sub-target byte (see fuzz_api.cc); those of ledger_fuzz_http with the read-chunk byte (see fuzz_http.cc).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
UUID = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc"

REGISTER = {
    "readme_project": b'{"project_name": "Project ", "registry": "Registry1", "vintage": "2023", "quantity": 100, "serial_number": "SN1234"}',
    "readme_mangrove": b'{"project_name": "Mangrove Restoration", "registry": "Verra", "vintage": 2021, "quantity": 5000, "serial_number": "VCS-1234-2021-001"}',
    "unicode": json.dumps({"project_name": "\tR\u00edo Bravo \u2013 \U0001F333 ", "registry": "Gold\u00a0Standard",
                           "vintage": " 1990\t", "quantity": 1000000000000, "serial_number": "GS-\u00e9-1"},
                          ensure_ascii=False).encode(),
    "escapes": b'{"project_name":"A\\u0041\\u00e9\\ud83c\\udf33","registry":"r\\/x","vintage":2100,"quantity":1,"serial_number":"\\"q\\""}',
    "invalid_fields": b'{"project_name":"","registry":"  \\t ","vintage":1989,"quantity":1.5,"serial_number":"a\\u0007b"}',
    "wrong_types": b'{"project_name":1,"registry":null,"vintage":true,"quantity":"100","serial_number":[]}',
    "huge_numbers": b'{"project_name":"p","registry":"r","vintage":99999999999999999999999,"quantity":18446744073709551616,"serial_number":"s"}',
    "exponent": b'{"project_name":"p","registry":"r","vintage":2.023e3,"quantity":1e3,"serial_number":"s"}',
    "negative": b'{"project_name":"p","registry":"r","vintage":-2023,"quantity":-9223372036854775808,"serial_number":"s"}',
    "duplicate_key": b'{"project_name":"p","registry":"r","registry":"r2","vintage":2020,"quantity":5,"serial_number":"s"}',
    "unknown_fields": b'{"x":{"y":[1,2,{"z":null}]},"project_name":"p","registry":"r","vintage":"2020","quantity":5,"serial_number":"s","extra":"\\udc00"}',
    "lone_surrogate": b'{"project_name":"\\udc00","registry":"r","vintage":2020,"quantity":5,"serial_number":"s"}',
    "invalid_utf8": b'{"project_name":"\xc3\x28","registry":"\xed\xa0\x80","vintage":2020,"quantity":5,"serial_number":"\xf4\x90\x80\x80"}',
    "overlong_utf8": b'{"project_name":"\xc0\xaf","registry":"r","vintage":2020,"quantity":5,"serial_number":"s"}',
    "c1_control": '{"project_name":"a\u0085b","registry":"r\u007f","vintage":2020,"quantity":5,"serial_number":"s"}'.encode(),
    "too_long": json.dumps({"project_name": "x" * 201, "registry": "\u00e9" * 200, "vintage": 2020,
                            "quantity": 5, "serial_number": "s" * 256}, ensure_ascii=False).encode(),
    "deep_nesting": b'{"a":' + b'[' * 5000 + b']' * 5000 + b'}',
    "deep_unclosed": b'[' * 20000,
    "not_object": b'[1,2,3]',
    "empty": b'',
    "whitespace": b' \r\n\t ',
    "truncated": b'{"project_name":"p","registry":',
    "nul_inside": b'{"project_name":"p\x00","registry":"r","vintage":2020,"quantity":5,"serial_number":"s"}',
    "bom": b'\xef\xbb\xbf{"project_name":"p","registry":"r","vintage":2020,"quantity":5,"serial_number":"s"}',
    # CVE-2024-38517 (exponent + fraction digits overflow in RapidJSON 1.1.0) in each field
    "cve_2024_38517_vintage": b'{"project_name":"p","registry":"r","vintage":1.0000000000e-2147483639,"quantity":5,"serial_number":"s"}',
    "cve_2024_38517_quantity": b'{"project_name":"p","registry":"r","vintage":2020,"quantity":-1.0000000000e-2147483648,"serial_number":"s"}',
    "cve_2024_38517_text": b'{"project_name":1.00000000000000000000e-2147483630,"registry":"r","vintage":2020,"quantity":5,"serial_number":1E-2147483639}',
    "invisible": '{"project_name":"p","registry":"Verra\u200b","vintage":2020,"quantity":5,"serial_number":"S\u202eN\ufeff"}'.encode(),
    "block": b'{"project_name":"p","registry":"Registry1","vintage":2020,"serial_number":"SN1234","block_start":1,"block_end":10}',
    "block_and_quantity": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","quantity":91,"block_start":10,"block_end":100}',
    "block_quantity_disagrees": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","quantity":5,"block_start":10,"block_end":100}',
    "block_start_only": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","block_start":10}',
    "block_reversed": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","block_start":10,"block_end":9}',
    "block_limits": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","block_start":0,"block_end":999999999999999}',
    "block_out_of_range": b'{"project_name":"p","registry":"r","vintage":2020,"serial_number":"s","block_start":-1,"block_end":1000000000000000}',
    "verra": b'{"project_name":"p","registry":"Verra","vintage":2020,"serial_number":"19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1"}',
    "verra_old": b'{"project_name":"p","registry":"vcs","vintage":2013,"quantity":2000,"serial_number":"8046-6186523-6188522-VCU-004-MER-CN-1-1310-01012013-31122013-0"}',
    "verra_disagrees": b'{"project_name":"p","registry":"VERRA","vintage":2020,"quantity":1,"block_start":941467007,"block_end":941467008,"serial_number":"19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1"}',
    "gold_standard": b'{"project_name":"p","registry":"Gold Standard","vintage":2025,"serial_number":"GS1-1-KE-GS11603-16-2025-30256-110-5463"}',
    "gold_standard_range_form": b'{"project_name":"p","registry":"gold_standard","vintage":2018,"serial_number":"RW-5-1459975-2-2-0-7014 - RW-5-1460107-2-2-0-7014"}',
    "gold_standard_not_gs": b'{"project_name":"p","registry":"GS","vintage":2025,"quantity":3,"serial_number":"XX1-1-KE-16-2025-30256-110-5463"}',
    "lookalike": '{"project_name":"p","registry":"Verr\u0430","vintage":2020,"quantity":5,"serial_number":"VCS-0O01"}'.encode(),
}
SELL = {
    "readme": b'{"buyer": "Acme Corp"}',
    "partial": b'{"buyer": "Acme Corp", "quantity": 1200}',
    "quantity_one": b'{"buyer":"b","quantity":1}',
    "quantity_zero": b'{"buyer":"b","quantity":0}',
    "quantity_limit": b'{"buyer":"b","quantity":1000000000000000}',
    "quantity_fraction": b'{"buyer":"b","quantity":2.5}',
    "missing": b'{}',
    "null": b'{"buyer": null}',
    "duplicate": b'{"buyer":"a","buyer":"b"}',
    "padded_unicode": ' \t\u00c5cme \u00e6\u00f8 \t'.join(['{"buyer":"', '"}']).encode(),
    "number": b'{"buyer": 12}',
    "cve_2024_38517": b'{"buyer": 1.0000000000e-2147483639}',
}
RETIRE = {
    "readme": b'{"beneficiary": "Acme Corp", "reason": "2026 scope 1 offset"}',
    "full": b'{"beneficiary":"Acme Corp","reason":"offset","category":"corporate_inventory","details":"FY2026 scope 1","quantity":40}',
    "categories": b'{"category":"environmental_benefit","details":"x"}',
    "category_person": b'{"category":"person_or_organization","quantity":4999}',
    "category_bad": b'{"category":"Other","details":""}',
    "details_long": json.dumps({"category": "other", "details": "\u00e9" * 1000}, ensure_ascii=False).encode(),
    "details_too_long": json.dumps({"details": "d" * 1001}).encode(),
    "quantity_too_many": b'{"quantity":5001}',
    "empty_body": b'',
    "nulls": b'{"beneficiary": null, "reason": null}',
    "only_reason": b'{"reason":"  offset\\t"}',
    "bad": b'{"beneficiary":"","reason":"\\u0000"}',
    "duplicate": b'{"reason":"a","reason":"a"}',
    "cve_2024_38517": b'{"reason": 1.0000000000e-2147483639}',
    "cve_2024_38517_beneficiary": b'{"beneficiary": 9.9999999999999999999e-2147483640, "x": [1e-2147483648]}',
}
CANCEL = {
    "readme": b'{"reason": "issued in error"}',
    "partial": b'{"reason": "issued in error", "quantity": 10}',
    "missing_reason": b'{"quantity": 10}',
    "empty": b'',
    "bad": b'{"reason":" ","quantity":-1}',
    "duplicate": b'{"reason":"a","reason":"b"}',
    "cve_2024_38517": b'{"reason":"r","quantity":1.0000000000e-2147483639}',
}
CHILD = "9982ceec-9bc9-51a2-9a74-a8e6e96c072d"
CREATED_DATA = b'{"project_name":"p","registry":"Registry1","vintage":2020,"quantity":10,"serial_number":"SN1234","block_start":1,"block_end":10,"issuer":"i"}'
SPLIT_DATA = ('{"child":"%s","block_start":1,"block_end":4,"quantity":4}' % CHILD).encode()
CARVED_DATA = ('{"parent":"%s","project_name":"p","registry":"Registry1","vintage":2020,"serial_number":"SN1234",'
               '"quantity":4,"block_start":1,"block_end":4,"issuer":"i","holder":"h","status":"SOLD"}' % UUID).encode()
STATE = (b'{"status":"SOLD","version":3,"project_name":"p","registry":"r","vintage":2020,"quantity":6,'
         b'"serial_number":"s","block_start":5,"block_end":10,"issuer":"i","holder":"h","parent":"",'
         b'"issued_block_start":1,"issued_block_end":10,"children_count":1}')
OTHER = {
    "I": {"readme": b"Registry1\x00SN1234", "unicode": "  RE\u00c9gistry\t\x00 \u2603\"\\\n".encode(),
          "invalid_utf8": b"\xff\xfe\x00\xc3"},
    "P": {"register": b"/register/", "sell": f"/records/{UUID}/sell".encode(),
          "retire": f"/records/{UUID.upper()}/retire/?x=1".encode(), "get_old": f"/record/{UUID}/".encode(),
          "double_slash": b"/records//sell", "health": b"/healthz?", "weird": b"records/x/sell/",
          "cancel": f"/records/{UUID}/cancel".encode(), "list": b"/records/?status=SOLD&limit=5",
          "absolute_cancel": f"HTTP://h:8080/records/{UUID}/cancel/?x".encode()},
    "M": {"star": b" * ", "list": b'"1", W/"2",  "003" ,,', "long": b'"1234567890123456789"',
          "bad": b'"1', "empty_tag": b'""'},
    "C": {"json": b"application/json; charset=utf-8", "plus": b"Application/Problem+JSON", "text": b"text/plain",
          "tricky": b"\t/+json ;"},
    "X": {"ok": b"req-123_ABC.~", "space": b"a b", "long": b"x" * 129, "high": b"\xc3\xa9"},
    "E": {"fields": b"invalid-fields\x00Invalid fields\x00detail \xe2\x9c\x93\x00quantity\x00must be \"x\"\\\x00",
          "controls": b"a\x01\x00b\x1f\x00\x7f\xc2\x85\x00\xed\xa0\x80\x00ok"},
    "D": {"created": b"CREATED\x00" + REGISTER["readme_mangrove"],
          "sold": b'SOLD\x00{"buyer":"Acme"}', "retired": b'RETIRED\x00{}',
          "bad_type": b'CREATED\x00{"project_name":1}',
          "cve_2024_38517": b'CREATED\x00{"project_name":"p","registry":"r","vintage":1.0000000000e-2147483639,"quantity":1,"serial_number":"s"}',
          "created_block": b"CREATED\x00" + CREATED_DATA,
          "created_block_inconsistent": b'CREATED\x00{"project_name":"p","registry":"r","vintage":2020,"quantity":9,"serial_number":"s","block_start":1,"block_end":10}',
          "created_start_only": b'CREATED\x00{"project_name":"p","registry":"r","vintage":2020,"quantity":10,"serial_number":"s","block_start":1}',
          "sold_seller": b'SOLD\x00{"buyer":"b","seller":"s"}',
          "retired_full": b'RETIRED\x00{"beneficiary":"b","reason":"r","category":"other","details":"d"}',
          "cancelled": b'CANCELLED\x00{"reason":"issued in error"}',
          "cancelled_empty": b'CANCELLED\x00{}',
          "split": b"SPLIT\x00" + SPLIT_DATA,
          "split_bad_range": ('SPLIT\x00{"child":"%s","block_start":4,"block_end":1,"quantity":-2}' % CHILD).encode(),
          "carved": b"CARVED\x00" + CARVED_DATA,
          "carved_retired": b"CARVED\x00" + CARVED_DATA.replace(b'"SOLD"', b'"RETIRED"'),
          "unknown_type": b'DELETED\x00{}'},
    # apply_event sequences: pieces split at NUL, first byte type (b % 6) and version mode (b / 6 % 4)
    "A": {"created_split_sold": b"\x00" + CREATED_DATA + b"\x00\x04" + SPLIT_DATA + b"\x00\x01" + b'{"buyer":"b","seller":"i"}',
          "synthesized": b"\x00\x04\x00\x04\x00\x01\x00\x02\x00\x04",
          "carved_retired": b"\x05" + CARVED_DATA + b"\x00\x02" + b'{"category":"other"}' + b"\x00\x02",
          "created_cancelled_split": b"\x00\x00\x03\x00\x04" + SPLIT_DATA,
          "replay_gap_other": b"\x00\x00\x07\x00\x0d\x00\x13\x00\x00",
          "split_not_lowest": b"\x00" + CREATED_DATA + b"\x00\x04" + SPLIT_DATA.replace(b'"block_start":1,"block_end":4', b'"block_start":2,"block_end":5'),
          "split_all": b"\x00" + CREATED_DATA + b"\x00\x04" + ('{"child":"%s","block_start":1,"block_end":10,"quantity":10}' % CHILD).encode()},
    "G": {"sold": STATE,
          "retired": STATE.replace(b'"SOLD"', b'"RETIRED"')[:-1] + b',"retirement":{"beneficiary":"b","category":"other"}}',
          "cancelled": STATE.replace(b'"SOLD"', b'"CANCELLED"')[:-1] + b',"cancel_reason":""}',
          "version_max": STATE.replace(b'"version":3', b'"version":9223372036854775807'),
          "unregistered": STATE.replace(b'"SOLD"', b'"UNREGISTERED"')},
    "K": CANCEL,
    "Q": {"list": b"/records?holder=Acme%20Corp&status=SOLD&registry=verra&limit=2&cursor=abc",
          "unit": b"/records?registry=Verra&unit=941467010",
          "history": f"/records/{UUID}?history_limit=10&history_after=3".encode(),
          "plus_and_empty": b"/records?a=b+c&&=x&d&e=",
          "bad_escape": b"/records?a=%zz&b=%4",
          "repeated": b"/records?limit=1&limit=2",
          "absolute": b"http://h:1/records?x=%00%ff#frag"},
    "H": {"ok": b"order-2026-0001", "inner_space": b"a b", "edge_space": b" a", "long": b"k" * 256,
          "max": b"k" * 255, "control": b"a\tb", "high": b"\xc3\xa9", "empty": b""},
    "J": {"jsonb_created": b'{"vintage": 2020, "quantity": 5, "registry": "Verra", "project_name": "Rimba Raya", "serial_number": "VCS-1"}',
          "jsonb_retired": '{"reason": "Scope 1", "details": {"b": [1, 2.5, null], "a": "tab\\t \\"q\\" \\u001f"}, "beneficiary": "Acme Zürich"}'.encode(),
          "unicode_names": '{"\uff61": 1, "\U0001F600": 2, "e\u0301": [], "a": {}}'.encode(),
          "escapes": b'["\\u00e9", "\\/", "\\ud83d\\ude00", "\\u000A", "\\b"]',
          "numbers": b"[-0, 1.50, 1e21, 1e-7, 123456789012345, 1234567890123456, 9007199254740993]",
          "duplicate": b'{"a": 1, "a": 2}',
          "whitespace": b' \n{ "a" :\t[ 1 , { } ] }\r\n'},
    "N": {"integer": b"2023", "fraction": b"1.5", "exponent": b"2.023e3", "huge": b"18446744073709551616",
          "negative": b"-0.0", "big_exponent": b"1e308"},
}

CRLF = b"\r\n"


def req(method, target, headers=(), body=b"", version=b"HTTP/1.1"):
    lines = [method + b" " + target + b" " + version] + list(headers)
    if body and not any(h.lower().startswith(b"content-length") or h.lower().startswith(b"transfer-encoding")
                        for h in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return CRLF.join(lines) + CRLF + CRLF + body


JSON = b"Content-Type: application/json"
MANGROVE = REGISTER["readme_mangrove"]
HTTP = {
    "register": req(b"POST", b"/register", [b"Host: x", JSON, b"X-Request-Id: abc-1"], MANGROVE),
    "register_http10": req(b"POST", b"/register/", [JSON], REGISTER["readme_project"], b"HTTP/1.0"),
    "sell": req(b"POST", f"/records/{UUID}/sell".encode(), [JSON, b'If-Match: "1"'], SELL["readme"]),
    "retire_no_body": req(b"POST", f"/records/{UUID}/retire/".encode(), [b'If-Match: *']),
    "retire_body": req(b"POST", f"/records/{UUID}/retire".encode(), [JSON], RETIRE["readme"]),
    "get": req(b"GET", f"/records/{UUID}".encode(), [b"Host: x"]),
    "get_old_path": req(b"GET", f"/record/{UUID.upper()}/".encode(), []),
    "health": req(b"GET", b"/healthz", [b"Connection: close"]),
    "wrong_method": req(b"DELETE", b"/register", []),
    "bad_id": req(b"POST", b"/records/not-a-uuid/sell", [JSON], SELL["readme"]),
    "text_plain": req(b"POST", b"/register", [b"Content-Type: text/plain"], MANGROVE),
    "bad_if_match": req(b"POST", f"/records/{UUID}/sell".encode(), [JSON, b"If-Match: 1"], SELL["readme"]),
    "invalid_body": req(b"POST", b"/register", [JSON], REGISTER["invalid_fields"]),
    "invalid_utf8_body": req(b"POST", b"/register", [JSON], REGISTER["invalid_utf8"]),
    "pipelined": req(b"GET", b"/healthz", []) + req(b"POST", b"/register", [JSON], MANGROVE)
                 + req(b"POST", f"/records/{UUID}/sell".encode(), [JSON], SELL["readme"])
                 + req(b"GET", f"/records/{UUID}/".encode(), [b"Connection: close"]),
    "chunked": req(b"POST", b"/register", [JSON, b"Transfer-Encoding: chunked"],
                   b"10\r\n" + MANGROVE[:16] + b"\r\n" + format(len(MANGROVE) - 16, "x").encode() + b";ext=1\r\n"
                   + MANGROVE[16:] + b"\r\n0\r\nTrailer: x\r\n\r\n"),
    "chunked_huge_size": req(b"POST", b"/register", [JSON, b"Transfer-Encoding: chunked"],
                             b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    "over_limit_header": req(b"GET", b"/healthz", [b"X-Big: " + b"a" * 9000]),
    "over_limit_body": req(b"POST", b"/register", [JSON, b"Content-Length: 70000"], b"{}"),
    "content_length_twice": req(b"POST", b"/register", [JSON, b"Content-Length: 2", b"Content-Length: 3"], b"{}"),
    "content_length_and_chunked": req(b"POST", b"/register", [JSON, b"Content-Length: 5",
                                                               b"Transfer-Encoding: chunked"], b"0\r\n\r\n"),
    "truncated_body": req(b"POST", b"/register", [JSON, b"Content-Length: 100"], b'{"a":1}'),
    "bare_lf": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "obs_fold": b"GET /healthz HTTP/1.1\r\nX-Request-Id: a\r\n b\r\n\r\n",
    "garbage": b"\x00\xff GET\r\n\r\n",
    "absolute_target": req(b"GET", b"http://h/records/" + UUID.encode() + b"?x#y", []),
    "long_request_id": req(b"GET", b"/healthz", [b"X-Request-Id: " + b"r" * 129]),
    "register_block": req(b"POST", b"/register", [b"Host: x", JSON, b"Idempotency-Key: reg-1"], REGISTER["block"]),
    "register_verra": req(b"POST", b"/register", [b"Host: x", JSON], REGISTER["verra"]),
    "sell_partial": req(b"POST", f"/records/{UUID}/sell".encode(), [b"Host: x", JSON, b'If-Match: "1"',
                                                                    b"Idempotency-Key: a b"], SELL["partial"]),
    "retire_full": req(b"POST", f"/records/{UUID}/retire".encode(), [b"Host: x", JSON], RETIRE["full"]),
    "cancel": req(b"POST", f"/records/{UUID}/cancel".encode(), [b"Host: x", JSON, b"Idempotency-Key: c-1"],
                  CANCEL["partial"]),
    "idempotency_key_twice": req(b"POST", f"/records/{UUID}/cancel".encode(),
                                 [b"Host: x", JSON, b"Idempotency-Key: a", b"Idempotency-Key: b"], CANCEL["readme"]),
    "idempotency_key_bad": req(b"POST", b"/register", [b"Host: x", JSON, b"Idempotency-Key:  x "], MANGROVE),
    "list": req(b"GET", b"/records?holder=Acme%20Corp&status=SOLD&limit=2", [b"Host: x"]),
    "get_history": req(b"GET", f"/records/{UUID}?history_limit=10&history_after=3".encode(), [b"Host: x"]),
}


def write(directory, name, data):
    path = os.path.join(HERE, "corpus", directory)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


# Reproducers of open findings (findings/, not run by `make fuzz`): move into FIXED once fixed.
FINDINGS = {}

# Fixed findings, kept as regression seeds in corpus/api/.
FIXED = {
    # canonicalize_json took a lone surrogate escape (RapidJSON decodes it to CESU-8 bytes) and wrote bytes
    # that are not UTF-8, so its output was no longer canonical JSON. It now refuses them.
    "J_lone_surrogate_key": b'J{"reaP/rec?or\\udc00ds/?stOLtail-ficiary": "Acme Z\xc3\xbcrich"}',
    # decode_state() took issued_block_start -2^63; decide(register) then overflowed in differing_fields().
    # decode_state() now refuses an issued block that does not hold the current one.
    "G_issued_block_overflow": b"G" + STATE.replace(b'"issued_block_start":1',
                                                    b'"issued_block_start":-9223372036854775808'),
}


def main():
    for name, data in FINDINGS.items():
        path = os.path.join(HERE, "findings")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    for name, data in FIXED.items():
        write("api", name, data)
    for prefix, seeds in (("R", REGISTER), ("S", SELL), ("T", RETIRE)):  # "K" (CANCEL) is in OTHER
        for name, body in seeds.items():
            write("api", f"{prefix}_{name}", prefix.encode() + body)
    for prefix, seeds in OTHER.items():
        for name, data in seeds.items():
            write("api", f"{prefix}_{name}", prefix.encode() + data)
    for name, data in HTTP.items():
        write("http", name, b"\xff" + data)  # one read() of up to 1786 bytes
    write("http", "pipelined_small_reads", b"\x00" + HTTP["pipelined"])  # 1 byte per read()
    write("http", "chunked_small_reads", b"\x02" + HTTP["chunked"])


if __name__ == "__main__":
    main()
