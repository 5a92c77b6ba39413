// Tests for the text-field rules and confusable keys (command/text_rules.h): every class of invisible or
// meaningless character is refused, every White_Space trimmed, NFC applied, and lookalikes meet.
#include "command/text_rules.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"

namespace ledger {
namespace {

std::string normalized(const std::string& text, std::size_t max_chars = 200) {
  std::string out;
  const std::string problem = normalize_text(text, max_chars, &out);
  return problem.empty() ? out : "ERROR: " + problem;
}

TEST(TextRulesTest, TrimsEveryWhiteSpaceCharacter) {
  const char* const spaces[] = {" ", "\t", "\n", "\r", "\v", "\f", "\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80",
                                "\xE2\x80\x80", "\xE2\x80\x83", "\xE2\x80\x8A", "\xE2\x80\xAF", "\xE2\x81\x9F",
                                "\xE3\x80\x80", "\xE2\x80\xA8", "\xE2\x80\xA9"};
  for (const char* space : spaces) {
    SCOPED_TRACE(space);
    EXPECT_EQ(normalized(std::string(space) + "Verra" + space + space), "Verra");
  }
}

TEST(TextRulesTest, AppliesNfc) {
  EXPECT_EQ(normalized("Isome\xCC\x81tric"), "Isom\xC3\xA9tric");  // e + combining acute -> é
  EXPECT_EQ(normalized("\xE2\x84\xAB"), "\xC3\x85");                 // ANGSTROM SIGN -> Å
  // The same credit whichever form the registrant's keyboard produced.
  EXPECT_EQ(credit_id(normalized("Isome\xCC\x81tric"), "S"), credit_id("Isom\xC3\xA9tric", "S"));
}

TEST(TextRulesTest, RefusesInvisibleAndMeaninglessCharactersInside) {
  struct Case {
    const char* name;
    std::string character;
    const char* phrase;
  };
  const Case cases[] = {
      {"zero-width space", "\xE2\x80\x8B", "format"},
      {"zero-width joiner", "\xE2\x80\x8D", "format"},
      {"word joiner", "\xE2\x81\xA0", "format"},
      {"right-to-left override", "\xE2\x80\xAE", "format"},
      {"left-to-right mark", "\xE2\x80\x8E", "format"},
      {"right-to-left isolate", "\xE2\x81\xA7", "format"},
      {"byte order mark", "\xEF\xBB\xBF", "format"},
      {"soft hyphen", "\xC2\xAD", "format"},
      {"Mongolian vowel separator", "\xE1\xA0\x8E", "format"},
      {"tag character", "\xF3\xA0\x80\x81", "format"},
      {"combining grapheme joiner", "\xCD\x8F", "format"},
      {"variation selector 16", "\xEF\xB8\x8F", "format"},
      {"Hangul filler", "\xE3\x85\xA4", "format"},
      {"line separator", "\xE2\x80\xA8", "separator"},
      {"paragraph separator", "\xE2\x80\xA9", "separator"},
      {"private use (BMP)", "\xEE\x80\x80", "private-use"},
      {"private use (plane 15)", "\xF3\xB0\x80\x80", "private-use"},
      {"unassigned", "\xF0\x9F\xAB\xBF", "unassigned"},  // U+1FAFF
      {"noncharacter U+FDD0", "\xEF\xB7\x90", "noncharacter"},
      {"noncharacter U+FFFE", "\xEF\xBF\xBE", "noncharacter"},
      {"noncharacter U+10FFFF", "\xF4\x8F\xBF\xBF", "noncharacter"},
      {"NUL", std::string(1, '\0'), "control"},
      {"DEL", "\x7F", "control"},
      {"C1 control", "\xC2\x9B", "control"},
      {"inner tab", "\t", "control"},
      {"inner newline", "\n", "control"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string result = normalized("Ver" + c.character + "ra");
    EXPECT_EQ(result.rfind("ERROR: ", 0), 0u) << result;
    EXPECT_NE(result.find(c.phrase), std::string::npos) << result;
    EXPECT_NE(result.find("U+"), std::string::npos) << "names the code point: " << result;
  }
  // At the ends too, where trimming does not reach them (they are not White_Space).
  EXPECT_EQ(normalized("Verra\xE2\x80\x8B").rfind("ERROR: ", 0), 0u);
  EXPECT_EQ(normalized("\xEF\xBB\xBFVerra").rfind("ERROR: ", 0), 0u);
}

TEST(TextRulesTest, KeepsOrdinaryText) {
  for (const std::string text : {"Verra", "Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-110-5463",
                                 "\xE4\xB8\xAD\xE5\x9B\xBD\xE7\xA2\xB3\xE4\xB8\xAD\xE5\x92\x8C", "S\xC3\xA3o Paulo",
                                 "Caf\xC3\xA9 \xF0\x9F\x8C\xB3", "A\"B\\C", "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9"}) {
    EXPECT_EQ(normalized(text), text);
  }
}

TEST(TextRulesTest, CountsCodePointsAfterTrimming) {
  EXPECT_EQ(normalized(std::string(200, 'a')), std::string(200, 'a'));
  EXPECT_EQ(normalized("  " + std::string(200, 'a') + "\xC2\xA0"), std::string(200, 'a'));
  EXPECT_EQ(normalized(std::string(201, 'a')).rfind("ERROR: must be between 1 and 200", 0), 0u);
  EXPECT_EQ(normalized("\xC2\xA0\xE2\x80\x83 ").rfind("ERROR: must be between 1 and 200", 0), 0u);
  EXPECT_EQ(normalized("").rfind("ERROR: must be between", 0), 0u);
  EXPECT_EQ(normalized("\xC3\xA9", 1), "\xC3\xA9");
  EXPECT_EQ(normalized("\xFF"), "ERROR: must be valid UTF-8");
}

TEST(TextRulesTest, LookalikesShareAConfusableKey) {
  struct Case {
    const char* name;
    std::string registry_a, serial_a, registry_b, serial_b;
  };
  const Case twins[] = {
      {"Cyrillic a in the registry", "Verra", "VCS-1", "Verr\xD0\xB0", "VCS-1"},
      {"Cyrillic letters in the serial", "Verra", "VCS-1", "Verra", "V\xD0\xA1S-1"},
      {"digit zero for letter O", "Verra", "VCS-O01", "Verra", "VCS-001"},
      {"lower-case letter l for digit one", "Verra", "SN-1", "Verra", "SN-l"},
      {"case differs", "Verra", "vcs-0001", "VERRA", "VCS-0001"},
      {"zero for o under case folding", "Verra", "sn-o", "Verra", "SN-0"},
      {"Greek omicron", "Verra", "SN-O", "Verra", "SN-\xCE\x9F"},
      {"fullwidth letters", "Verra", "SN1", "Verra", "\xEF\xBC\xB3\xEF\xBC\xAE\xEF\xBC\x91"},
      {"em space for space", "Gold Standard", "S", "Gold\xE2\x80\x83Standard", "S"},
      {"rn for m", "Verra", "m-1", "Verra", "rn-1"},
      {"capital I for digit one", "Verra", "SN-O1", "Verra", "SN-OI"},
      {"capital I for lower-case l", "Verra", "SN-Ol", "Verra", "sn-0I"},
      {"Cyrillic DZE for S", "Verra", "SN-1", "Verra", "\xD0\x85N-1"},
      {"fullwidth digits and letters", "Verra", "VCS-2021", "Verra", "\xEF\xBC\xB6" "CS-\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x91"},
  };
  for (const Case& c : twins) {
    EXPECT_EQ(confusable_key(c.registry_a, c.serial_a), confusable_key(c.registry_b, c.serial_b)) << c.name;
  }
  const Case distinct[] = {
      {"other serial", "Verra", "VCS-1", "Verra", "VCS-2"},
      {"other registry", "Verra", "VCS-1", "Gold Standard", "VCS-1"},
      {"fields do not run together", "ab", "c", "a", "bc"},
      {"real Verra serials one unit apart", "Verra",
       "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1", "Verra",
       "19385-941467007-941467432-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1"},
  };
  for (const Case& c : distinct) {
    EXPECT_NE(confusable_key(c.registry_a, c.serial_a), confusable_key(c.registry_b, c.serial_b)) << c.name;
  }
  EXPECT_EQ(confusable_key("Verra", "VCS-1").size(), 64u);
}

}  // namespace
}  // namespace ledger
