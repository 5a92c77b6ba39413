// Tests for deterministic credit ids (command/credit_id.h) and the UUID helpers they rest on
// (eventstore/uuid.h).
#include "command/credit_id.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eventstore/uuid.h"

namespace ledger {
namespace {

struct CreditIdVector {
  std::string registry;
  std::string serial_number;
  std::string id;
};

// The reference vectors, shared with other implementations. Never change these.
const CreditIdVector kReferenceVectors[] = {
    {"Registry1", "SN1234", "800d4116-9d79-5774-bcc1-b5c8a8b69bcc"},
    {"  VERRA ", "VCS-1234-2023-001", "0c6fa10c-6dab-5174-a798-a0a62ecfdeda"},
    {"Gold Standard", "GS1-1-IN-GS2345-12-2021-21093-0-100", "d5195ae4-a444-59f1-8a5b-431f654cd86f"},
    {"Verra", "A\"B\\C", "b546c373-655e-5b2c-9336-246b8b071281"},
    {"Isom\xC3\xA9tric", "\xC3\x9F-1", "8cfcd324-f380-5892-b8e1-42c8eaba0abe"},
};

TEST(CreditIdTest, ReferenceVectors) {
  for (const CreditIdVector& v : kReferenceVectors) {
    EXPECT_EQ(credit_id(v.registry, v.serial_number), v.id) << v.registry << " / " << v.serial_number;
  }
}

// More ids computed with Python's uuid.uuid5 + json.dumps(ensure_ascii=False, separators=(",", ":")),
// covering the JSON escaping of control characters and characters outside the BMP.
TEST(CreditIdTest, MatchesPythonJsonEscaping) {
  const CreditIdVector vectors[] = {
      // Control characters: short escapes where JSON has them, else lowercase \u00xx; DEL and '/' as is.
      {"A\x01\x1f" "B", "x\ny\tz\x7f\b\f\r/", "99bc3c9b-3db7-5939-a978-ea26f2317941"},
      {"\xC3\xA9", "\xF0\x9F\x98\x80", "cee9ac03-7976-5110-a449-b86bf37d6314"},
      {"Registry1", "sn1234", "9260f53c-cd46-55be-bfcd-1ad18237edff"},
  };
  for (const CreditIdVector& v : vectors) {
    EXPECT_EQ(credit_id(v.registry, v.serial_number), v.id) << v.serial_number;
  }
}

struct SameIdCase {
  const char* name;
  std::string registry_a, serial_a, registry_b, serial_b;
  bool same;
};

TEST(CreditIdTest, TrimmingAndCase) {
  const SameIdCase cases[] = {
      {"registry ASCII case ignored", "Registry1", "SN1234", "REGISTRY1", "SN1234", true},
      {"registry spaces and tabs trimmed", "Registry1", "SN1234", " \tregistry1\t ", "SN1234", true},
      {"serial spaces and tabs trimmed", "Registry1", "SN1234", "Registry1", "\t SN1234  ", true},
      {"inner spaces kept", "Gold Standard", "S", "GoldStandard", "S", false},
      {"serial case matters", "Registry1", "SN1234", "Registry1", "sn1234", false},
      {"newline is not trimmed", "Registry1", "SN1234", "Registry1\n", "SN1234", false},
      {"non-ASCII letters not lower-cased", "Isom\xC3\xA9tric", "S", "ISOM\xC3\x89TRIC", "S", false},
      {"ASCII around non-ASCII lower-cased", "Isom\xC3\xA9tric", "S", "ISOM\xC3\xA9TRIC", "S", true},
      {"fields do not run together", "ab", "c", "a", "bc", false},
  };
  for (const SameIdCase& c : cases) {
    EXPECT_EQ(credit_id(c.registry_a, c.serial_a) == credit_id(c.registry_b, c.serial_b), c.same) << c.name;
  }
}

TEST(CreditIdTest, IsVersion5LowercaseUuid) {
  const std::string id = credit_id("Verra", "VCS-1");
  std::string canonical;
  ASSERT_TRUE(parse_uuid(id, &canonical));
  EXPECT_EQ(canonical, id);
  EXPECT_EQ(id[14], '5');
}

TEST(TrimSpacesAndTabsTest, Table) {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"", ""},
      {"abc", "abc"},
      {"  abc  ", "abc"},
      {"\t abc \t", "abc"},
      {"a b\tc", "a b\tc"},
      {" \t \t", ""},
      {"\nabc\r", "\nabc\r"},
      {"\xC2\xA0" "abc", "\xC2\xA0" "abc"},  // NO-BREAK SPACE is not trimmed
      {std::string("\0a\0", 3), std::string("\0a\0", 3)},
  };
  for (const Case& c : cases) EXPECT_EQ(trim_spaces_and_tabs(c.in), c.out) << "[" << c.in << "]";
}

TEST(ParseUuidTest, Table) {
  struct Case {
    std::string text;
    bool ok;
    std::string canonical;
  };
  const Case cases[] = {
      {"d64721fe-7df4-432a-b53f-171ef1cf05ff", true, "d64721fe-7df4-432a-b53f-171ef1cf05ff"},
      {"D64721FE-7DF4-432A-B53F-171EF1CF05FF", true, "d64721fe-7df4-432a-b53f-171ef1cf05ff"},
      {"00000000-0000-0000-0000-000000000000", true, "00000000-0000-0000-0000-000000000000"},
      {"", false, ""},
      {"d64721fe7df4432ab53f171ef1cf05ff", false, ""},
      {"{d64721fe-7df4-432a-b53f-171ef1cf05ff}", false, ""},
      {"d64721fe-7df4-432a-b53f-171ef1cf05f", false, ""},
      {"d64721fe-7df4-432a-b53f-171ef1cf05fff", false, ""},
      {"d64721fe-7df4-432a-b53f-171ef1cf05fg", false, ""},
      {"d64721fe-7df4-432a-b53f_171ef1cf05ff", false, ""},
      {"d64721f-e7df4-432a-b53f-171ef1cf05ff", false, ""},
      {" d64721fe-7df4-432a-b53f-171ef1cf05f", false, ""},
      {"urn:uuid:d64721fe-7df4-432a-b53f-171ef1cf05ff", false, ""},
  };
  for (const Case& c : cases) {
    std::string canonical = "untouched";
    EXPECT_EQ(parse_uuid(c.text, &canonical), c.ok) << c.text;
    EXPECT_EQ(canonical, c.ok ? c.canonical : "untouched") << c.text;
  }
  EXPECT_TRUE(parse_uuid("d64721fe-7df4-432a-b53f-171ef1cf05ff", nullptr));
}

TEST(UuidV5Test, MatchesPythonAndIgnoresNamespaceCase) {
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
  EXPECT_EQ(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  EXPECT_EQ(uuid_v5("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

TEST(UuidV5Test, InvalidNamespaceGivesEmptyString) {
  EXPECT_EQ(uuid_v5("not-a-uuid", "python.org"), "");
  EXPECT_EQ(uuid_v5("", ""), "");
}

TEST(NewUuidV4Test, IsCanonicalVersion4) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = new_uuid_v4();
    std::string canonical;
    ASSERT_TRUE(parse_uuid(id, &canonical)) << id;
    EXPECT_EQ(canonical, id);
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // RFC 4122 variant
  }
}

TEST(NewUuidV4Test, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(new_uuid_v4());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& ids : made) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace ledger
