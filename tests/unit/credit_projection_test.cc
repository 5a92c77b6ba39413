// apply_event as a table of cases: each case folds a sequence of events into a record and states what must
// come out (the final record, or the step that must fail with Internal and the words its message must name).
// Also the record's JSON forms (command/credit_record.h) that the projection's rows travel in.
#include "projector/credit_projection.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "command/credit_record.h"

namespace ledger {
namespace {

constexpr const char* kCredit = "0b9a6d1e-7c1f-4a53-9d25-0f5d8c1e2a01";
constexpr const char* kOtherCredit = "6f1c2b3a-1111-4222-8333-944455556666";
constexpr const char* kChild = "9982ceec-9bc9-51a2-9a74-a8e6e96c072d";
constexpr const char* kCreatedData =
    R"({"project_name": "Kasigau Corridor", "registry": "Verra", "vintage": 2021, "quantity": 500, )"
    R"("serial_number": "VCS-1234-2021", "block_start": 1, "block_end": 500, "issuer": "Issuer Co"})";
// Recorded before blocks and accounts existed.
constexpr const char* kOldCreatedData =
    R"({"project_name": "Kasigau Corridor", "registry": "Verra", "vintage": 2021, "quantity": 500, )"
    R"("serial_number": "VCS-1234-2021"})";
constexpr const char* kCarvedData =
    R"({"parent": "0b9a6d1e-7c1f-4a53-9d25-0f5d8c1e2a01", "project_name": "Kasigau Corridor", "registry": "Verra", )"
    R"("vintage": 2021, "serial_number": "VCS-1234-2021", "quantity": 10, "block_start": 1, "block_end": 10, )"
    R"("issuer": "Issuer Co", "holder": "Acme Air", "status": "SOLD"})";

RecordedEvent event(std::string type, std::int64_t version, std::string data = "{}",
                    std::string stream = kCredit) {
  RecordedEvent e;
  e.position = 100 + version;
  e.transaction_id = std::to_string(700 + version);
  e.stream_id = std::move(stream);
  e.stream_version = version;
  e.event_id = "evt-" + std::to_string(version);
  e.event_type = std::move(type);
  e.data_json = std::move(data);
  e.metadata_json = "{}";
  e.recorded_at = "2026-11-25T15:29:5" + std::to_string(version % 10) + ".123456Z";
  return e;
}

RecordedEvent created(std::int64_t version = 1) { return event("CREATED", version, kCreatedData); }
RecordedEvent sold(std::int64_t version) { return event("SOLD", version, R"({"buyer": "Acme Air", "seller": "Issuer Co"})"); }
RecordedEvent retired(std::int64_t version) {
  return event("RETIRED", version, R"({"beneficiary": "Acme Air", "reason": "2026 flights", "category": "other"})");
}
RecordedEvent cancelled(std::int64_t version) { return event("CANCELLED", version, R"({"reason": "error"})"); }
RecordedEvent split(std::int64_t version, std::int64_t start, std::int64_t end) {
  return event("SPLIT", version,
               R"({"child": ")" + std::string(kChild) + R"(", "block_start": )" + std::to_string(start) +
                   R"(, "block_end": )" + std::to_string(end) + R"(, "quantity": )" + std::to_string(end - start + 1) +
                   "}");
}
RecordedEvent carved(std::int64_t version = 1, std::string stream = kChild) {
  return event("CARVED", version, kCarvedData, std::move(stream));
}

struct Case {
  const char* name;
  std::vector<RecordedEvent> events;
  // Expected outcome: fail_at < 0 means every event applies; else the index of the event that must fail.
  int fail_at = -1;
  std::vector<std::string> message_mentions = {};  // words the Internal message must contain
  const char* status = nullptr;                      // final status when all apply
  std::int64_t version = 0;
  std::int64_t quantity = 0, block_start = 0, block_end = 0;
};

std::vector<Case> cases() {
  return {
      {"created_only", {created()}, -1, {}, "CREATED", 1, 500, 1, 500},
      {"old_created_is_one_to_quantity", {event("CREATED", 1, kOldCreatedData)}, -1, {}, "CREATED", 1, 500, 1, 500},
      {"in_order_lifecycle", {created(), sold(2), retired(3)}, -1, {}, "RETIRED", 3, 500, 1, 500},
      {"resale", {created(), sold(2), sold(3)}, -1, {}, "SOLD", 3, 500, 1, 500},
      {"retired_without_sale", {created(), retired(2)}, -1, {}, "RETIRED", 2, 500, 1, 500},
      {"cancelled", {created(), cancelled(2)}, -1, {}, "CANCELLED", 2, 500, 1, 500},
      {"split", {created(), split(2, 1, 10)}, -1, {}, "CREATED", 2, 490, 11, 500},
      {"split_twice_then_sold", {created(), split(2, 1, 10), split(3, 11, 30), sold(4)}, -1, {}, "SOLD", 4, 470, 31,
       500},
      {"split_to_the_last_unit", {created(), split(2, 1, 499)}, -1, {}, "CREATED", 2, 1, 500, 500},
      {"carved_then_retired", {carved(), event("RETIRED", 2, "{}", kChild)}, -1, {}, "RETIRED", 2, 10, 1, 10},
      {"duplicate_created", {created(), created(2)}, 1, {"second first event", kCredit}},
      {"duplicate_created_same_version", {created(), created(1)}, 1, {"second first event"}},
      {"carved_for_an_existing_block", {created(), carved(2, kCredit)}, 1, {"second first event"}},
      {"created_not_first_version", {created(2)}, 0, {kCredit, "expected stream version 1", "got 2"}},
      {"carved_not_first_version", {carved(2)}, 0, {kChild, "expected stream version 1", "got 2"}},
      {"sold_before_created", {sold(1)}, 0, {kCredit, "no record"}},
      {"split_before_created", {split(1, 1, 10)}, 0, {kCredit, "no record"}},
      {"gap", {created(), sold(3)}, 1, {kCredit, "expected stream version 2", "got 3"}},
      {"split_after_a_gap", {created(), split(3, 1, 10)}, 1, {"expected stream version 2", "got 3"}},
      {"replay_of_applied_version", {created(), sold(2), sold(2)}, 2,
       {kCredit, "expected stream version 3", "got 2"}},
      {"older_version", {created(), sold(2), retired(1)}, 2, {"expected stream version 3", "got 1"}},
      {"split_of_the_whole_block", {created(), split(2, 1, 500)}, 1, {"does not take the lowest units", "1..500"}},
      {"split_beyond_the_block", {created(), split(2, 1, 600)}, 1, {"does not take the lowest units", "1..600"}},
      // Carves take the lowest units: a SPLIT elsewhere leaves a block whose quantity does not count its range.
      {"split_not_at_the_block_start", {created(), split(2, 5, 10)}, 1, {"SPLIT of 5..10 does not take the lowest units of the block 1..500"}},
      {"split_from_a_child_block_that_is_too_small", {carved(), event("SPLIT", 2,
           R"({"child": "c", "block_start": 1, "block_end": 10, "quantity": 10})", kChild)}, 1, {"does not take the lowest units"}},
      {"split_with_quantity_0", {created(), event("SPLIT", 2, R"({"child": "c", "block_start": 1, "block_end": 0, "quantity": 0})")},
       1, {"SPLIT"}},
      {"carved_retired_status", {event("CARVED", 1, R"({"parent": "p", "project_name": "p", "registry": "r", )"
                                                    R"("vintage": 2021, "serial_number": "s", "quantity": 1, )"
                                                    R"("block_start": 1, "block_end": 1, "status": "RETIRED"})",
                                       kChild)},
       0, {"RETIRED"}},
      {"unknown_type", {created(), event("TRANSFERRED", 2, R"({"to": "x"})")}, 1,
       {"unknown credit event type", "TRANSFERRED"}},
      {"created_missing_field", {event("CREATED", 1, R"({"project_name": "p", "registry": "r", "vintage": 2021})")},
       0, {"quantity"}},
      {"created_vintage_not_integer",
       {event("CREATED", 1,
              R"({"project_name": "p", "registry": "r", "vintage": "2021", "quantity": 1, "serial_number": "s"})")},
       0, {"vintage"}},
      {"created_quantity_not_the_range",
       {event("CREATED", 1,
              R"({"project_name": "p", "registry": "r", "vintage": 2021, "quantity": 2, "serial_number": "s", )"
              R"("block_start": 5, "block_end": 5})")},
       0, {"quantity"}},
      {"data_not_object", {created(), event("SOLD", 2, "[1, 2]")}, 1, {"not a JSON object"}},
      {"other_stream_record", {created(), event("SOLD", 2, R"({"buyer": "b"})", kOtherCredit)}, 1,
       {kOtherCredit, kCredit}},
      {"empty_stream_id", {event("CREATED", 1, kCreatedData, "")}, 0, {"stream_id or recorded_at is empty"}},
  };
}

class ApplyEventTable : public ::testing::TestWithParam<Case> {};

TEST_P(ApplyEventTable, FoldsOrFailsLoudly) {
  const Case& c = GetParam();
  std::optional<CreditRecord> record;
  for (std::size_t i = 0; i < c.events.size(); ++i) {
    const std::optional<CreditRecord> before = record;
    CreditHistoryEntry entry{"untouched", 99, "X", "Y", "Z"};
    const CreditHistoryEntry entry_before = entry;
    const Status s = apply_event(c.events[i], &record, &entry);
    if (static_cast<int>(i) == c.fail_at) {
      ASSERT_TRUE(s.IsInternal()) << "step " << i << ": " << s.ToString();
      for (const std::string& word : c.message_mentions) {
        EXPECT_NE(s.message().find(word), std::string::npos) << "message '" << s.message() << "' lacks " << word;
      }
      EXPECT_EQ(record, before) << "a failed apply must leave the record untouched";
      EXPECT_EQ(entry, entry_before) << "a failed apply must leave the history entry untouched";
      return;
    }
    ASSERT_TRUE(s.ok()) << "step " << i << ": " << s.ToString();
    EXPECT_EQ(entry.version, c.events[i].stream_version);
  }
  ASSERT_LT(c.fail_at, 0) << "expected step " << c.fail_at << " to fail";
  ASSERT_TRUE(record.has_value());
  EXPECT_STREQ(status_name(record->state.status), c.status);
  EXPECT_EQ(record->state.version, c.version);
  EXPECT_EQ(record->last_position, c.events.back().position);
  EXPECT_EQ(record->state.attributes.quantity, c.quantity);
  EXPECT_EQ(record->state.attributes.block_start, c.block_start);
  EXPECT_EQ(record->state.attributes.block_end, c.block_end);
}

INSTANTIATE_TEST_SUITE_P(Cases, ApplyEventTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The record is the decider's state: the same fold as evolve() over decode_event().
TEST(ApplyEvent, RecordIsTheDecidersState) {
  const std::vector<RecordedEvent> events = {created(), split(2, 1, 10), sold(3), split(4, 11, 20)};
  std::optional<CreditRecord> record;
  CreditState state;
  for (const RecordedEvent& e : events) {
    CreditHistoryEntry entry;
    ASSERT_TRUE(apply_event(e, &record, &entry).ok());
    CreditEvent decoded;
    ASSERT_TRUE(decode_event(e.event_type, e.data_json, &decoded).ok());
    state = evolve(state, decoded);
  }
  EXPECT_EQ(record->state, state);
  EXPECT_EQ(record->id, kCredit);
  EXPECT_EQ(record->last_position, 104);
}

TEST(ApplyEvent, CreatedThenSplitFillsEveryField) {
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  ASSERT_TRUE(apply_event(created(), &record, &entry).ok());
  const CreditState& s = record->state;
  EXPECT_EQ(record->id, kCredit);
  EXPECT_EQ(s.attributes.project_name, "Kasigau Corridor");
  EXPECT_EQ(s.attributes.registry, "Verra");
  EXPECT_EQ(s.attributes.vintage, 2021);
  EXPECT_EQ(s.attributes.quantity, 500);
  EXPECT_EQ(s.attributes.serial_number, "VCS-1234-2021");
  EXPECT_EQ(s.attributes.block_start, 1);
  EXPECT_EQ(s.attributes.block_end, 500);
  EXPECT_EQ(s.status, CreditStatus::kCreated);
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.issuer, "Issuer Co");
  EXPECT_EQ(s.holder, "Issuer Co");
  EXPECT_EQ(s.parent, "");
  EXPECT_EQ(s.children_count, 0);
  EXPECT_EQ(record->last_position, 101);

  ASSERT_TRUE(apply_event(split(2, 1, 10), &record, &entry).ok());
  EXPECT_EQ(record->state.status, CreditStatus::kCreated);
  EXPECT_EQ(record->state.version, 2);
  EXPECT_EQ(record->state.attributes.quantity, 490);
  EXPECT_EQ(record->state.attributes.block_start, 11);
  EXPECT_EQ(record->state.attributes.block_end, 500);
  EXPECT_EQ(record->state.children_count, 1);
  EXPECT_EQ(record->state.holder, "Issuer Co");
  EXPECT_EQ(record->last_position, 102);
}

TEST(ApplyEvent, CarvedAsTheFirstEvent) {
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  ASSERT_TRUE(apply_event(carved(), &record, &entry).ok());
  EXPECT_EQ(record->id, kChild);
  const CreditState& s = record->state;
  EXPECT_EQ(s.status, CreditStatus::kSold);
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.parent, kCredit);
  EXPECT_EQ(s.issuer, "Issuer Co");
  EXPECT_EQ(s.holder, "Acme Air");
  EXPECT_EQ(s.attributes.quantity, 10);
  EXPECT_EQ(s.attributes.block_start, 1);
  EXPECT_EQ(s.attributes.block_end, 10);
  EXPECT_EQ(s.attributes.serial_number, "VCS-1234-2021");
  EXPECT_EQ(entry.credit_id, kChild);
  EXPECT_EQ(entry.event_type, "CARVED");
}

TEST(ApplyEvent, HistoryEntryIsTheEventAsLogged) {
  std::optional<CreditRecord> record;
  const std::vector<RecordedEvent> events = {created(), sold(2), split(3, 1, 10), retired(4)};
  for (const RecordedEvent& e : events) {
    CreditHistoryEntry entry;
    ASSERT_TRUE(apply_event(e, &record, &entry).ok());
    EXPECT_EQ(entry, (CreditHistoryEntry{kCredit, e.stream_version, e.event_type, e.recorded_at, e.data_json}));
  }
}

// Numbers and spacing in event data keep their exact text, as jsonb stores it (1.50 must not become 1.5).
TEST(ApplyEvent, HistoryKeepsDataVerbatim) {
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  ASSERT_TRUE(apply_event(created(), &record, &entry).ok());
  ASSERT_TRUE(apply_event(event("SOLD", 2, R"({"buyer": "B", "price": 1.50})"), &record, &entry).ok());
  EXPECT_EQ(entry.data_json, R"({"buyer": "B", "price": 1.50})");
  const std::string history = encode_credit_history({entry});
  EXPECT_NE(history.find(R"({"buyer": "B", "price": 1.50})"), std::string::npos) << history;
}

// The same events give the same record, byte for byte: what makes a rebuild equal the live projection.
TEST(ApplyEvent, Deterministic) {
  std::optional<CreditRecord> a, b;
  for (const RecordedEvent& e : {created(), sold(2), split(3, 1, 10), retired(4)}) {
    CreditHistoryEntry ea, eb;
    ASSERT_TRUE(apply_event(e, &a, &ea).ok());
    ASSERT_TRUE(apply_event(e, &b, &eb).ok());
    EXPECT_EQ(ea, eb);
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(encode_credit_records({&*a}), encode_credit_records({&*b}));
}

// --- The record's JSON forms ---

TEST(EncodeCreditRecords, OneObjectPerRecordWithEveryColumn) {
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  for (const RecordedEvent& e : {created(), sold(2), split(3, 1, 10), retired(4)}) {
    ASSERT_TRUE(apply_event(e, &record, &entry).ok());
  }
  std::optional<CreditRecord> child;
  ASSERT_TRUE(apply_event(carved(), &child, &entry).ok());
  rapidjson::Document rows;
  rows.Parse(encode_credit_records({&*record, &*child}).c_str());
  ASSERT_FALSE(rows.HasParseError());
  ASSERT_TRUE(rows.IsArray());
  ASSERT_EQ(rows.Size(), 2u);
  const rapidjson::Value& row = rows[0];
  EXPECT_EQ(row.MemberCount(), 17u) << "one member per column";
  EXPECT_STREQ(row["id"].GetString(), kCredit);
  EXPECT_STREQ(row["project_name"].GetString(), "Kasigau Corridor");
  EXPECT_EQ(row["vintage"].GetInt(), 2021);
  EXPECT_EQ(row["quantity"].GetInt64(), 490);
  EXPECT_STREQ(row["status"].GetString(), "RETIRED");
  EXPECT_EQ(row["version"].GetInt64(), 4);
  EXPECT_EQ(row["last_position"].GetInt64(), 104);
  EXPECT_STREQ(row["holder"].GetString(), "Acme Air");
  EXPECT_STREQ(row["issuer"].GetString(), "Issuer Co");
  EXPECT_EQ(row["block_start"].GetInt64(), 11);
  EXPECT_EQ(row["block_end"].GetInt64(), 500);
  EXPECT_TRUE(row["parent"].IsNull());
  EXPECT_EQ(row["children_count"].GetInt64(), 1);
  ASSERT_TRUE(row["retirement"].IsObject());
  EXPECT_STREQ(row["retirement"]["category"].GetString(), "other");
  EXPECT_TRUE(row["retirement"]["details"].IsNull());
  EXPECT_TRUE(row["cancellation"].IsNull());
  EXPECT_STREQ(rows[1]["parent"].GetString(), kCredit);
  EXPECT_TRUE(rows[1]["retirement"].IsNull());
  EXPECT_EQ(std::string(encode_credit_records({})), "[]");
  // Every column of kCreditRecordColumns is a member.
  std::string columns = kCreditRecordColumns;
  std::size_t begin = 0;
  int count = 0;
  while (begin < columns.size()) {
    std::size_t end = columns.find(',', begin);
    if (end == std::string::npos) end = columns.size();
    std::string name = columns.substr(begin, end - begin);
    name.erase(0, name.find_first_not_of(' '));
    EXPECT_TRUE(row.HasMember(name.c_str())) << name;
    ++count;
    begin = end + 1;
  }
  EXPECT_EQ(count, 17);
  EXPECT_EQ(kCreditRecordSelectColumns, 17);
}

TEST(EncodeCreditHistory, OneObjectPerEntryWithDataEmbedded) {
  const std::vector<CreditHistoryEntry> entries = {
      {kCredit, 1, "CREATED", "2026-11-25T15:29:51.123456Z", kCreatedData},
      {kCredit, 2, "SOLD", "2026-11-25T15:29:52.123456Z", R"({"buyer":"B"})"},
  };
  rapidjson::Document rows;
  rows.Parse(encode_credit_history(entries).c_str());
  ASSERT_FALSE(rows.HasParseError());
  ASSERT_EQ(rows.Size(), 2u);
  EXPECT_STREQ(rows[1]["credit_id"].GetString(), kCredit);
  EXPECT_EQ(rows[1]["version"].GetInt64(), 2);
  EXPECT_STREQ(rows[1]["event_type"].GetString(), "SOLD");
  EXPECT_STREQ(rows[1]["recorded_at"].GetString(), "2026-11-25T15:29:52.123456Z");
  ASSERT_TRUE(rows[1]["data"].IsObject());
  EXPECT_STREQ(rows[1]["data"]["buyer"].GetString(), "B");
  EXPECT_EQ(rows[0]["data"]["quantity"].GetInt64(), 500);
  EXPECT_EQ(encode_credit_history({}), "[]");
}

TEST(RecordFields, NullableColumns) {
  CreditRecord record;
  record.id = kCredit;
  EXPECT_EQ(record_fields(record).parent, "");
  EXPECT_EQ(record_fields(record).retirement_json, "");
  EXPECT_EQ(record_fields(record).cancellation_json, "");
  record.state.parent = kOtherCredit;
  record.state.retirement = Retirement{"B", std::nullopt, "other", std::nullopt};
  record.state.cancel_reason = "";
  const CreditRecordFields fields = record_fields(record);
  EXPECT_EQ(fields.parent, kOtherCredit);
  EXPECT_EQ(fields.retirement_json, R"({"beneficiary":"B","reason":null,"category":"other","details":null})");
  EXPECT_EQ(fields.cancellation_json, R"({"reason":""})");
}

CreditState full_state() {
  CreditState s;
  s.status = CreditStatus::kRetired;
  s.version = 4;
  s.attributes = CreditAttributes{"Project", "Registry1", "SN1234", 2023, 90, 11, 100};
  s.issuer = "Issuer Co";
  s.holder = "Acme";
  s.parent = "";
  s.children_count = 1;
  s.retirement = Retirement{"Acme", "flights", std::nullopt, "details"};
  return s;
}

TEST(CreditJson, HasExactlyTheSpecifiedMembersInOrder) {
  const std::string json = credit_json("800d4116-9d79-5774-bcc1-b5c8a8b69bcc", full_state());
  EXPECT_EQ(json,
            "{\"id\":\"800d4116-9d79-5774-bcc1-b5c8a8b69bcc\",\"project_name\":\"Project\",\"registry\":\"Registry1\","
            "\"vintage\":2023,\"quantity\":90,\"serial_number\":\"SN1234\",\"status\":\"RETIRED\",\"version\":4,"
            "\"holder\":\"Acme\",\"issuer\":\"Issuer Co\",\"block_start\":11,\"block_end\":100,\"parent\":null,"
            "\"children_count\":1,\"retirement\":{\"beneficiary\":\"Acme\",\"reason\":\"flights\",\"category\":null,"
            "\"details\":\"details\"},\"cancellation\":null}");
}

TEST(CreditJson, ChildCancelledAndExtraMembers) {
  CreditState s = full_state();
  s.status = CreditStatus::kCancelled;
  s.retirement.reset();
  s.cancel_reason = "issued in error";
  s.parent = kCredit;
  rapidjson::Document doc;
  doc.Parse(credit_json(kChild, s, "\"history\":[],\"history_next\":null").c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(doc.MemberCount(), 18u);
  EXPECT_STREQ(doc["parent"].GetString(), kCredit);
  EXPECT_TRUE(doc["retirement"].IsNull());
  ASSERT_TRUE(doc["cancellation"].IsObject());
  EXPECT_STREQ(doc["cancellation"]["reason"].GetString(), "issued in error");
  ASSERT_TRUE(doc["history"].IsArray());
  EXPECT_TRUE(doc["history_next"].IsNull());
}

}  // namespace
}  // namespace ledger
