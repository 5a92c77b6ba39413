// libFuzzer target for the HTTP front door: raw bytes from a client, read with Beast exactly as
// server/http_server.cc does (one flat_buffer per connection, a fresh request_parser<string_body> per
// request with body_limit 64 KiB and header_limit 8 KiB, pipelined requests read from the same buffer,
// stop after an error or a request without keep-alive), then for each request that parses: the request
// id, route matching, method check, query parameters (GET), Idempotency-Key, Content-Type check, If-Match
// and the body parsers (register, sell, retire, cancel), with the invariant checks of fuzz_checks.h. The
// only Beast translation unit of the fuzz targets.
//
// Input: byte 0 sets how many bytes each read() from the "socket" returns (1 + byte*7, so a request
// also arrives split at awkward places); the rest is what the client sends, followed by EOF.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "tests/fuzz/fuzz_checks.h"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

using namespace ledger;
using namespace ledger::fuzz;

namespace {

constexpr std::uint64_t kBodyLimit = 64 * 1024;   // ServerOptions::body_limit_bytes
constexpr std::uint32_t kHeaderLimit = 8 * 1024;  // ServerOptions::header_limit_bytes
constexpr int kMaxRequestsPerInput = 64;

// A SyncReadStream over the fuzz input: at most `chunk` bytes per read, then EOF.
class MemoryStream {
 public:
  MemoryStream(std::string_view data, std::size_t chunk) : data_(data), chunk_(chunk) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    if (data_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    std::size_t budget = std::min(chunk_, data_.size());
    std::size_t copied = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers) && budget > 0;
         ++it) {
      const net::mutable_buffer b = *it;
      const std::size_t n = std::min(budget, b.size());
      std::memcpy(b.data(), data_.data() + copied, n);
      copied += n;
      budget -= n;
    }
    data_.remove_prefix(copied);
    return copied;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  std::size_t chunk_;
};

static_assert(beast::is_sync_read_stream<MemoryStream>::value);

// What http_server.cc's handle() / handle_command() do with a request before touching the database.
void handle(const http::request<http::string_body>& req) {
  check_request_id(req["X-Request-Id"]);
  RequestHead head;
  head.version = req.version();
  for (std::size_t i = 0; i < kSingletonFields.size(); ++i) {
    head.counts[i] = req.count(beast::string_view(kSingletonFields[i].data(), kSingletonFields[i].size()));
  }
  if (head.counts[0] == 1) head.host = req[http::field::host];
  if (const std::optional<Problem> bad = check_request_head(head)) {
    FUZZ_CHECK(bad->status == 400, "a bad request head answered %d", bad->status);
    check_problem_json(*bad);
    return;
  }
  const std::string_view origin = origin_form(req.target());
  FUZZ_CHECK(origin.size() <= req.target().size(), "origin_form grew the target");
  const Route route = check_route(req.target());
  if (route.kind == Route::Kind::kUnknown) return;
  if (req.method_string() != route.method) return;
  if (!route.needs_key) return;  // health, the pages and their files, the document, metrics, version: no input read
  if (route.kind == Route::Kind::kGetRecord || route.kind == Route::Kind::kListRecords) {
    check_query(req.target());  // history_limit / history_after, or the list's filters, limit and cursor
    if (route.kind == Route::Kind::kGetRecord) {
      std::string id;
      parse_uuid(route.id, &id);
    }
    return;
  }
  FUZZ_CHECK(is_command_route(route.kind), "a POST route that is not a command");
  if (req.count("Idempotency-Key") == 1) check_idempotency(req["Idempotency-Key"]);  // 400 unless valid
  const std::string& body = req.body();
  FUZZ_CHECK(body.size() <= kBodyLimit, "a body of %zu bytes got through", body.size());
  const bool body_present = body.find_first_not_of(" \t\r\n") != std::string::npos;
  if (body_present && req.count(http::field::content_type) > 0 &&
      !check_content_type(req[http::field::content_type])) {
    return;  // 415
  }
  if (req.count(http::field::if_match) > 0 && !check_if_match(req[http::field::if_match])) return;  // 400
  if (route.kind == Route::Kind::kRegister) {
    check_register(body);  // includes credit_id() on a valid body
    return;
  }
  std::string id;
  if (!parse_uuid(route.id, &id)) return;  // 400 invalid-id
  FUZZ_CHECK(is_canonical_uuid(id), "parse_uuid gave \"%s\"", printable(id).c_str());
  switch (route.kind) {
    case Route::Kind::kSell: check_sell(body); break;
    case Route::Kind::kRetire: check_retire(body); break;
    case Route::Kind::kCancel: check_cancel(body); break;
    default: FUZZ_CHECK(false, "unexpected command route %d", static_cast<int>(route.kind));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + static_cast<std::size_t>(data[0]) * 7;
  MemoryStream stream(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), chunk);
  beast::flat_buffer buffer;
  for (int i = 0; i < kMaxRequestsPerInput; ++i) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) {
      // The server answers 413 / 431 / 400 with ec.message() as the detail, then closes.
      if (ec == http::error::end_of_stream) break;
      Problem problem{400, "bad-request", "Malformed HTTP request", ec.message()};
      check_problem_json(problem);
      break;
    }
    FUZZ_CHECK(parser.is_done(), "read() succeeded on an unfinished message");
    http::request<http::string_body> req = parser.release();
    handle(req);
    if (!req.keep_alive()) break;
  }
  return 0;
}
