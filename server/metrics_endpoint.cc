// All Beast code of the metrics endpoint is here (Beast is slow to compile): the header stays cheap.
#include "server/metrics_endpoint.h"

#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <string_view>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "eventstore/assert.h"
#include "projector/metric_families.h"
#include "server/http_api.h"

namespace ledger {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

Response problem_response(const Problem& problem, unsigned version) {
  Response res{static_cast<http::status>(problem.status), version};
  res.set(http::field::content_type, "application/problem+json");
  res.body() = problem_json(problem);
  return res;
}

bool is_loopback(const net::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  return address.to_v6().is_loopback() ||
         (address.to_v6().is_v4_mapped() && net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).is_loopback());
}

}  // namespace

struct MetricsEndpoint::Impl {
  Impl(MetricsEndpointOptions o, Render r) : options(std::move(o)), render(std::move(r)), acceptor(io) {}

  const MetricsEndpointOptions options;
  const Render render;
  std::size_t connections = 0;  // open now; touched only on the endpoint's thread (before io: sessions outlive it)
  net::io_context io{1};
  tcp::acceptor acceptor;
  std::thread thread;
  unsigned short bound_port = 0;
  std::string bound_address;
  bool started = false;

  Response answer(const http::request<http::string_body>& req) {
    std::string_view target = req.target();
    if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target != "/metrics") {
      return problem_response({404, "not-found", "Not found", "this endpoint serves only GET /metrics"},
                              req.version());
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      Response res = problem_response(
          {405, "method-not-allowed", "Method not allowed", "/metrics takes GET (or HEAD)"}, req.version());
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    Response res{http::status::ok, req.version()};
    try {
      res.body() = render();
    } catch (const std::exception& e) {
      return problem_response({500, "internal", "Internal error", std::string("rendering the metrics failed: ") + e.what()},
                              req.version());
    }
    res.set(http::field::content_type, kMetricsContentType);
    return res;
  }

  net::awaitable<void> session(tcp::socket socket) {
    struct Hold {
      std::size_t* n;
      ~Hold() { --*n; }
    } hold{&connections};
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(options.header_limit_bytes + options.body_limit_bytes);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(options.header_limit_bytes);
      parser.body_limit(options.body_limit_bytes);
      stream.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      (void)n;
      if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
          ec == net::error::operation_aborted || ec == net::error::connection_reset) {
        break;
      }
      Response res;
      bool keep_alive = false;
      bool head = false;
      if (ec) {
        res = problem_response({400, "bad-request", "Malformed HTTP request", ec.message()}, 11);
      } else {
        const http::request<http::string_body> req = parser.release();
        res = answer(req);
        keep_alive = req.keep_alive();
        head = req.method() == http::verb::head;
      }
      res.keep_alive(keep_alive);
      res.prepare_payload();
      if (head) res.body().clear();
      stream.expires_after(std::chrono::milliseconds(options.write_timeout_ms));
      auto [write_ec, written] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
      (void)written;
      if (write_ec || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  net::awaitable<void> accept_loop() {
    static const std::string refusal = [] {
      const std::string body = problem_json(
          {503, "too-many-connections", "Too many connections", "the metrics endpoint serves a few connections at once"});
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nConnection: close\r\n"
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        net::steady_timer pause(io, std::chrono::milliseconds(50));  // out of descriptors: do not spin
        co_await pause.async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      if (connections >= options.connections_max) {
        (void)::send(socket.native_handle(), refusal.data(), refusal.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        beast::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        continue;
      }
      ++connections;
      net::co_spawn(io, session(std::move(socket)), net::detached);
    }
  }
};

MetricsEndpoint::MetricsEndpoint(MetricsEndpointOptions options, Render render)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(render))) {}

MetricsEndpoint::~MetricsEndpoint() { stop(); }

Status MetricsEndpoint::start() {
  LEDGER_ASSERT(!impl_->started, "MetricsEndpoint::start is called once");
  const MetricsEndpointOptions& o = impl_->options;
  if (o.connections_max < 1 || o.connections_max > kMetricsConnectionsMax) {
    return Status::Invalid("connections_max must be in [1, " + std::to_string(kMetricsConnectionsMax) + "]");
  }
  if (o.read_timeout_ms < 1 || o.write_timeout_ms < 1) return Status::Invalid("timeouts must be positive");
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(o.address, ec);
  if (ec) return Status::Invalid("'" + o.address + "' is not an IP address");
  if (!is_loopback(address)) {
    return Status::Invalid("'" + o.address + "' is not a loopback address (the metrics endpoint has no authentication)");
  }
  const tcp::endpoint endpoint(address, o.port);
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(16, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return Status::Unavailable("cannot listen on " + o.address + ":" + std::to_string(o.port) + ": " + ec.message());
  }
  impl_->bound_port = acceptor.local_endpoint().port();
  impl_->bound_address = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  impl_->started = true;
  Impl* impl = impl_.get();
  net::co_spawn(impl->io, impl->accept_loop(), net::detached);
  impl_->thread = std::thread([impl] {
    try {
      impl->io.run();
    } catch (const std::exception&) {
      // A session threw: the endpoint stops serving; the process it reports on goes on.
    }
  });
  return Status::Ok();
}

unsigned short MetricsEndpoint::port() const { return impl_->bound_port; }

std::string MetricsEndpoint::url() const {
  return "http://" + impl_->bound_address + ":" + std::to_string(impl_->bound_port) + "/metrics";
}

void MetricsEndpoint::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  Impl* impl = impl_.get();
  net::post(impl->io, [impl] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace ledger
