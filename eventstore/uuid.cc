#include "eventstore/uuid.h"

#include <cstddef>
#include <cstdint>

#include <boost/uuid/name_generator_sha1.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>

namespace ledger {

namespace {

constexpr std::size_t kUuidTextLength = 36;

bool is_hyphen_position(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

// -1 when c is not a hex digit.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hand-written rather than boost::uuids::string_generator, which throws on bad input and also accepts
// forms (braces, no hyphens) that are not canonical text.
bool parse_uuid_bytes(std::string_view text, boost::uuids::uuid* out) {
  if (text.size() != kUuidTextLength) return false;
  std::size_t byte = 0;
  int high_nibble = -1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_hyphen_position(i)) {
      if (text[i] != '-') return false;
      continue;
    }
    const int v = hex_value(text[i]);
    if (v < 0) return false;
    if (high_nibble < 0) {
      high_nibble = v;
    } else {
      out->data[byte++] = static_cast<std::uint8_t>((high_nibble << 4) | v);
      high_nibble = -1;
    }
  }
  return true;
}

}  // namespace

bool parse_uuid(std::string_view text, std::string* canonical) {
  boost::uuids::uuid u{};
  if (!parse_uuid_bytes(text, &u)) return false;
  if (canonical != nullptr) *canonical = boost::uuids::to_string(u);  // to_string writes lowercase
  return true;
}

std::string new_uuid_v4() {
  // A generator is not safe to share between threads and is costly to seed, so each thread keeps one.
  // boost::uuids::random_generator asks the kernel (getrandom) for every id, a system call per request;
  // a Mersenne Twister seeded once per thread from it gives ids as unique without that.
  thread_local boost::uuids::random_generator_mt19937 generator;
  return boost::uuids::to_string(generator());
}

std::string uuid_v5(std::string_view namespace_uuid, std::string_view name) {
  boost::uuids::uuid ns{};
  if (!parse_uuid_bytes(namespace_uuid, &ns)) return std::string();
  const boost::uuids::name_generator_sha1 generator(ns);
  return boost::uuids::to_string(generator(name.data(), name.size()));
}

}  // namespace ledger
