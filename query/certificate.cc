#include "query/certificate.h"

#include <optional>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ledger {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_optional(JsonWriter& w, const std::optional<std::string>& s) {
  if (s.has_value()) {
    write_string(w, *s);
  } else {
    w.Null();
  }
}

// The recorded_at of a leaf's data (the sealer's canonical JSON of the event); nullopt when it has none.
std::optional<std::string> leaf_recorded_at(const std::string& leaf_data) {
  rapidjson::Document doc;
  doc.Parse(leaf_data.c_str(), leaf_data.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  const auto it = doc.FindMember("recorded_at");
  if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// An optional text shown on the page: the escaped value, or an em dash when absent.
std::string shown(const std::optional<std::string>& text) {
  return text.has_value() && !text->empty() ? html_escape(*text) : std::string("&mdash;");
}

// One row of the page's table: the label is ours (plain text), the value already escaped.
void row(std::string& html, const char* label, const std::string& escaped_value) {
  html += "<tr><th>";
  html += label;
  html += "</th><td>";
  html += escaped_value;
  html += "</td></tr>\n";
}

// No scripts, no external resources (the CSP of the page allows inline styles only); A4 when printed.
constexpr const char* kPageStyle = R"(
  @page { size: A4; margin: 18mm 16mm; }
  * { box-sizing: border-box; }
  body { font-family: "DejaVu Serif", Georgia, serif; color: #111; background: #f4f4f0; margin: 0; }
  main { max-width: 190mm; margin: 12mm auto; background: #fff; padding: 14mm 14mm 10mm; border: 3px double #2f5d3a; }
  h1 { font-size: 26pt; margin: 0 0 2mm; color: #2f5d3a; text-align: center; letter-spacing: 0.04em; }
  .subtitle { text-align: center; margin: 0 0 8mm; font-size: 11pt; color: #444; }
  .beneficiary { text-align: center; font-size: 18pt; margin: 4mm 0 1mm; font-weight: bold; overflow-wrap: anywhere; }
  .tonnes { text-align: center; font-size: 14pt; margin: 0 0 8mm; }
  table { width: 100%; border-collapse: collapse; font-size: 10pt; margin-bottom: 6mm; }
  th { text-align: left; vertical-align: top; width: 34%; padding: 1.2mm 2mm; color: #333; font-weight: normal; }
  td { padding: 1.2mm 2mm; overflow-wrap: anywhere; }
  tr:nth-child(odd) { background: #f2f6f2; }
  h2 { font-size: 12pt; margin: 6mm 0 2mm; color: #2f5d3a; border-bottom: 1px solid #c8d6ca; }
  code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; overflow-wrap: anywhere; }
  pre { white-space: pre-wrap; background: #f7f7f7; border: 1px solid #ddd; padding: 2mm; margin: 0 0 4mm; }
  p { font-size: 10pt; line-height: 1.45; }
  @media print {
    body { background: #fff; }
    main { margin: 0; max-width: none; border: none; padding: 0; }
    tr, pre { break-inside: avoid; }
  }
)";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

CertificateOutcome build_certificate(const CreditRecord& record, const RecordProof& proof, Certificate* out) {
  CertificateOutcome outcome;
  const CreditState& state = record.state;
  if (state.status != CreditStatus::kRetired || !state.retirement.has_value()) {
    outcome.kind = CertificateOutcome::Kind::kNotRetired;
    outcome.current_status = status_name(state.status);
    outcome.detail = std::string("the credit is ") + status_name(state.status) +
                     ", not RETIRED: only a retired credit has a retirement certificate";
    return outcome;
  }
  // A stream is retired once (RETIRED is final), so its one RETIRED event is the one the certificate cites.
  const RecordProof::Event* retired = nullptr;
  for (const RecordProof::Event& event : proof.events) {
    if (event.event_type == "RETIRED") retired = &event;
  }
  if (retired == nullptr) {
    outcome.kind = CertificateOutcome::Kind::kNotYetInLog;
    outcome.detail = "the credit's RETIRED event is not in a signed checkpoint of the log yet (the log is sealed "
                     "every few hundred milliseconds); retry shortly";
    return outcome;
  }
  std::optional<std::string> recorded_at = leaf_recorded_at(retired->leaf.leaf_data);
  if (!recorded_at.has_value()) {
    outcome.kind = CertificateOutcome::Kind::kInternal;
    outcome.detail = "leaf " + std::to_string(retired->leaf.leaf_index) + " (the RETIRED event of " + record.id +
                     ") is not an event object with recorded_at";
    return outcome;
  }
  Certificate certificate;
  certificate.record_id = record.id;
  certificate.retirement = *state.retirement;
  const CreditAttributes& block = state.attributes;  // the block as it is now: its own range after any SPLIT
  certificate.quantity = block.quantity;
  certificate.registry = block.registry;
  certificate.serial_number = block.serial_number;
  certificate.project_name = block.project_name;
  certificate.block_start = block.block_start;
  certificate.block_end = block.block_end;
  certificate.vintage = block.vintage;
  certificate.retired_at = std::move(*recorded_at);
  certificate.retirement_leaf_index = retired->leaf.leaf_index;
  certificate.retirement_leaf_hash = retired->leaf.leaf_hash;
  *out = std::move(certificate);
  outcome.kind = CertificateOutcome::Kind::kOk;
  return outcome;
}

std::string certificate_json(const Certificate& c) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("record_id");
  write_string(w, c.record_id);
  w.Key("beneficiary");
  write_optional(w, c.retirement.beneficiary);
  w.Key("reason");
  write_optional(w, c.retirement.reason);
  w.Key("category");
  write_optional(w, c.retirement.category);
  w.Key("details");
  write_optional(w, c.retirement.details);
  w.Key("quantity");
  w.Int64(c.quantity);
  w.Key("registry");
  write_string(w, c.registry);
  w.Key("serial_number");
  write_string(w, c.serial_number);
  w.Key("block_start");
  w.Int64(c.block_start);
  w.Key("block_end");
  w.Int64(c.block_end);
  w.Key("vintage");
  w.Int(c.vintage);
  w.Key("project_name");
  write_string(w, c.project_name);
  w.Key("retired_at");
  write_string(w, c.retired_at);
  w.Key("retirement_leaf_index");
  w.Int64(c.retirement_leaf_index);
  w.Key("retirement_leaf_hash");
  write_string(w, merkle_base64(c.retirement_leaf_hash));
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string certificate_html(const Certificate& c, const RecordProof& proof) {
  const std::string id = html_escape(c.record_id);
  const std::string verifier_key = html_escape(proof.checkpoint.verifier_key);
  std::string html;
  html.reserve(8192);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>Retirement certificate</title>\n<style>";
  html += kPageStyle;
  html += "</style>\n</head>\n<body>\n<main>\n<h1>Retirement certificate</h1>\n";
  html += "<p class=\"subtitle\">Carbon credits permanently retired on the Carbon Ledger, provable from its signed, "
          "append-only log</p>\n";
  html += "<p class=\"beneficiary\">" + shown(c.retirement.beneficiary) + "</p>\n";
  html += "<p class=\"tonnes\">" + std::to_string(c.quantity) + (c.quantity == 1 ? " tonne" : " tonnes") +
          " CO<sub>2</sub>e retired</p>\n";
  html += "<table>\n";
  row(html, "Beneficiary", shown(c.retirement.beneficiary));
  row(html, "Reason", shown(c.retirement.reason));
  row(html, "Category", shown(c.retirement.category));
  row(html, "Details", shown(c.retirement.details));
  row(html, "Tonnes (quantity)", std::to_string(c.quantity));
  row(html, "Registry", html_escape(c.registry));
  row(html, "Serial range", html_escape(c.serial_number) + ", units " + std::to_string(c.block_start) +
                                "&ndash;" + std::to_string(c.block_end));
  row(html, "Vintage", std::to_string(c.vintage));
  row(html, "Project", html_escape(c.project_name));
  row(html, "Retired at", html_escape(c.retired_at));
  row(html, "Credit record", "<code>" + id + "</code>");
  html += "</table>\n<h2>Proof in the log</h2>\n<table>\n";
  row(html, "Leaf index of the RETIRED event", std::to_string(c.retirement_leaf_index));
  row(html, "Leaf hash (hex)", "<code>" + merkle_hex(c.retirement_leaf_hash) + "</code>");
  row(html, "Leaf hash (base64)", "<code>" + merkle_base64(c.retirement_leaf_hash) + "</code>");
  row(html, "Checkpoint tree size", std::to_string(proof.checkpoint.tree_size));
  row(html, "Checkpoint root hash (base64)", "<code>" + merkle_base64(proof.checkpoint.root_hash) + "</code>");
  row(html, "Verifier key", "<code>" + verifier_key + "</code>");
  html += "</table>\n<h2>Signed checkpoint</h2>\n<pre>" + html_escape(proof.checkpoint.note) + "</pre>\n";
  html += "<h2>How to verify</h2>\n<p>Fetch this certificate's proof bundle with an API key of the ledger and check "
          "it with the ledger's independent verifier (Python 3 and OpenSSL only): it checks the checkpoint's "
          "signature against the verifier key above, the RETIRED event's inclusion in the checkpoint's tree, and "
          "that every field of this certificate is what the logged events say.</p>\n<pre>curl -H \"Authorization: "
          "Bearer $KEY\" .../records/" +
          id + "/certificate.proof &gt; cert.json &amp;&amp; python3 tools/verify.py certificate cert.json --key '" +
          verifier_key + "'</pre>\n";
  html += "</main>\n</body>\n</html>\n";
  return html;
}

}  // namespace ledger
