#include "eventstore/binary_copy.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include <libpq-fe.h>

#include "eventstore/database.h"

namespace ledger {
namespace {

// "PGCOPY\n\377\r\n\0", then a 32-bit flags field and a 32-bit header extension length.
constexpr char kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

std::uint32_t load_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | std::uint32_t{u[3]};
}

}  // namespace

struct BinaryCopyReader::Session {
  PGconn* conn = nullptr;
  std::mutex cancel_mutex;
  PGcancel* cancel = nullptr;  // under cancel_mutex
  char* message = nullptr;     // the current CopyData message (PQfreemem'd)
  int message_size = 0;
  int offset = 0;
  bool header_read = false;
  bool done = false;

  ~Session() {
    if (message != nullptr) PQfreemem(message);
    {
      std::lock_guard<std::mutex> lock(cancel_mutex);
      if (cancel != nullptr) PQfreeCancel(cancel);
      cancel = nullptr;
    }
    // Ending a session mid-COPY: the server notices the closed socket and stops.
    if (conn != nullptr) PQfinish(conn);
  }
  Status error(const std::string& what) const { return Status::Unavailable(what + ": " + single_line(PQerrorMessage(conn))); }
};

BinaryCopyReader::BinaryCopyReader(std::unique_ptr<Session> session) : session_(std::move(session)) {}
BinaryCopyReader::~BinaryCopyReader() = default;

Status BinaryCopyReader::open(const std::string& url, int connect_timeout_s, const std::string& setup_sql,
                              const std::string& copy_sql, std::unique_ptr<BinaryCopyReader>* out) {
  auto s = std::make_unique<Session>();
  // connect_timeout first, so that one in the URL (expanded from dbname, processed later) wins.
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* keywords[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), url.c_str(), nullptr};
  s->conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (s->conn == nullptr) return Status::Unavailable("connecting: out of memory");
  if (PQstatus(s->conn) != CONNECTION_OK) return s->error("connecting");
  {
    std::lock_guard<std::mutex> lock(s->cancel_mutex);
    s->cancel = PQgetCancel(s->conn);
  }
  // Text in binary COPY is sent in the client encoding: the caller's bytes are UTF-8 whatever the environment.
  for (const std::string& sql : {std::string("SET client_encoding = 'UTF8'"), setup_sql}) {
    PGresult* r = PQexec(s->conn, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) return s->error("preparing the COPY");
  }
  PGresult* r = PQexec(s->conn, copy_sql.c_str());
  const bool copying = PQresultStatus(r) == PGRES_COPY_OUT;
  PQclear(r);
  if (!copying) return s->error("starting the COPY");
  *out = std::unique_ptr<BinaryCopyReader>(new BinaryCopyReader(std::move(s)));
  return Status::Ok();
}

void BinaryCopyReader::cancel() {
  std::lock_guard<std::mutex> lock(session_->cancel_mutex);
  if (session_->cancel == nullptr) return;
  char buffer[256];
  PQcancel(session_->cancel, buffer, sizeof buffer);
}

Status BinaryCopyReader::next_row(BinaryCopyField* fields, std::size_t n, bool* got_row) {
  Session& s = *session_;
  *got_row = false;
  if (s.done) return Status::Ok();
  auto bad_size = [] { return Status::Unavailable("a COPY row over " + std::to_string(kBinaryCopyRowBytesMax) + " bytes"); };
  if (s.offset == s.message_size) {
    if (s.message != nullptr) PQfreemem(s.message);
    s.message = nullptr;
    s.message_size = s.offset = 0;
    const int size = PQgetCopyData(s.conn, &s.message, /*async=*/0);
    if (size == -2) return s.error("reading the COPY");
    if (size == -1) return Status::Unavailable("the COPY ended without its trailer");
    if (size <= 0) return Status::Internal("the COPY went asynchronous");
    s.message_size = size;
    if (static_cast<std::size_t>(size) > kBinaryCopyRowBytesMax) return bad_size();
  }
  const char* p = s.message + s.offset;
  std::size_t left = static_cast<std::size_t>(s.message_size - s.offset);
  auto bad = [](const char* what) { return Status::Unavailable(std::string("not the binary COPY format: ") + what); };
  if (!s.header_read) {
    if (left < sizeof kSignature + 8 || std::memcmp(p, kSignature, sizeof kSignature) != 0) return bad("no signature");
    const std::uint32_t extension = load_be32(p + sizeof kSignature + 4);
    if (extension > left - sizeof kSignature - 8) return bad("a header extension past the message");
    p += sizeof kSignature + 8 + extension;
    left -= sizeof kSignature + 8 + extension;
    s.header_read = true;
  }
  // One tuple: a 16-bit field count (-1: the trailer), then per field a 32-bit length (-1: NULL) and its
  // bytes. The server sends whole tuples per message.
  if (left < 2) return bad("a tuple without its field count");
  const auto count = static_cast<std::int16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
  p += 2;
  left -= 2;
  if (count == -1) {
    s.done = true;
    // The end of the COPY, then its command result.
    char* extra = nullptr;
    if (PQgetCopyData(s.conn, &extra, 0) != -1) {
      if (extra != nullptr) PQfreemem(extra);
      return bad("data after the trailer");
    }
    bool ok = true;
    while (PGresult* r = PQgetResult(s.conn)) {
      ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok) return s.error("finishing the COPY");
    return Status::Ok();
  }
  if (count < 0 || static_cast<std::size_t>(count) != n) return bad("a tuple with another number of fields");
  for (std::size_t i = 0; i < n; ++i) {
    if (left < 4) return bad("a field without its length");
    const auto length = static_cast<std::int32_t>(load_be32(p));
    p += 4;
    left -= 4;
    if (length == -1) {
      fields[i] = BinaryCopyField{std::string_view(), true};
      continue;
    }
    if (length < 0 || static_cast<std::size_t>(length) > left) return bad("a field past the message");
    fields[i] = BinaryCopyField{std::string_view(p, static_cast<std::size_t>(length)), false};
    p += length;
    left -= static_cast<std::size_t>(length);
  }
  s.offset = static_cast<int>(p - s.message);
  *got_row = true;
  return Status::Ok();
}

bool binary_copy_int64(std::string_view bytes, std::int64_t* out) {
  if (bytes.size() != 8) return false;
  const std::uint64_t v = (std::uint64_t{load_be32(bytes.data())} << 32) | load_be32(bytes.data() + 4);
  *out = static_cast<std::int64_t>(v);
  return true;
}

bool binary_copy_int32(std::string_view bytes, std::int32_t* out) {
  if (bytes.size() != 4) return false;
  *out = static_cast<std::int32_t>(load_be32(bytes.data()));
  return true;
}

bool binary_copy_uuid_text(std::string_view bytes, char (&out)[kUuidTextSize]) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (bytes.size() != 16) return false;
  std::size_t o = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[o++] = kHex[b >> 4];
    out[o++] = kHex[b & 15];
  }
  return true;
}

bool binary_copy_timestamp_rfc3339(std::string_view bytes, char (&out)[kRfc3339MicrosSize]) {
  std::int64_t us = 0;
  if (!binary_copy_int64(bytes, &us)) return false;
  constexpr std::int64_t kMicrosPerDay = 86'400'000'000;
  constexpr std::int64_t kDays1970To2000 = 10'957;
  // Floor division: a time before 2000 is a negative count.
  std::int64_t days = us / kMicrosPerDay, in_day = us % kMicrosPerDay;
  if (in_day < 0) {
    in_day += kMicrosPerDay;
    --days;
  }
  // |days| below 2^31 keeps the calendar arithmetic in range (the infinities are far outside it).
  if (days < -(std::int64_t{1} << 31) || days > (std::int64_t{1} << 31)) return false;
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days + kDays1970To2000}}};
  const int year = static_cast<int>(date.year());
  if (year < 1 || year > 9999) return false;
  const auto put = [&](std::size_t at, std::int64_t value, int digits) {
    for (int k = digits - 1; k >= 0; --k) {
      out[at + static_cast<std::size_t>(k)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  const std::int64_t seconds = in_day / 1'000'000;
  put(0, year, 4);
  out[4] = '-';
  put(5, static_cast<unsigned>(date.month()), 2);
  out[7] = '-';
  put(8, static_cast<unsigned>(date.day()), 2);
  out[10] = 'T';
  put(11, seconds / 3600, 2);
  out[13] = ':';
  put(14, seconds / 60 % 60, 2);
  out[16] = ':';
  put(17, seconds % 60, 2);
  out[19] = '.';
  put(20, in_day % 1'000'000, 6);
  out[26] = 'Z';
  return true;
}

}  // namespace ledger
