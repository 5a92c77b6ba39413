#include "command/text_rules.h"

#include <cstdio>

#include <openssl/evp.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>

#include "eventstore/assert.h"

namespace ledger {

namespace {

// One of ICU's built-in normalizers (owned by ICU, valid for the life of the process).
const icu::Normalizer2& builtin_normalizer(const icu::Normalizer2* (*get)(UErrorCode&), const char* missing) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = get(status);
  LEDGER_ASSERT(U_SUCCESS(status) && n != nullptr, missing);
  return *n;
}

const icu::Normalizer2& nfc() {
  static const icu::Normalizer2& instance =
      builtin_normalizer(&icu::Normalizer2::getNFCInstance, "ICU has no NFC normalizer");
  return instance;
}

// Thread-safe for skeletons once opened (ICU: the test and skeleton functions may run concurrently on
// one checker), so one serves every thread for the life of the process.
const USpoofChecker* spoof_checker() {
  static USpoofChecker* const checker = [] {
    UErrorCode status = U_ZERO_ERROR;
    USpoofChecker* c = uspoof_open(&status);
    LEDGER_ASSERT(U_SUCCESS(status) && c != nullptr, "ICU spoof checker could not be opened");
    return c;
  }();
  return checker;
}

std::string code_point_name(UChar32 c) {
  char name[16];
  std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(c));
  return name;
}

// Why `c` may not appear in a text field, or nullptr when it may.
const char* refusal(UChar32 c) {
  switch (u_charType(c)) {
    case U_CONTROL_CHAR: return "must not contain control characters";
    case U_FORMAT_CHAR: return "must not contain invisible or format characters";
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR: return "must not contain line or paragraph separators";
    case U_PRIVATE_USE_CHAR: return "must not contain private-use characters";
    case U_SURROGATE: return "must not contain surrogate code points";
    case U_UNASSIGNED:
      return U_IS_UNICODE_NONCHAR(c) ? "must not contain noncharacters" : "must not contain unassigned code points";
    default: break;
  }
  // Variation selectors, the combining grapheme joiner, Hangul fillers: not Cf, but just as invisible.
  if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) {
    return "must not contain invisible or format characters";
  }
  return nullptr;
}

std::string to_utf8(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  return out;
}

const icu::Normalizer2& nfkc_casefold() {
  static const icu::Normalizer2& instance =
      builtin_normalizer(&icu::Normalizer2::getNFKCCasefoldInstance, "ICU has no NFKC_Casefold normalizer");
  return instance;
}

icu::UnicodeString skeleton(const icu::UnicodeString& text) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out;
  uspoof_getSkeletonUnicodeString(spoof_checker(), 0, text, out, &status);
  LEDGER_ASSERT(U_SUCCESS(status), "uspoof_getSkeleton failed");
  return out;
}

icu::UnicodeString fold(const icu::UnicodeString& text) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out = nfkc_casefold().normalize(text, status);
  LEDGER_ASSERT(U_SUCCESS(status), "NFKC_Casefold failed");
  return out;
}

// fold(skeleton(fold(skeleton(text)))): the first skeleton sees capitals ("I" looks like "l"), the fold
// (NFKC_Casefold) makes case, fullwidth and other compatibility forms meet, and the second skeleton and
// fold map what folding produced ("0" -> "O" -> "o").
icu::UnicodeString folded_skeleton(std::string_view text) {
  const icu::UnicodeString input =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  return fold(skeleton(fold(skeleton(input))));
}


}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  LEDGER_ASSERT(EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) == 1,
                "SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0F]);
  }
  return hex;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length;
    char32_t code_point;
    char32_t smallest;  // below this the sequence is overlong
    if (lead < 0x80) {
      length = 1, code_point = lead, smallest = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, code_point = lead & 0x1F, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code_point = lead & 0x0F, smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    i += length;
  }
  return true;
}

std::string normalize_text(std::string_view text, std::size_t max_chars, std::string* out) {
  if (!is_valid_utf8(text)) return "must be valid UTF-8";
  const icu::UnicodeString input =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString normalized = nfc().normalize(input, status);
  LEDGER_ASSERT(U_SUCCESS(status), "NFC normalisation failed");

  // Trim White_Space (spaces of every width, no-break spaces, line breaks, ...) at both ends.
  int32_t begin = 0;
  int32_t end = normalized.length();
  while (begin < end && u_isUWhiteSpace(normalized.char32At(begin))) begin += U16_LENGTH(normalized.char32At(begin));
  while (end > begin) {
    const int32_t last = normalized.getChar32Start(end - 1);
    if (!u_isUWhiteSpace(normalized.char32At(last))) break;
    end = last;
  }
  const icu::UnicodeString trimmed(normalized, begin, end - begin);

  std::size_t chars = 0;
  const char* first_refusal = nullptr;
  UChar32 refused = 0;
  std::size_t refused_at = 0;
  for (int32_t i = 0; i < trimmed.length();) {
    const UChar32 c = trimmed.char32At(i);
    ++chars;
    if (first_refusal == nullptr) {
      if (const char* why = refusal(c)) {
        first_refusal = why;
        refused = c;
        refused_at = chars;
      }
    }
    i += U16_LENGTH(c);
  }
  if (chars < 1 || chars > max_chars) {
    return "must be between 1 and " + std::to_string(max_chars) + " characters after trimming";
  }
  if (first_refusal != nullptr) {
    return std::string(first_refusal) + " (" + code_point_name(refused) + " at character " +
           std::to_string(refused_at) + ")";
  }
  *out = to_utf8(trimmed);
  return "";
}

std::string confusable_key(std::string_view registry, std::string_view serial_number) {
  // U+001F cannot occur in either part (control characters are refused, and skeletons map nothing to it),
  // so the join is unambiguous; the hash keeps index entries small whatever the skeletons' length.
  const std::string joined = to_utf8(folded_skeleton(registry)) + '\x1f' + to_utf8(folded_skeleton(serial_number));
  return sha256_hex(joined);
}

}  // namespace ledger
