// Tests for decoding fields of PostgreSQL's COPY text format (eventstore/event_store.h), which the replay
// reads the whole log through: a wrong escape would put a different history into the rebuilt model.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eventstore/event_store.h"

namespace ledger {
namespace {

struct CopyFieldCase {
  std::string field;     // as COPY ... TO STDOUT (FORMAT text) writes it
  bool ok;
  std::string decoded;   // when ok
};

TEST(DecodeCopyTextField, EscapesAsPostgreSqlDocumentsThem) {
  const std::vector<CopyFieldCase> cases = {
      {"", true, ""},
      {"plain text", true, "plain text"},
      {R"({"a": "x\\\"y"})", true, R"({"a": "x\"y"})"},  // JSON's \" arrives with its backslash doubled
      {R"(back\\slash)", true, R"(back\slash)"},
      {R"(tab\there)", true, "tab\there"},
      {R"(line\nbreak\r)", true, "line\nbreak\r"},
      {R"(\b\f\v)", true, "\b\f\v"},
      {R"(\101\60\7)", true, "A0\a"},     // octal, one to three digits
      {R"(\1012)", true, "A2"},           // at most three octal digits
      {R"(\x41\x4a\x7)", true, "AJ\a"},   // hex, one or two digits
      {R"(\q)", true, "q"},               // any other escaped character stands for itself
      {"caf\xC3\xA9 \xE2\x98\x83", true, "caf\xC3\xA9 \xE2\x98\x83"},  // UTF-8 passes through
      {R"(\N)", false, ""},               // NULL
      {R"(ends in \)", false, ""},        // a lone backslash
      {R"(\xZZ)", false, ""},             // \x without a hex digit
  };
  for (const CopyFieldCase& c : cases) {
    std::string out = "garbage";
    EXPECT_EQ(decode_copy_text_field(c.field, &out), c.ok) << c.field;
    if (c.ok) {
      EXPECT_EQ(out, c.decoded) << c.field;
    }
  }
}

}  // namespace
}  // namespace ledger
