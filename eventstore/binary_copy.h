// BinaryCopyReader: reads the rows of a `COPY (...) TO STDOUT (FORMAT binary)` on a libpq session of its own.
// For bulk reads where PostgreSQL's text output is the cost: in binary, an integer, uuid or timestamp is sent
// as its bytes (no formatting on the server, no parsing here) and text needs no escaping. libpqxx 6.4 has no
// binary COPY, hence libpq directly. One reader per thread; cancel() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eventstore/status.h"

namespace ledger {

// Bytes a single row may have (a bound on what one CopyData message may make us hold).
inline constexpr std::size_t kBinaryCopyRowBytesMax = std::size_t{256} << 20;

struct BinaryCopyField {
  std::string_view bytes;  // valid until the next next_row()
  bool is_null = false;
};

class BinaryCopyReader {
 public:
  // Connects to `url` (connect_timeout_s unless the URL says otherwise), runs `setup_sql` (one or more
  // statements, e.g. BEGIN ...; SET TRANSACTION SNAPSHOT ...), then starts `copy_sql`, a COPY ... TO STDOUT
  // (FORMAT binary).
  static Status open(const std::string& url, int connect_timeout_s, const std::string& setup_sql,
                     const std::string& copy_sql, std::unique_ptr<BinaryCopyReader>* out);
  ~BinaryCopyReader();
  BinaryCopyReader(const BinaryCopyReader&) = delete;
  BinaryCopyReader& operator=(const BinaryCopyReader&) = delete;

  // The next row's fields into fields[0, n): *got_row false at the end of the COPY (which then also checked
  // that it completed). A row with another number of fields, or bytes that are not the binary COPY format,
  // is an error.
  Status next_row(BinaryCopyField* fields, std::size_t n, bool* got_row);
  // Asks the server to stop the COPY (next_row then fails). Thread-safe.
  void cancel();

 private:
  struct Session;
  explicit BinaryCopyReader(std::unique_ptr<Session> session);
  std::unique_ptr<Session> session_;
};

// Big-endian integers as binary COPY sends them; false unless `bytes` has exactly the width.
bool binary_copy_int64(std::string_view bytes, std::int64_t* out);
bool binary_copy_int32(std::string_view bytes, std::int32_t* out);
// A uuid's 16 bytes as uuid_out writes them: 36 characters, lowercase hex, 8-4-4-4-12.
inline constexpr std::size_t kUuidTextSize = 36;
bool binary_copy_uuid_text(std::string_view bytes, char (&out)[kUuidTextSize]);
// A timestamptz (microseconds since 2000-01-01 00:00:00 UTC) as rfc3339_utc_sql (database.h) writes it:
// 2026-12-01T21:29:23.123456Z. False for years outside 1..9999 (and the infinities), which that format does
// not cover.
inline constexpr std::size_t kRfc3339MicrosSize = 27;
bool binary_copy_timestamp_rfc3339(std::string_view bytes, char (&out)[kRfc3339MicrosSize]);

}  // namespace ledger
