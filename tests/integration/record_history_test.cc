// Issue 10: GET /records/{id} pages its history: history_limit (1..1000, default 100) and history_after (a
// version), with history_next to pass as the next history_after (null on the last page). A block carved 30
// times has 31 entries; paging by 10 reaches each exactly once. Bad values are 400 naming the parameter.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class RecordHistory : public LedgerFixture {
 protected:
  // Registry1/<serial>, 100 units, carved 30 times by selling one unit at a time: 31 history entries.
  std::string CarvedThirtyTimes(const std::string& serial) {
    const std::string body = json_object({{"project_name", json_string("Mangrove Restoration")},
                                          {"registry", json_string("Registry1")},
                                          {"vintage", "2023"},
                                          {"serial_number", json_string(serial)},
                                          {"block_start", "1"},
                                          {"block_end", "100"}});
    const HttpResponse reg = http("POST", "/register", body);
    if (reg.status != 201) throw std::runtime_error("register answered " + reg.body);
    const std::string id = string_member(parse_json(reg.body), "id");
    create_key("history-buyer", "holder");
    for (int i = 0; i < 30; ++i) {
      const HttpResponse r =
          http("POST", "/records/" + id + "/sell", R"({"buyer":"history-buyer","quantity":1})");
      if (r.status != 200) throw std::runtime_error("carve " + std::to_string(i) + " answered " + r.body);
    }
    return id;
  }
};

struct Page {
  std::vector<std::int64_t> versions;
  std::vector<std::string> types;
  bool next_is_null = false;
  std::int64_t next = -1;
};

// The history page of a GET /records/{id} answer.
Page PageOf(const HttpResponse& r) {
  Page page;
  const auto doc = parse_json(r.body);
  if (doc.IsObject() && doc.HasMember("history") && doc["history"].IsArray()) {
    for (const auto& entry : doc["history"].GetArray()) {
      page.versions.push_back(has_int_member(entry, "version") ? int_member(entry, "version") : -1);
      page.types.push_back(string_member(entry, "type"));
    }
  }
  if (doc.IsObject() && doc.HasMember("history_next")) {
    page.next_is_null = doc["history_next"].IsNull();
    if (has_int_member(doc, "history_next")) page.next = int_member(doc, "history_next");
  }
  return page;
}

::testing::AssertionResult Is400Naming(const HttpResponse& r, const std::string& field) {
  auto result = IsProblem(r, 400);
  if (!result) return result;
  const auto fields = error_fields(r);
  if (fields.empty() || fields[0] != field) {
    return ::testing::AssertionFailure() << "errors[0].field is not " << field << "; body: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

TEST_F(RecordHistory, PagesOfTenReachAllThirtyOneEntriesOnce) {
  const std::string id = CarvedThirtyTimes("HISTORY-PAGES");
  ASSERT_EQ(get_record_eventually(id, 31).status, 200);

  // Default: everything (31 < 100), no next page.
  const Page all = PageOf(http("GET", "/records/" + id));
  ASSERT_EQ(all.versions.size(), 31u);
  EXPECT_TRUE(all.next_is_null) << "history_next is null when there is no next page";
  EXPECT_EQ(all.types.front(), "CREATED");
  for (std::size_t i = 1; i < all.types.size(); ++i) EXPECT_EQ(all.types[i], "SPLIT") << "entry " << i;

  // Pages of 10 via history_next.
  const HttpResponse first = http("GET", "/records/" + id + "?history_limit=10");
  ASSERT_EQ(first.status, 200) << first.body;
  Page page = PageOf(first);
  ASSERT_EQ(page.versions.size(), 10u) << first.body;
  EXPECT_EQ(page.versions.front(), 1);
  EXPECT_EQ(page.next, 10) << first.body;
  std::vector<std::int64_t> seen = page.versions;
  int pages = 1;
  while (!page.next_is_null && pages < 10) {
    ASSERT_GE(page.next, 0) << "history_next is neither an integer nor null";
    const HttpResponse r =
        http("GET", "/records/" + id + "?history_limit=10&history_after=" + std::to_string(page.next));
    ASSERT_EQ(r.status, 200) << r.body;
    page = PageOf(r);
    EXPECT_LE(page.versions.size(), 10u);
    seen.insert(seen.end(), page.versions.begin(), page.versions.end());
    ++pages;
  }
  EXPECT_TRUE(page.next_is_null) << "paging ends";
  EXPECT_EQ(pages, 4) << "10 + 10 + 10 + 1";
  ASSERT_EQ(seen.size(), 31u) << "each entry exactly once";
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i + 1));

  // The record itself is the same whatever the history page.
  const auto doc = parse_json(first.body);
  EXPECT_EQ(int_member(doc, "version"), 31);
  EXPECT_EQ(int_member(doc, "quantity"), 70);
  EXPECT_EQ(int_member(doc, "children_count"), 30);
}

TEST_F(RecordHistory, HistoryAfterStartsAfterThatVersion) {
  const std::string id = CarvedThirtyTimes("HISTORY-AFTER");
  ASSERT_EQ(get_record_eventually(id, 31).status, 200);
  Page page = PageOf(http("GET", "/records/" + id + "?history_after=29&history_limit=10"));
  EXPECT_EQ(page.versions, (std::vector<std::int64_t>{30, 31}));
  EXPECT_TRUE(page.next_is_null);
  page = PageOf(http("GET", "/records/" + id + "?history_after=31"));
  EXPECT_TRUE(page.versions.empty());
  EXPECT_TRUE(page.next_is_null);
  page = PageOf(http("GET", "/records/" + id + "?history_after=0&history_limit=1"));
  EXPECT_EQ(page.versions, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(page.next, 1);
  page = PageOf(http("GET", "/records/" + id + "?history_limit=1000"));
  EXPECT_EQ(page.versions.size(), 31u);
}

TEST_F(RecordHistory, BadHistoryParametersAre400NamingThem) {
  const std::string id = register_new("HISTORY-BAD");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  for (const std::string value : {"0", "1001", "x", "-1", "1.5"}) {
    SCOPED_TRACE("history_limit=" + value);
    EXPECT_TRUE(Is400Naming(http("GET", "/records/" + id + "?history_limit=" + value), "history_limit"));
  }
  for (const std::string value : {"x", "-1", "1.5"}) {
    SCOPED_TRACE("history_after=" + value);
    EXPECT_TRUE(Is400Naming(http("GET", "/records/" + id + "?history_after=" + value), "history_after"));
  }
}

}  // namespace
}  // namespace ledger::test
