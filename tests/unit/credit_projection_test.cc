// apply_event as a table of cases: each case folds a sequence of events into a record and states what must
// come out (the final record, or the step that must fail with Internal and the words its message must name).
#include "projector/credit_projection.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace ledger {
namespace {

constexpr const char* kCredit = "0b9a6d1e-7c1f-4a53-9d25-0f5d8c1e2a01";
constexpr const char* kOtherCredit = "6f1c2b3a-1111-4222-8333-944455556666";
constexpr const char* kCreatedData =
    R"({"project_name": "Kasigau Corridor", "registry": "Verra", "vintage": 2021, "quantity": 500, )"
    R"("serial_number": "VCS-1234-2021"})";

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
RecordedEvent sold(std::int64_t version) { return event("SOLD", version, R"({"buyer": "Acme Air"})"); }
RecordedEvent retired(std::int64_t version) {
  return event("RETIRED", version, R"({"beneficiary": "Acme Air", "reason": "2026 flights"})");
}

struct Case {
  const char* name;
  std::vector<RecordedEvent> events;
  // Expected outcome: fail_at < 0 means every event applies; else the index of the event that must fail.
  int fail_at = -1;
  std::vector<std::string> message_mentions = {};  // words the Internal message must contain
  const char* status = nullptr;                      // final status when all apply
  std::int64_t version = 0;
};

std::vector<Case> cases() {
  return {
      {"created_only", {created()}, -1, {}, "CREATED", 1},
      {"in_order_lifecycle", {created(), sold(2), retired(3)}, -1, {}, "RETIRED", 3},
      {"retired_without_sale", {created(), retired(2)}, -1, {}, "RETIRED", 2},
      {"duplicate_created", {created(), created(2)}, 1, {"duplicate CREATED", kCredit}},
      {"duplicate_created_same_version", {created(), created(1)}, 1, {"duplicate CREATED"}},
      {"created_not_first_version", {created(2)}, 0, {kCredit, "expected stream version 1", "got 2"}},
      {"sold_before_created", {sold(1)}, 0, {kCredit, "no record"}},
      {"gap", {created(), sold(3)}, 1, {kCredit, "expected stream version 2", "got 3"}},
      {"replay_of_applied_version", {created(), sold(2), sold(2)}, 2,
       {kCredit, "expected stream version 3", "got 2"}},
      {"older_version", {created(), sold(2), retired(1)}, 2, {"expected stream version 3", "got 1"}},
      {"unknown_type", {created(), event("TRANSFERRED", 2, R"({"to": "x"})")}, 1,
       {"unknown event type", "TRANSFERRED"}},
      {"created_missing_field", {event("CREATED", 1, R"({"project_name": "p", "registry": "r", "vintage": 2021})")},
       0, {"quantity"}},
      {"created_vintage_not_integer",
       {event("CREATED", 1,
              R"({"project_name": "p", "registry": "r", "vintage": "2021", "quantity": 1, "serial_number": "s"})")},
       0, {"vintage"}},
      {"data_not_object", {created(), event("SOLD", 2, "[1, 2]")}, 1, {"not a JSON object"}},
      {"other_stream_record", {created(), event("SOLD", 2, "{}", kOtherCredit)}, 1, {kOtherCredit, kCredit}},
  };
}

class ApplyEventTable : public ::testing::TestWithParam<Case> {};

TEST_P(ApplyEventTable, FoldsOrFailsLoudly) {
  const Case& c = GetParam();
  std::optional<CreditRecord> record;
  for (std::size_t i = 0; i < c.events.size(); ++i) {
    const std::optional<CreditRecord> before = record;
    const Status s = apply_event(c.events[i], &record);
    if (static_cast<int>(i) == c.fail_at) {
      ASSERT_TRUE(s.IsInternal()) << "step " << i << ": " << s.ToString();
      for (const std::string& word : c.message_mentions) {
        EXPECT_NE(s.message().find(word), std::string::npos) << "message '" << s.message() << "' lacks " << word;
      }
      EXPECT_EQ(record, before) << "a failed apply must leave the record untouched";
      return;
    }
    ASSERT_TRUE(s.ok()) << "step " << i << ": " << s.ToString();
  }
  ASSERT_LT(c.fail_at, 0) << "expected step " << c.fail_at << " to fail";
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->status, c.status);
  EXPECT_EQ(record->version, c.version);
  EXPECT_EQ(record->last_position, c.events.back().position);
}

INSTANTIATE_TEST_SUITE_P(Cases, ApplyEventTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ApplyEvent, CreatedFillsEveryColumn) {
  std::optional<CreditRecord> record;
  ASSERT_TRUE(apply_event(created(), &record).ok());
  EXPECT_EQ(record->id, kCredit);
  EXPECT_EQ(record->project_name, "Kasigau Corridor");
  EXPECT_EQ(record->registry, "Verra");
  EXPECT_EQ(record->vintage, 2021);
  EXPECT_EQ(record->quantity, 500);
  EXPECT_EQ(record->serial_number, "VCS-1234-2021");
  EXPECT_EQ(record->status, "CREATED");
  EXPECT_EQ(record->version, 1);
  EXPECT_EQ(record->last_position, 101);
}

TEST(ApplyEvent, HistoryHoldsEveryEventOldestFirst) {
  std::optional<CreditRecord> record;
  const std::vector<RecordedEvent> events = {created(), sold(2), retired(3)};
  for (const RecordedEvent& e : events) ASSERT_TRUE(apply_event(e, &record).ok());

  rapidjson::Document history;
  history.Parse(record->history_json.c_str());
  ASSERT_FALSE(history.HasParseError()) << record->history_json;
  ASSERT_TRUE(history.IsArray());
  ASSERT_EQ(history.Size(), events.size());
  for (rapidjson::SizeType i = 0; i < history.Size(); ++i) {
    const rapidjson::Value& entry = history[i];
    const RecordedEvent& e = events[i];
    ASSERT_TRUE(entry.IsObject());
    EXPECT_EQ(entry.MemberCount(), 4u) << "exactly version, type, recorded_at, data";
    EXPECT_EQ(entry["version"].GetInt64(), e.stream_version);
    EXPECT_EQ(std::string(entry["type"].GetString()), e.event_type);
    EXPECT_EQ(std::string(entry["recorded_at"].GetString()), e.recorded_at);
    rapidjson::Document data;
    data.Parse(e.data_json.c_str());
    EXPECT_TRUE(entry["data"] == data) << "entry " << i << " data differs from the event's";
  }
  EXPECT_EQ(std::string(history[1]["data"]["buyer"].GetString()), "Acme Air");
  EXPECT_EQ(std::string(history[2]["data"]["reason"].GetString()), "2026 flights");
}

// Records loaded back from PostgreSQL carry jsonb's own text ("[{...}, {...}]", spaces after separators);
// appending to that text must still give a valid array.
TEST(ApplyEvent, AppendsToHistoryAsPostgresPrintsIt) {
  std::optional<CreditRecord> record = CreditRecord{};
  record->id = kCredit;
  record->status = "CREATED";
  record->version = 1;
  record->history_json =
      R"([{"data": {"vintage": 2021}, "type": "CREATED", "version": 1, "recorded_at": "2026-11-25T15:29:51.123456Z"}])";
  ASSERT_TRUE(apply_event(sold(2), &record).ok());
  rapidjson::Document history;
  history.Parse(record->history_json.c_str());
  ASSERT_FALSE(history.HasParseError()) << record->history_json;
  ASSERT_EQ(history.Size(), 2u);
  EXPECT_EQ(std::string(history[1]["type"].GetString()), "SOLD");
}

// Numbers in event data keep their exact text, as jsonb stores it (1.50 must not become 1.5).
TEST(ApplyEvent, HistoryKeepsDataVerbatim) {
  std::optional<CreditRecord> record;
  ASSERT_TRUE(apply_event(created(), &record).ok());
  ASSERT_TRUE(apply_event(event("SOLD", 2, R"({"buyer": "B", "price": 1.50})"), &record).ok());
  EXPECT_NE(record->history_json.find(R"({"buyer": "B", "price": 1.50})"), std::string::npos) << record->history_json;
}

// The same events give the same record, byte for byte: what makes a rebuild equal the live projection.
TEST(ApplyEvent, Deterministic) {
  std::optional<CreditRecord> a, b;
  for (const RecordedEvent& e : {created(), sold(2), retired(3)}) {
    ASSERT_TRUE(apply_event(e, &a).ok());
    ASSERT_TRUE(apply_event(e, &b).ok());
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(encode_credit_records({&*a}), encode_credit_records({&*b}));
}

TEST(EncodeCreditRecords, OneObjectPerRecordWithHistoryAsArray) {
  std::optional<CreditRecord> record;
  ASSERT_TRUE(apply_event(created(), &record).ok());
  ASSERT_TRUE(apply_event(sold(2), &record).ok());
  rapidjson::Document rows;
  rows.Parse(encode_credit_records({&*record}).c_str());
  ASSERT_FALSE(rows.HasParseError());
  ASSERT_TRUE(rows.IsArray());
  ASSERT_EQ(rows.Size(), 1u);
  const rapidjson::Value& row = rows[0];
  EXPECT_EQ(std::string(row["id"].GetString()), kCredit);
  EXPECT_EQ(row["vintage"].GetInt(), 2021);
  EXPECT_EQ(row["quantity"].GetInt64(), 500);
  EXPECT_EQ(std::string(row["status"].GetString()), "SOLD");
  EXPECT_EQ(row["version"].GetInt64(), 2);
  EXPECT_EQ(row["last_position"].GetInt64(), 102);
  ASSERT_TRUE(row["history"].IsArray());
  EXPECT_EQ(row["history"].Size(), 2u);
  EXPECT_EQ(std::string(encode_credit_records({})), "[]");
}

}  // namespace
}  // namespace ledger
