// The only translation unit of the tests that includes Beast. Each connection owns its io_context; every
// operation is started asynchronously with a deadline on the tcp_stream and driven to completion by
// io_context::run, which makes the calls synchronous for the caller yet bounded in time.
#include "tests/support/http_client.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ledger::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Responses in these tests are small; the cap only guards against a runaway server.
constexpr std::uint64_t kResponseBodyLimitBytes = 16 * 1024 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

HttpResponse to_response(const http::response<http::string_body>& message) {
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = message.body();
  return response;
}

// Runs the io_context until the started operation completes; the stream's expiry bounds it.
void run_until_done(net::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

void connect(net::io_context& ioc, beast::tcp_stream& stream, std::uint16_t port,
             std::chrono::milliseconds timeout) {
  tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), port);
  beast::error_code result;
  stream.expires_after(timeout);
  stream.async_connect(endpoint, [&](beast::error_code ec) { result = ec; });
  run_until_done(ioc);
  if (result) {
    throw std::runtime_error("HTTP connect to 127.0.0.1:" + std::to_string(port) + " failed: " + result.message());
  }
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

struct HttpConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::uint16_t port = 0;
  std::chrono::milliseconds timeout{};
};

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->timeout = timeout;
  connect(impl_->ioc, impl_->stream, port, timeout);
}

HttpConnection::~HttpConnection() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
}

namespace {
std::string& default_api_key_storage() {
  static std::string key;
  return key;
}
}  // namespace

void set_default_api_key(std::string key) { default_api_key_storage() = std::move(key); }
const std::string& default_api_key() { return default_api_key_storage(); }

Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

HttpResponse HttpConnection::request(std::string_view method, std::string_view target, std::string_view body,
                                     const Headers& headers) {
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(method);
  req.target(target);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  req.set(http::field::user_agent, "ledger-integration-tests");
  bool has_content_type = false;
  bool has_authorization = false;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "Content-Type")) has_content_type = true;
    if (iequals(name, "Authorization")) {
      has_authorization = true;
      if (value.empty()) continue;  // "send no Authorization at all"
    }
    req.insert(name, value);
  }
  if (!has_authorization && !default_api_key().empty()) {
    req.set(http::field::authorization, "Bearer " + default_api_key());
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  // POST with an empty body still says Content-Length: 0 (prepare_payload does that for POST).

  const std::string what = std::string(method) + " " + std::string(target);
  beast::error_code write_error;
  impl_->stream.expires_after(impl_->timeout);
  http::async_write(impl_->stream, req, [&](beast::error_code ec, std::size_t) { write_error = ec; });
  run_until_done(impl_->ioc);
  // A server may answer (e.g. 413) and close before taking the whole body: still try to read its answer.

  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBodyLimitBytes);
  beast::error_code read_error;
  impl_->stream.expires_after(impl_->timeout);
  http::async_read(impl_->stream, impl_->buffer, parser,
                   [&](beast::error_code ec, std::size_t) { read_error = ec; });
  run_until_done(impl_->ioc);
  if (read_error) {
    std::string message = what + ": reading the response failed: " + read_error.message();
    if (write_error) message += " (writing the request failed first: " + write_error.message() + ")";
    throw std::runtime_error(message);
  }
  return to_response(parser.get());
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body, const Headers& headers, std::chrono::milliseconds timeout) {
  HttpConnection connection(port, timeout);
  return connection.request(method, target, body, headers);
}

PipelinedResult send_raw_pipelined(std::uint16_t port, std::string_view bytes, std::size_t responses_max,
                                   std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  connect(ioc, stream, port, timeout);

  PipelinedResult result;
  beast::error_code write_error;
  stream.expires_after(timeout);
  net::async_write(stream, net::buffer(bytes.data(), bytes.size()),
                   [&](beast::error_code ec, std::size_t) { write_error = ec; });
  run_until_done(ioc);
  result.write_failed = static_cast<bool>(write_error);

  beast::flat_buffer buffer;  // shared: one read may take the start of the next response too
  while (result.responses.size() < responses_max) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kResponseBodyLimitBytes);
    beast::error_code read_error;
    stream.expires_after(timeout);
    http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) { read_error = ec; });
    run_until_done(ioc);
    if (read_error) {
      result.error = read_error.message();
      if (write_error) result.error += " (after write error: " + write_error.message() + ")";
      break;
    }
    result.responses.push_back(to_response(parser.get()));
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  return result;
}

RawResult send_raw(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  PipelinedResult pipelined = send_raw_pipelined(port, bytes, 1, timeout);
  RawResult result;
  result.write_failed = pipelined.write_failed;
  result.error = std::move(pipelined.error);
  if (!pipelined.responses.empty()) result.response = std::move(pipelined.responses.front());
  return result;
}

bool can_connect(std::uint16_t port, std::chrono::milliseconds timeout) {
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    connect(ioc, stream, port, timeout);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace ledger::test
