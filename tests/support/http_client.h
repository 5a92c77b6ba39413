// A small synchronous HTTP/1.1 client for the integration tests. Every operation has a deadline, so a server
// that never answers fails the test instead of hanging it. Beast is confined to http_client.cc: this header
// stays cheap to include.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ledger::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::chrono::milliseconds kHttpTimeout{10000};

// The API key every request sends as "Authorization: Bearer <key>" unless its headers name Authorization
// themselves (an empty value there sends none). The fixtures set it to an admin key they create; set it
// before starting client threads.
void set_default_api_key(std::string key);
const std::string& default_api_key();

// {{"Authorization", "Bearer <key>"}}: to act as another account.
Headers bearer(const std::string& key);

struct HttpResponse {
  int status = 0;
  Headers headers;  // in the order received
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  bool has_header(std::string_view name) const { return header(name).has_value(); }
};

// One keep-alive TCP connection to 127.0.0.1:port. Throws std::runtime_error (naming the step that failed)
// on connection errors and timeouts. Not thread-safe: one connection per thread.
class HttpConnection {
 public:
  // Connects now, so callers can open many connections before firing requests at once.
  explicit HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout = kHttpTimeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its response. A non-empty body gets Content-Type: application/json unless
  // `headers` sets a Content-Type; the default API key goes along unless `headers` sets Authorization.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const Headers& headers = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection.
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body = {}, const Headers& headers = {},
                          std::chrono::milliseconds timeout = kHttpTimeout);

struct RawResult {
  std::optional<HttpResponse> response;  // set when a complete response was read
  bool write_failed = false;             // the server closed before taking all bytes
  std::string error;                     // why no (complete) response was read, if so
};

// Writes `bytes` exactly as given (for malformed or oversized requests), then reads one response until
// it is complete, the server closes, or the deadline passes.
RawResult send_raw(std::uint16_t port, std::string_view bytes,
                   std::chrono::milliseconds timeout = kHttpTimeout);

struct PipelinedResult {
  std::vector<HttpResponse> responses;  // in the order received
  bool write_failed = false;
  std::string error;                    // why fewer than responses_max were read, if so
};

// Writes `bytes` (several requests back to back: HTTP/1.1 pipelining) in one go, then reads up to
// `responses_max` responses from the same connection.
PipelinedResult send_raw_pipelined(std::uint16_t port, std::string_view bytes, std::size_t responses_max,
                                   std::chrono::milliseconds timeout = kHttpTimeout);

// True when a TCP connection to 127.0.0.1:port can be opened now.
bool can_connect(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

}  // namespace ledger::test
