// The only translation unit that includes Beast: keep it that way, builds stay fast.
#include "server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <cctype>
#include <limits>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <pqxx/pqxx>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "auth/api_key.h"
#include "auth/authenticator.h"
#include "command/credit_appender.h"
#include "command/credit_commands.h"
#include "command/credit_id.h"
#include "command/credit_request.h"
#include "command/serial_numbers.h"
#include "command/text_rules.h"
#include "eventstore/base64.h"
#include "eventstore/database.h"
#include "eventstore/database_workers.h"
#include "eventstore/log_line.h"
#include "eventstore/merkle_log.h"
#include "eventstore/uuid.h"
#include "query/certificate.h"
#include "query/log_query.h"
#include "query/projection_listener.h"
#include "query/record_query.h"
#include "server/access_log.h"
#include "server/build_info.h"
#include "projector/metric_families.h"
#include "server/http_api.h"
#include "server/pdf_renderer.h"
#include "server/serve_metrics.h"
#include "server/slot_limiter.h"
#include "server/static_assets.h"

namespace ledger {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr const char* kRetryAfterSeconds = "1";
// The pages (explorer, Swagger UI) load only this server's files and talk only to it. Swagger UI sets
// inline styles, so /docs allows them; the explorer does not need even that.
constexpr const char* kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
// The certificate page is one self-contained document: its own inline style and nothing else.
constexpr const char* kCertificateCsp =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
constexpr const char* kDocsCsp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
// GETs waiting for a record version at once; beyond: 503 (each holds a timer and re-reads per batch).
constexpr std::size_t kVersionWaitersMax = 4096;
constexpr std::size_t kFirstBytesReadMax = 4096;    // read at once when an idle connection's next request begins
// GET /events: the page size unless ?limit says, and the longest ?wait (seconds).
constexpr std::int64_t kEventsLimitDefault = 100;
constexpr std::int64_t kEventsWaitMaxSeconds = 30;
// GET /events?wait= requests waiting for the sealer at once; beyond: 503 (each holds a timer, no connection).
constexpr std::size_t kLogWaitersMax = 4096;
// Event streams (GET /events, Accept: text/event-stream) open at once; beyond: 503. Each holds a connection
// slot and a timer, never a database connection while it waits.
constexpr std::size_t kEventStreamsMax = 1024;
// A stream ends after this long, so none is held forever; the client reconnects with Last-Event-ID after the
// `retry:` hint. A comment goes out every kEventStreamKeepAlive while nothing else does.
constexpr std::chrono::seconds kEventStreamMax{300};
constexpr std::chrono::seconds kEventStreamKeepAlive{15};
constexpr int kEventStreamRetryMs = 1000;
// Log reads (GET /log/*, proofs, /events): their own connections, so proofs and pages never queue behind
// record lookups, and a bounded queue of them.
constexpr std::size_t kLogReadThreads = 2;
constexpr std::size_t kLogReadQueueMax = 256;

// The whole answer to a connection refused at accept: written with one non-blocking send, nothing read.
std::string canned_refusal(const std::string& detail) {
  const std::string body = problem_json({503, "too-many-connections", "Too many connections", detail});
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: " +
         std::string(kRetryAfterSeconds) + "\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Starts blocking work elsewhere with `start(complete)` and resumes the awaiting coroutine on its own
// executor with what `complete` is given (from any thread). When `start` refuses (a full queue), resumes at
// once with `busy` instead of waiting.
template <typename Result>
net::awaitable<Result> await_completion(std::function<bool(std::function<void(Result)>)> start, Result busy) {
  auto initiate = [&start, &busy](auto handler) {
    using Handler = decltype(handler);
    auto shared = std::make_shared<Handler>(std::move(handler));
    std::function<void(Result)> complete = [shared](Result result) {
      auto executor = net::get_associated_executor(*shared);
      net::post(executor, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
    };
    if (!start(complete)) complete(std::move(busy));
  };
  co_return co_await net::async_initiate<const net::use_awaitable_t<>&, void(Result)>(initiate, net::use_awaitable);
}

// Runs `fn(connection)` on a database worker thread.
template <typename Result>
net::awaitable<Result> run_on_database(DatabaseWorkers& workers, std::function<Result(WorkerConnection&)> fn,
                                       Result busy) {
  std::function<bool(std::function<void(Result)>)> start = [&workers, &fn](std::function<void(Result)> complete) {
    return workers.submit([fn = std::move(fn), complete = std::move(complete)](WorkerConnection& connection) {
      complete(fn(connection));
    });
  };
  co_return co_await await_completion<Result>(std::move(start), std::move(busy));
}

class Server {
 public:
  explicit Server(const ServerOptions& options)
      : options_(options),
        io_(static_cast<int>(options.io_threads)),
        appender_(options.database_url, DatabaseLimits(), options.appender),
        reader_(options.database_url, DatabaseLimits(), options.reader),
        health_workers_(options.database_url, DatabaseLimits(), 1, 64),
        log_workers_(options.database_url, DatabaseLimits(), kLogReadThreads, kLogReadQueueMax),
        authenticator_(AuthenticatorOptions{options.database_url, options.key_reload_interval_ms, options.keys_max}),
        connection_slots_(options.connections_max, options.connections_per_peer_max),
        // A connection has one request in flight at a time, so the total never binds; per key does.
        command_slots_(options.connections_max, options.commands_in_flight_per_key_max),
        refusal_total_(canned_refusal("the server holds " + std::to_string(options.connections_max) +
                                      " connections already; retry shortly")),
        refusal_peer_(canned_refusal("this address holds " + std::to_string(options.connections_per_peer_max) +
                                     " connections already (the most one address may); close some or retry "
                                     "shortly")) {}

  int run() {
    // Every active API key in memory before the first request, so no key check ever waits on PostgreSQL.
    if (Status keys = authenticator_.start(); !keys.ok()) {
      log_to_stderr("serve", keys.IsInvalid() ? LogLevel::kError : LogLevel::kWarn,
                    std::string(keys.IsInvalid() ? "refusing to start" : "API keys not loaded yet") + ": " +
                        keys.message());
      if (keys.IsInvalid()) return 1;
    }
    tcp::acceptor acceptor(io_);
    beast::error_code ec;
    const auto address = net::ip::make_address(options_.address, ec);
    if (ec) {
      log_to_stderr("serve", LogLevel::kError, "LEDGER_HTTP_ADDRESS '" + options_.address + "' is not an IP address");
      return 2;
    }
    check_health_before_listening();
    metrics_.watch(&appender_, &reader_, &health_workers_, &authenticator_);
    projection_listener_.start();
    const tcp::endpoint endpoint(address, options_.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      log_to_stderr("serve", LogLevel::kError, "cannot listen on " + options_.address + ":" +
                                                  std::to_string(options_.port) + ": " + ec.message());
      return 1;
    }
    const auto bound = acceptor.local_endpoint();
    log_to_stderr("serve", LogLevel::kInfo,
                  "listening on http://" + bound.address().to_string() + ":" + std::to_string(bound.port()));

    net::co_spawn(io_, accept_loop(acceptor), net::detached);
    net::co_spawn(io_, probe_health_periodically(), net::detached);

    net::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this, &acceptor](const beast::error_code& error, int signal_number) {
      if (error) return;
      log_line(LogLevel::kInfo, "signal " + std::to_string(signal_number) + ", finishing in-flight requests");
      stopping_ = true;
      on_log_sealed();  // long polls answer and event streams end now rather than at their timers
      beast::error_code ignored;
      acceptor.close(ignored);
      net::co_spawn(io_, drain_then_stop(), net::detached);
    });

    if (options_.stop_requested != nullptr && options_.stop_requested->load()) std::raise(SIGTERM);

    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < options_.io_threads; ++i) threads.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : threads) t.join();
    projection_listener_.stop();
    access_log_.stop();  // its last lines before "stopped"
    appender_.stop();
    reader_.stop();
    health_workers_.stop();
    log_workers_.stop();
    authenticator_.stop();
    log_to_stderr("serve", LogLevel::kInfo, "stopped");
    return 0;
  }

 private:
  net::awaitable<void> drain_then_stop() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
    net::steady_timer timer(io_);
    while (requests_in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(net::use_awaitable);
    }
    if (requests_in_flight_.load() > 0) {
      log_line(LogLevel::kWarn, std::to_string(requests_in_flight_.load()) + " requests still in flight after " +
               std::to_string(options_.shutdown_grace_ms) + " ms, stopping anyway");
    }
    io_.stop();
  }

  net::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(io_), net::as_tuple(net::use_awaitable));
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        // Out of descriptors and the like: pause rather than spin, then keep serving.
        log_line(LogLevel::kWarn, "accept failed: " + ec.message());
        net::steady_timer timer(io_, std::chrono::milliseconds(50));
        co_await timer.async_wait(net::use_awaitable);
        continue;
      }
      // Admission happens here, before anything is read: a connection over a cap costs one descriptor for
      // the moment of one non-blocking send, never a coroutine, a buffer or a parse.
      beast::error_code peer_ec;
      const tcp::endpoint peer_endpoint = socket.remote_endpoint(peer_ec);
      if (peer_ec) continue;  // already gone; the socket closes as it leaves scope
      std::string peer = peer_address(peer_endpoint.address());
      const SlotLimiter::Outcome admitted = connection_slots_.try_acquire(peer);
      if (admitted != SlotLimiter::Outcome::kAcquired) {
        refuse_connection(socket, admitted == SlotLimiter::Outcome::kTotalFull ? refusal_total_ : refusal_peer_);
        continue;
      }
      SlotHold hold(&connection_slots_, peer);
      auto executor = socket.get_executor();
      net::co_spawn(executor, session(beast::tcp_stream(std::move(socket)), std::move(hold)),
                    [this](std::exception_ptr e) {
                      if (!e) return;
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::exception& ex) {
                        log_line(LogLevel::kError, std::string("session ended by exception: ") + ex.what());
                      }
                    });
    }
  }

  // IPv4 peers of an IPv6 socket count as their IPv4 address, so one client is one key either way.
  static std::string peer_address(const net::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      return net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).to_string();
    }
    return address.to_string();
  }

  // Writes the canned 503 if the socket takes it at once (it always has room for that little), then
  // closes; what the client sent stays unread.
  template <typename Socket>
  static void refuse_connection(Socket& socket, const std::string& answer) {
    (void)::send(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    beast::error_code ignored;
    socket.shutdown(net::socket_base::shutdown_both, ignored);
    socket.close(ignored);
  }

  // One coroutine per connection (the shape of Beast's awaitable server example). `slot` is its place
  // under the connection caps, given back when the session ends.
  net::awaitable<void> session(beast::tcp_stream stream, SlotHold slot) {
    (void)slot;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.body_limit_bytes);
      parser.header_limit(options_.header_limit_bytes);
      if (buffer.size() == 0) {
        // A request must begin within the idle timeout (shorter than the read timeout), on a new
        // connection as between keep-alive requests, so idle connections do not hold their slot for long.
        stream.expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
        auto [idle_ec, n] = co_await stream.async_read_some(buffer.prepare(kFirstBytesReadMax),
                                                            net::as_tuple(net::use_awaitable));
        if (idle_ec) break;  // closed, reset, or idle too long
        buffer.commit(n);
      }
      stream.expires_after(std::chrono::milliseconds(options_.read_timeout_ms));
      auto [ec, bytes] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      (void)bytes;
      if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
          ec == net::error::connection_reset || ec == net::error::operation_aborted) {
        break;
      }
      const auto started = std::chrono::steady_clock::now();
      if (ec) {
        // The request could not be read whole: answer what was wrong, then close (the stream is unusable).
        Problem problem;
        if (ec == http::error::body_limit) {
          problem = {413, "body-too-large", "Request body too large",
                     "the body exceeds " + std::to_string(options_.body_limit_bytes) + " bytes"};
        } else if (ec == http::error::header_limit) {
          problem = {431, "headers-too-large", "Request header fields too large",
                     "the headers exceed " + std::to_string(options_.header_limit_bytes) + " bytes"};
        } else {
          problem = {400, "bad-request", "Malformed HTTP request", ec.message()};
        }
        Response res = problem_response(problem, 11, false);
        res.set(http::field::connection, "close");
        // Every answer has an id to report, even one to a request that could not be read (its own id, if it
        // sent one, is not trusted: the head may be the part that was wrong).
        const std::string unread_id = new_uuid_v4();
        res.set("X-Request-Id", unread_id);
        res.set("X-Content-Type-Options", "nosniff");
        res.prepare_payload();
        log_request("-", "-", "unmatched", res.result_int(), started, unread_id, "");
        metrics_.observe_request("unmatched", "-", res.result_int(), seconds_since(started));
        stream.expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
        co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
        co_await discard_unread(stream, buffer);
        break;
      }

      Request req = parser.release();
      ++requests_in_flight_;
      // A repeated X-Request-Id is refused below (400 repeated-header); the answer gets an id of our own.
      std::string request_id = req.count("X-Request-Id") == 1 ? sanitize_request_id(req["X-Request-Id"]) : "";
      if (request_id.empty()) request_id = new_uuid_v4();
      // A request refused for its head (repeated or missing Host, ...) is not trusted to frame the next one.
      const std::optional<Problem> bad_head = head_problem(req);
      Response res;
      RequestFacts facts;
      if (bad_head) {
        res = problem_response(*bad_head, req.version(), false);
      } else {
        res = co_await handle(req, request_id, &facts);
      }
      if (facts.event_stream_start.has_value() && res.result() == http::status::ok) {
        // GET /events as Server-Sent Events: the header now, then the stream, delimited by closing the
        // connection (no Content-Length, no keep-alive); logged and counted once, when it ends.
        ++sse_streams_;
        http::response<http::empty_body> head{http::status::ok, req.version()};
        head.set(http::field::content_type, "text/event-stream");
        head.set(http::field::cache_control, "no-store");
        head.set("X-Request-Id", request_id);
        head.set("X-Content-Type-Options", "nosniff");
        head.set("X-Accel-Buffering", "no");  // proxies pass each event on at once
        head.keep_alive(false);
        http::response_serializer<http::empty_body> serializer(head);
        stream.expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
        auto [head_ec, head_written] =
            co_await http::async_write_header(stream, serializer, net::as_tuple(net::use_awaitable));
        (void)head_written;
        if (!head_ec) co_await stream_events(stream, *facts.event_stream_start);
        --sse_streams_;
        log_request(req.method_string(), req.target(), facts.route, 200, started, request_id, facts.account);
        metrics_.observe_request(facts.route, req.method_string(), 200, seconds_since(started));
        --requests_in_flight_;
        break;
      }
      const bool keep_alive = req.keep_alive() && !stopping_ && !bad_head;
      res.version(req.version());
      res.keep_alive(keep_alive);
      res.set("X-Request-Id", request_id);
      res.set("X-Content-Type-Options", "nosniff");
      res.prepare_payload();
      // HEAD: the GET's header fields, Content-Length included, and no body (RFC 9110 9.3.2).
      if (req.method() == http::verb::head) res.body().clear();
      log_request(req.method_string(), req.target(), facts.route, res.result_int(), started, request_id, facts.account);
      metrics_.observe_request(facts.route, req.method_string(), res.result_int(), seconds_since(started));
      stream.expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
      auto [write_ec, written] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
      (void)written;
      --requests_in_flight_;
      if (write_ec || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // After refusing a request mid-body, read (and drop) what the client is still sending for a moment, so
  // closing does not reset the connection before the client has read our answer.
  net::awaitable<void> discard_unread(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::size_t discarded = 0;
    stream.expires_after(std::chrono::milliseconds(1000));
    while (discarded < 4 * 1024 * 1024) {
      buffer.consume(buffer.size());
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(64 * 1024), net::as_tuple(net::use_awaitable));
      if (ec) break;
      discarded += n;
    }
  }

  static double seconds_since(std::chrono::steady_clock::time_point started) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  // One line per answered request: method, target (as sent, at most 256 bytes), route (its path template
  // from kRoutes, what to group by), status, duration, request id (the X-Request-Id answered, and the
  // request_id in the metadata of the events the request appended), account ("-" without a valid key).
  void log_request(std::string_view method, std::string_view target, std::string_view route, unsigned status,
                   std::chrono::steady_clock::time_point started, const std::string& request_id,
                   std::string_view account) {
    const double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    const std::string_view method_cut = method.substr(0, 32);
    const std::string_view target_cut = target.substr(0, 256);
    if (log_format() == LogFormat::kText) {
      char line[768];
      const int n = std::snprintf(line, sizeof line, "serve: %.*s %.*s %u %.1fms request_id=%s route=%.*s account=%.*s",
                                  static_cast<int>(method_cut.size()), method_cut.data(),
                                  static_cast<int>(target_cut.size()), target_cut.data(), status, duration_ms,
                                  request_id.c_str(), static_cast<int>(std::min<std::size_t>(route.size(), 64)),
                                  route.data(),
                                  static_cast<int>(account.empty() ? 1 : std::min<std::size_t>(account.size(), 200)),
                                  account.empty() ? "-" : account.data());
      if (n > 0) access_log_.append(std::string_view(line, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                                                 sizeof line - 1)));
      return;
    }
    access_log_.append(format_log_line(
        "serve", status >= 500 ? LogLevel::kError : LogLevel::kInfo, "request",
        {LogField::str("method", method_cut), LogField::str("target", target_cut), LogField::str("route", route),
         LogField::num("status", status), LogField::dbl("duration_ms", duration_ms),
         LogField::str("request_id", request_id), LogField::str("account", account.empty() ? "-" : account)}));
  }

  // Everything the server says while serving goes through the access log's thread: an Asio thread
  // never waits for stderr.
  void log_line(LogLevel level, std::string_view message) {
    access_log_.append(format_log_line("serve", level, message));
  }

  // The one database check behind /healthz, on its own connection, one at a time. A check that hangs
  // leaves the status to go stale, which /healthz reports as unhealthy.
  // One health check, on a database thread (blocking; bounded by the session's statement timeout).
  static HealthStatus check_health(WorkerConnection& connection) {
    HealthStatus status;
    const Status ping = ping_database(connection, &status.projector_halted_reason);
    status.database_ok = ping.ok();
    status.database_detail = ping.message();
    status.checked_at = std::chrono::steady_clock::now();
    return status;
  }

  void set_health(HealthStatus status) {
    std::lock_guard<std::mutex> lock(health_mutex_);
    health_ = std::move(status);
  }

  // Before listening, so the first /healthz already has an answer. Waits at most kHealthStaleAfterMs
  // (on the main thread; Asio is not running yet); a check still running then finishes into nothing.
  void check_health_before_listening() {
    auto done = std::make_shared<std::promise<HealthStatus>>();
    std::future<HealthStatus> result = done->get_future();
    if (!health_workers_.submit([done](WorkerConnection& c) { done->set_value(check_health(c)); })) return;
    if (result.wait_for(std::chrono::milliseconds(kHealthStaleAfterMs)) == std::future_status::ready) {
      set_health(result.get());
    }
  }

  // The one database check behind /healthz, on its own connection, one at a time. A check that hangs
  // leaves the status to go stale, which /healthz reports as unhealthy.
  net::awaitable<void> probe_health_periodically() {
    net::steady_timer timer(io_);
    for (;;) {
      timer.expires_after(std::chrono::milliseconds(kHealthProbeIntervalMs));
      auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      std::function<HealthStatus(WorkerConnection&)> check = [](WorkerConnection& c) { return check_health(c); };
      HealthStatus busy;  // unhealthy, with the reason (the queue only ever holds this probe's job)
      busy.database_detail = "the health check could not be queued";
      busy.checked_at = std::chrono::steady_clock::now();
      set_health(co_await run_on_database<HealthStatus>(health_workers_, std::move(check), std::move(busy)));
    }
  }

  static Response problem_response(const Problem& problem, unsigned version, bool keep_alive) {
    Response res{static_cast<http::status>(problem.status), version};
    res.set(http::field::content_type, "application/problem+json");
    res.keep_alive(keep_alive);
    res.body() = problem_json(problem);
    return res;
  }

  static Response json_response(http::status status, std::string body, unsigned version) {
    Response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
  }

  // Repeated singleton fields, a missing or invalid Host: checked before anything else reads the head.
  static std::optional<Problem> head_problem(const Request& req) {
    RequestHead head;
    head.version = req.version();
    for (std::size_t i = 0; i < kSingletonFields.size(); ++i) {
      head.counts[i] = req.count(beast::string_view(kSingletonFields[i].data(), kSingletonFields[i].size()));
    }
    if (head.counts[0] == 1) head.host = req[http::field::host];
    return check_request_head(head);
  }

  // What the request log says of a request beyond its head: its route and who sent it.
  struct RequestFacts {
    std::string_view route = "unmatched";  // a kRoutes path: static storage, no copy per request
    std::string account;
    // GET /events with Accept: text/event-stream: the leaf index to stream from. The session then writes the
    // stream instead of the (empty) Response handle returned.
    std::optional<std::int64_t> event_stream_start;
  };

  net::awaitable<Response> handle(const Request& req, const std::string& request_id, RequestFacts* facts) {
    const unsigned version = req.version();
    const Route route = match_route(req.target());
    facts->route = route.path;
    if (route.kind == Route::Kind::kUnknown) {
      co_return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
    }
    // HEAD wherever GET: the same answer, its body left out when written.
    const bool get_like = std::string_view(route.method) == "GET";
    const bool method_ok = req.method_string() == route.method || (get_like && req.method() == http::verb::head);
    if (!method_ok) {
      const std::string allow = get_like ? "GET, HEAD" : route.method;
      Response res = problem_response({405, "method-not-allowed", "Method not allowed", "this path takes " + allow},
                                      version, true);
      res.set(http::field::allow, allow);
      co_return res;
    }
    if (!route.needs_key) co_return handle_public(route, version);

    // Every other endpoint needs an API key. Which credits the key's account may change is the decider's
    // business; here only who it is.
    std::optional<std::string_view> authorization;
    if (req.count(http::field::authorization) > 0) authorization = req[http::field::authorization];
    const AuthResult auth = authenticator_.verify(authorization);  // in memory: no database work
    if (auth.kind != AuthResult::Kind::kOk) co_return auth_failure_response(auth, version);
    facts->account = auth.actor.account;

    switch (route.kind) {
      // The verifiable log: any valid key.
      case Route::Kind::kLogCheckpoint:
      case Route::Kind::kLogPublicKey:
      case Route::Kind::kLogConsistency:
      case Route::Kind::kLogLeaves:
      case Route::Kind::kRecordProof:
      case Route::Kind::kEvents:
        co_return co_await handle_log(req, route, version, facts);
      case Route::Kind::kGetRecord:
        co_return co_await handle_get_record(req, route, version);  // every role may read
      case Route::Kind::kListRecords:
        co_return co_await handle_list_records(req, version);
      case Route::Kind::kCertificate:
      case Route::Kind::kCertificateProof:
        co_return co_await handle_certificate(req, route, version);
      case Route::Kind::kRegister:
      case Route::Kind::kSell:
      case Route::Kind::kRetire:
      case Route::Kind::kCancel: {
        const char* type = command_type(route.kind);
        // What the key's role can never do is refused here: no queue slot, no database work.
        if (!role_may_send(auth.actor.role, route.kind)) {
          metrics_.observe_command(type, CreditCommandResult{}, 403);
          co_return problem_response(role_forbidden_problem(auth.actor.role, route.kind), version, true);
        }
        // Each key gets a bounded share of the command queue.
        std::string key = key_identity(*authorization, auth.actor);
        if (command_slots_.try_acquire(key) != SlotLimiter::Outcome::kAcquired) {
          Response res = problem_response(
              {429, "too-many-commands", "Too many commands in flight for this key",
               "this key already has " + std::to_string(options_.commands_in_flight_per_key_max) +
                   " commands waiting or being applied; wait for their answers, then retry"},
              version, true);
          res.set(http::field::retry_after, kRetryAfterSeconds);
          metrics_.observe_command(type, CreditCommandResult{}, 429);
          co_return res;
        }
        SlotHold in_flight(&command_slots_, std::move(key));
        CreditCommandResult result;  // stays default when the command is refused before the appender
        Response res = co_await handle_command(req, route, request_id, auth.actor, &result);
        metrics_.observe_command(type, result, res.result_int());
        co_return res;
      }
      default:
        break;
    }
    co_return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
  }

  static const char* command_type(Route::Kind kind) {
    switch (kind) {
      case Route::Kind::kRegister: return "register";
      case Route::Kind::kSell: return "sell";
      case Route::Kind::kRetire: return "retire";
      case Route::Kind::kCancel: return "cancel";
      default: return "other";
    }
  }

  // The routes that need no key: health, the pages and their files, the API document, metrics, version.
  Response handle_public(const Route& route, unsigned version) {
    switch (route.kind) {
      case Route::Kind::kHealth:
        return handle_health(version);
      case Route::Kind::kExplorer:
        return asset_response("index.html", kPageCsp, version);
      case Route::Kind::kDocs:
        return asset_response("docs.html", kDocsCsp, version);
      case Route::Kind::kOpenApi:
        return asset_response("openapi.json", kPageCsp, version);
      case Route::Kind::kAsset:
        return asset_response(route.id, route.id.rfind("swagger-ui", 0) == 0 ? kDocsCsp : kPageCsp, version);
      case Route::Kind::kVersion:
        return json_response(http::status::ok, build_info_json(), version);
      case Route::Kind::kMetrics: {
        Response res{http::status::ok, version};
        res.set(http::field::content_type, kMetricsContentType);
        res.body() = metrics_.render();  // atomics and counters only: no database work
        return res;
      }
      default:
        break;
    }
    return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
  }

  // A compiled-in file, from memory. The pages are never cached stale: each load revalidates.
  static Response asset_response(std::string_view name, const char* csp, unsigned version) {
    const StaticAsset* asset = find_static_asset(name);
    if (asset == nullptr) {
      Problem problem{404, "asset-not-found", "No such file", "this server has no file by that name"};
      problem.errors.push_back({"name", "is not one of the files the pages use"});
      return problem_response(problem, version, true);
    }
    Response res{http::status::ok, version};
    res.set(http::field::content_type, asset->content_type);
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", csp);
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    res.body().assign(asset->body.data(), asset->body.size());
    return res;
  }


  static Response auth_failure_response(const AuthResult& auth, unsigned version) {
    if (auth.kind == AuthResult::Kind::kUnavailable) {
      Response res = problem_response({503, "database-unavailable", "The ledger database is unavailable",
                                       auth.detail},
                                      version, true);
      res.set(http::field::retry_after, kRetryAfterSeconds);
      return res;
    }
    Response res = problem_response({401, "unauthorized", "Authentication required", auth.detail}, version, true);
    // RFC 6750: a presented but unusable token is "invalid_token"; no token at all gets no error code.
    res.set(http::field::www_authenticate, auth.kind == AuthResult::Kind::kMissing
                                               ? R"(Bearer realm="carbon-ledger")"
                                               : R"(Bearer realm="carbon-ledger", error="invalid_token")");
    return res;
  }

  // The key id of a Bearer key of ours (so two keys of one account get a share each), else the account.
  static std::string key_identity(std::string_view authorization, const Actor& actor) {
    if (std::optional<std::string_view> token = bearer_token(authorization)) {
      if (std::optional<ApiKeyParts> parts = parse_api_key(*token)) return "key:" + parts->key_id;
    }
    return "account:" + actor.account;
  }

  // Answers from the status the probe keeps fresh: no database work per request.
  Response handle_health(unsigned version) {
    HealthStatus status;
    {
      std::lock_guard<std::mutex> lock(health_mutex_);
      status = health_;
    }
    if (std::optional<Problem> problem = health_problem(status, std::chrono::steady_clock::now())) {
      Response res = problem_response(*problem, version, true);
      res.set(http::field::retry_after, kRetryAfterSeconds);
      return res;
    }
    return json_response(http::status::ok, R"({"status":"ok"})", version);
  }

  static Response bad_parameter(const std::string& name, const std::string& message, unsigned version) {
    Problem problem{400, "invalid-parameter", "Invalid query parameter",
                    "query parameter \"" + name + "\" " + message};
    problem.errors.push_back({name, message});
    return problem_response(problem, version, true);
  }

  // A whole decimal number in [min, max], or nullopt after setting *bad.
  static std::optional<std::int64_t> integer_parameter(const std::string& text, std::int64_t min, std::int64_t max) {
    if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const std::int64_t value = std::stoll(text);
    if (value < min || value > max) return std::nullopt;
    return value;
  }

  // Runs one read-model query on the reader; on anything but kFound sets *failure to the answer to give.
  net::awaitable<void> read_records(RecordQuery query, std::optional<Response>* failure, RecordLookup* out,
                                    unsigned version) {
    RecordLookup busy;
    busy.kind = RecordLookup::Kind::kUnavailable;
    busy.detail = "the database queue is full";
    std::function<bool(std::function<void(RecordLookup)>)> submit =
        [this, &query](std::function<void(RecordLookup)> done) { return reader_.submit(query, std::move(done)); };
    *out = co_await await_completion<RecordLookup>(std::move(submit), std::move(busy));
    switch (out->kind) {
      case RecordLookup::Kind::kFound:
        co_return;
      case RecordLookup::Kind::kNotFound:
        *failure = problem_response({404, "credit-not-found", "Credit not found",
                                     "no credit with this id is in the read model (it may not be projected yet)"},
                                    version, true);
        co_return;
      case RecordLookup::Kind::kUnavailable: {
        Response res = problem_response(
            {503, "database-unavailable", "The ledger database is unavailable", out->detail}, version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        *failure = std::move(res);
        co_return;
      }
      case RecordLookup::Kind::kInternal:
        break;
    }
    log_line(LogLevel::kError, "record lookup failed: " + out->detail);
    *failure = problem_response({500, "internal-error", "Internal error", "the record could not be read"}, version,
                                true);
    co_return;
  }

  // One GET waiting for a record version: its timer, which on_projected cancels to wake it.
  struct VersionWaiter {
    explicit VersionWaiter(const net::any_io_executor& executor) : timer(executor) {}
    net::steady_timer timer;
  };

  // Called on the projection listener's thread after each batch the projector commits: every waiting GET
  // re-reads (on its own executor; the timer is not touched from this thread).
  void on_projected() {
    projected_generation_.fetch_add(1);
    std::lock_guard<std::mutex> lock(waiters_mutex_);
    for (const std::shared_ptr<VersionWaiter>& waiter : waiters_) {
      net::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
    }
  }

  // Reads the record until the read model holds at least `min_version` of it, woken by the projector's
  // notifications, for at most min_version_wait_ms; then 504 naming the version it holds (0: none yet).
  net::awaitable<void> read_at_least(const RecordQuery& query, std::int64_t min_version, std::optional<Response>* failure,
                                     RecordLookup* out, unsigned version) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.min_version_wait_ms);
    const net::any_io_executor executor = co_await net::this_coro::executor;
    for (;;) {
      const std::uint64_t seen = projected_generation_.load();
      failure->reset();
      co_await read_records(query, failure, out, version);
      const bool not_yet = failure->has_value() ? out->kind == RecordLookup::Kind::kNotFound : out->version < min_version;
      if (!not_yet) co_return;  // reached, or failed for another reason (answered as it is)
      if (std::chrono::steady_clock::now() >= deadline) break;
      auto waiter = std::make_shared<VersionWaiter>(executor);
      waiter->timer.expires_at(deadline);
      {
        std::lock_guard<std::mutex> lock(waiters_mutex_);
        if (waiters_.size() >= kVersionWaitersMax) {
          Response res = problem_response({503, "too-many-waiting-reads", "Too many reads waiting for a version",
                                           "this server already holds " + std::to_string(kVersionWaitersMax) +
                                               " reads waiting for the read model; retry shortly"},
                                          version, true);
          res.set(http::field::retry_after, kRetryAfterSeconds);
          *failure = std::move(res);
          co_return;
        }
        waiters_.insert(waiter);
      }
      // A batch committed since the read above: read again at once rather than wait for the next one.
      if (projected_generation_.load() == seen) {
        (void)co_await waiter->timer.async_wait(net::as_tuple(net::use_awaitable));
      }
      std::lock_guard<std::mutex> lock(waiters_mutex_);
      waiters_.erase(waiter);
    }
    const std::int64_t held = failure->has_value() ? 0 : out->version;
    Problem problem{504, "version-not-reached", "The read model has not reached this version yet",
                    "after " + std::to_string(options_.min_version_wait_ms) + " ms the read model holds version " +
                        std::to_string(held) + " of this credit, not " + std::to_string(min_version) +
                        " (the projector may be behind or stopped); retry later"};
    problem.min_version = min_version;
    problem.version_held = held;
    Response res = problem_response(problem, version, true);
    res.set(http::field::retry_after, kRetryAfterSeconds);
    *failure = std::move(res);
  }

  net::awaitable<Response> handle_get_record(const Request& req, const Route& route, unsigned version) {
    RecordQuery query;
    std::int64_t min_version = 0;  // ?min_version=N: wait until the read model holds version N
    if (!parse_uuid(route.id, &query.id)) {
      Problem problem{400, "invalid-id", "Invalid credit id", "the id in the path is not a UUID"};
      problem.errors.push_back({"id", "must be a UUID like 800d4116-9d79-5774-bcc1-b5c8a8b69bcc"});
      co_return problem_response(problem, version, true);
    }
    const auto params = parse_query(req.target());
    if (!params.has_value()) co_return bad_parameter("query", "is malformed or repeats a parameter", version);
    for (const auto& [name, value] : *params) {
      if (name == "history_limit") {
        const auto limit = integer_parameter(value, 1, kHistoryLimitMax);
        if (!limit) co_return bad_parameter(name, "must be a whole number from 1 to " + std::to_string(kHistoryLimitMax), version);
        query.history_limit = static_cast<int>(*limit);
      } else if (name == "history_after") {
        const auto after = integer_parameter(value, 0, std::numeric_limits<std::int64_t>::max());
        if (!after) co_return bad_parameter(name, "must be a whole number (a version)", version);
        query.history_after = *after;
      } else if (name == "min_version") {
        const auto min = integer_parameter(value, 1, std::numeric_limits<std::int64_t>::max());
        if (!min) co_return bad_parameter(name, "must be a whole number from 1 (a version from a command's answer)", version);
        min_version = *min;
      }
    }
    std::optional<Response> failure;
    RecordLookup lookup;
    if (min_version > 0) {
      co_await read_at_least(query, min_version, &failure, &lookup, version);
    } else {
      co_await read_records(std::move(query), &failure, &lookup, version);
    }
    if (failure.has_value()) co_return std::move(*failure);
    Response res = json_response(http::status::ok, std::move(lookup.json), version);
    res.set(http::field::etag, "\"" + std::to_string(lookup.version) + "\"");
    co_return res;
  }

  // ---- The verifiable log: GET /log/*, /records/{id}/proof and /events (docs/audit.md) ----

  // What one log read found: the body to answer, or why not. Made on a log worker thread.
  struct LogAnswer {
    enum class Kind { kOk, kNoCheckpoint, kNotFound, kBadParameter, kUnavailable, kInternal };
    Kind kind = Kind::kOk;
    std::string body;
    std::string parameter;  // kBadParameter: which one, and `detail` what is wrong with it
    std::string detail;
    std::int64_t next = 0;  // /events: the leaf index after the last one returned
    std::size_t count = 0;  // /events: leaves returned
  };

  static LogAnswer log_failure(LogAnswer::Kind kind, std::string detail, std::string parameter = {}) {
    LogAnswer a;
    a.kind = kind;
    a.detail = std::move(detail);
    a.parameter = std::move(parameter);
    return a;
  }

  // Runs `read` on a log worker in one read-only REPEATABLE READ transaction, so everything it reads (the
  // checkpoint, the tree, the leaves) is one snapshot; the session's statement timeout bounds each statement.
  // A lost pooled session is retried once (PostgreSQL may have ended it while idle: not an outage).
  net::awaitable<LogAnswer> read_log(std::function<LogAnswer(pqxx::transaction_base&)> read) {
    std::function<LogAnswer(WorkerConnection&)> job = [read = std::move(read)](WorkerConnection& connection) {
      LogAnswer answer;
      for (int attempt = 0; attempt < 2; ++attempt) {
        Status error;
        pqxx::connection* conn = connection.get(&error);
        if (conn == nullptr) return log_failure(LogAnswer::Kind::kUnavailable, error.message());
        try {
          pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "log_read");
          answer = read(tx);
          tx.commit();
          return answer;
        } catch (const std::exception& e) {
          const bool lost = is_connection_failure(e);
          if (lost) connection.discard();
          answer = log_failure(lost || is_timeout(e) ? LogAnswer::Kind::kUnavailable : LogAnswer::Kind::kInternal,
                               single_line(e.what()));
          if (!lost) return answer;
        }
      }
      return answer;
    };
    // Named, not temporaries in the co_await expression (GCC 12 mishandles those), as everywhere here.
    LogAnswer busy = log_failure(LogAnswer::Kind::kUnavailable, "the log read queue is full");
    co_return co_await run_on_database<LogAnswer>(log_workers_, std::move(job), std::move(busy));
  }

  Response log_failure_response(const LogAnswer& answer, unsigned version) {
    switch (answer.kind) {
      case LogAnswer::Kind::kNoCheckpoint:
        return problem_response({404, "no-checkpoint", "The log has no checkpoint yet",
                                 "no signed checkpoint has been made yet (the sealer, in carbon-ledger project with "
                                 "LEDGER_SIGNING_KEY_FILE, makes the first one shortly after the first event)"},
                                version, true);
      case LogAnswer::Kind::kNotFound:
        return problem_response({404, "credit-not-found", "Credit not found", answer.detail}, version, true);
      case LogAnswer::Kind::kBadParameter:
        return bad_parameter(answer.parameter, answer.detail, version);
      case LogAnswer::Kind::kUnavailable: {
        Response res = problem_response(
            {503, "database-unavailable", "The ledger database is unavailable", answer.detail}, version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        return res;
      }
      default:
        break;
    }
    log_line(LogLevel::kError, "log read failed: " + answer.detail);
    return problem_response({500, "internal-error", "Internal error", "the log could not be read"}, version, true);
  }

  static Response text_response(std::string body, unsigned version) {
    Response res{http::status::ok, version};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(body);
    return res;
  }

  // /events cursors are opaque to clients: base64url (no padding) of "v1:<the next leaf index to read>", so
  // the format can change (a "v2") without clients noticing. The empty cursor is the log's start.
  static std::string events_cursor(std::int64_t next) {
    std::string text = base64_encode("v1:" + std::to_string(next));
    for (char& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!text.empty() && text.back() == '=') text.pop_back();
    return text;
  }

  static std::optional<std::int64_t> parse_events_cursor(std::string_view cursor) {
    if (cursor.empty() || cursor.size() > 64) return std::nullopt;
    std::string text(cursor);
    for (char& c : text) {
      if (c == '+' || c == '/' || c == '=') return std::nullopt;  // base64url only, one text per cursor
      c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (text.size() % 4 != 0) text.push_back('=');
    const std::optional<std::string> bytes = base64_decode(text);
    if (!bytes || bytes->rfind("v1:", 0) != 0) return std::nullopt;
    const std::string digits = bytes->substr(3);
    if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
    return integer_parameter(digits, 0, std::numeric_limits<std::int64_t>::max());
  }

  // The leaves [start, start + limit) that exist, as /events answers them (JSON, or SSE frames).
  net::awaitable<LogAnswer> read_events(std::int64_t start, std::int64_t limit, bool sse) {
    std::function<LogAnswer(pqxx::transaction_base&)> read = [start, limit, sse](pqxx::transaction_base& tx) {
      LogAnswer a;
      const std::int64_t size = read_log_size(tx);
      const std::int64_t end = std::min(size, start + limit);
      const std::vector<LogLeaf> leaves = start < end ? read_log_leaves(tx, start, end) : std::vector<LogLeaf>{};
      a.next = start;
      a.count = leaves.size();
      if (sse) {
        for (const LogLeaf& leaf : leaves) {
          // Leaf data is JCS: one line (control characters are escaped), so one data: line.
          a.body += "id: " + events_cursor(leaf.leaf_index + 1) + "\nevent: ledger-event\ndata: " + leaf.leaf_data +
                    "\n\n";
          a.next = leaf.leaf_index + 1;
        }
        return a;
      }
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
      w.StartArray();
      for (const LogLeaf& leaf : leaves) {
        w.StartObject();
        const std::string cursor = events_cursor(leaf.leaf_index + 1);
        w.Key("cursor");
        w.String(cursor.data(), static_cast<rapidjson::SizeType>(cursor.size()));
        w.Key("leaf_index");
        w.Int64(leaf.leaf_index);
        w.Key("leaf_data");
        w.String(leaf.leaf_data.data(), static_cast<rapidjson::SizeType>(leaf.leaf_data.size()));
        w.Key("event");
        w.RawValue(leaf.leaf_data.data(), leaf.leaf_data.size(), rapidjson::kObjectType);
        w.EndObject();
        a.next = leaf.leaf_index + 1;
      }
      w.EndArray();
      a.body.assign(buffer.GetString(), buffer.GetSize());
      return a;
    };
    co_return co_await read_log(std::move(read));
  }

  // One request waiting for the sealer (GET /events?wait=, an event stream): its timer, which on_log_sealed
  // cancels to wake it.
  struct LogWaiter {
    explicit LogWaiter(const net::any_io_executor& executor) : timer(executor) {}
    net::steady_timer timer;
  };

  // Called on the listener's thread after each sealing transaction: every waiter re-reads (on its own executor;
  // the timer is not touched from this thread).
  void on_log_sealed() {
    sealed_generation_.fetch_add(1);
    std::lock_guard<std::mutex> lock(log_waiters_mutex_);
    for (const std::shared_ptr<LogWaiter>& waiter : log_waiters_) {
      net::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
    }
  }

  // Waits until a seal after generation `seen` or `until`, holding no database connection. False when the
  // waiters are at their cap (nothing waited); `counted` waiters count against it, streams do not (they have
  // their own cap). *timed_out: the timer ran out (no seal woke it).
  net::awaitable<bool> wait_for_seal(std::uint64_t seen, std::chrono::steady_clock::time_point until, bool counted,
                                     bool* timed_out = nullptr) {
    const net::any_io_executor executor = co_await net::this_coro::executor;
    auto waiter = std::make_shared<LogWaiter>(executor);
    waiter->timer.expires_at(until);
    {
      std::lock_guard<std::mutex> lock(log_waiters_mutex_);
      if (counted && log_waiters_.size() >= kLogWaitersMax + sse_streams_.load()) co_return false;
      log_waiters_.insert(waiter);
    }
    bool expired = false;
    // A seal since the read before: read again at once rather than wait for the next one.
    if (sealed_generation_.load() == seen) {
      auto [ec] = co_await waiter->timer.async_wait(net::as_tuple(net::use_awaitable));
      expired = !ec;
    }
    {
      std::lock_guard<std::mutex> lock(log_waiters_mutex_);
      log_waiters_.erase(waiter);
    }
    if (timed_out != nullptr) *timed_out = expired;
    co_return true;
  }

  static bool wants_event_stream(const Request& req) {
    if (req.method() != http::verb::get || req.count(http::field::accept) == 0) return false;
    const std::string accept = lower_ascii(std::string(req[http::field::accept]));
    return accept.find("text/event-stream") != std::string::npos;
  }

  static std::string lower_ascii(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }

  net::awaitable<Response> handle_log(const Request& req, const Route& route, unsigned version, RequestFacts* facts) {
    const auto params = parse_query(req.target());
    if (!params.has_value()) co_return bad_parameter("query", "is malformed or repeats a parameter", version);
    auto param = [&params](std::string_view name) -> const std::string* {
      for (const auto& [n, v] : *params) {
        if (n == name) return &v;
      }
      return nullptr;
    };
    constexpr std::int64_t kIndexMax = std::numeric_limits<std::int64_t>::max() / 2;  // no overflow in end math
    switch (route.kind) {
      case Route::Kind::kLogCheckpoint:
      case Route::Kind::kLogPublicKey: {
        const bool key = route.kind == Route::Kind::kLogPublicKey;
        std::function<LogAnswer(pqxx::transaction_base&)> read = [key](pqxx::transaction_base& tx) {
          const std::optional<StoredCheckpoint> c = read_latest_log_checkpoint(tx);
          if (!c) return log_failure(LogAnswer::Kind::kNoCheckpoint, "");
          LogAnswer ok;
          ok.body = key ? c->verifier_key + "\n" : c->note;  // the note already ends in its newline
          return ok;
        };
        LogAnswer a = co_await read_log(std::move(read));
        if (a.kind != LogAnswer::Kind::kOk) co_return log_failure_response(a, version);
        co_return text_response(std::move(a.body), version);
      }
      case Route::Kind::kLogConsistency: {
        const std::string* first_text = param("first");
        if (first_text == nullptr) co_return bad_parameter("first", "is required (a tree size)", version);
        const auto first = integer_parameter(*first_text, 0, kIndexMax);
        if (!first) co_return bad_parameter("first", "must be a whole number (a tree size)", version);
        std::optional<std::int64_t> second;
        if (const std::string* text = param("second")) {
          second = integer_parameter(*text, 0, kIndexMax);
          if (!second) co_return bad_parameter("second", "must be a whole number (a tree size)", version);
        }
        std::function<LogAnswer(pqxx::transaction_base&)> read = [m = *first, second](pqxx::transaction_base& tx) {
          const std::optional<StoredCheckpoint> c = read_latest_log_checkpoint(tx);
          if (!c) return log_failure(LogAnswer::Kind::kNoCheckpoint, "");
          const std::int64_t n = second.value_or(c->tree_size);
          if (n > c->tree_size) {
            return log_failure(LogAnswer::Kind::kBadParameter,
                               "must not exceed the latest checkpoint's tree size, " + std::to_string(c->tree_size),
                               "second");
          }
          if (m > n) {
            return log_failure(LogAnswer::Kind::kBadParameter,
                               "must not exceed second (" + std::to_string(n) + ")", "first");
          }
          std::vector<MerkleHash> proof;
          if (Status s = log_consistency_proof(tx, static_cast<std::uint64_t>(m), static_cast<std::uint64_t>(n), &proof);
              !s.ok()) {
            return log_failure(LogAnswer::Kind::kInternal, s.message());
          }
          LogAnswer ok;
          ok.body = "{\"first\":" + std::to_string(m) + ",\"second\":" + std::to_string(n) + ",\"proof\":[";
          for (std::size_t i = 0; i < proof.size(); ++i) ok.body += (i ? ",\"" : "\"") + merkle_base64(proof[i]) + "\"";
          ok.body += "]}";
          return ok;
        };
        LogAnswer a = co_await read_log(std::move(read));
        if (a.kind != LogAnswer::Kind::kOk) co_return log_failure_response(a, version);
        co_return json_response(http::status::ok, std::move(a.body), version);
      }
      case Route::Kind::kLogLeaves: {
        const std::string* start_text = param("start");
        const std::string* end_text = param("end");
        if (start_text == nullptr) co_return bad_parameter("start", "is required (a leaf index)", version);
        if (end_text == nullptr) co_return bad_parameter("end", "is required (a leaf index past the last one)", version);
        const auto start = integer_parameter(*start_text, 0, kIndexMax);
        if (!start) co_return bad_parameter("start", "must be a whole number (a leaf index)", version);
        const auto end = integer_parameter(*end_text, 1, kIndexMax);
        if (!end) co_return bad_parameter("end", "must be a whole number from 1 (a leaf index past the last one)", version);
        if (*start >= *end) co_return bad_parameter("start", "must be less than end", version);
        std::function<LogAnswer(pqxx::transaction_base&)> read = [s = *start, e = *end](pqxx::transaction_base& tx) {
          // Leaves are written with the checkpoint that covers them, so the log's size is a checkpoint's.
          const std::int64_t size = read_log_size(tx);
          if (e > size) {
            return log_failure(LogAnswer::Kind::kBadParameter,
                               "must not exceed the tree size, " + std::to_string(size), "end");
          }
          const std::int64_t clipped = std::min<std::int64_t>(e, s + static_cast<std::int64_t>(kLogLeavesPageMax));
          rapidjson::StringBuffer buffer;
          rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
          w.StartObject();
          w.Key("start");
          w.Int64(s);
          w.Key("end");
          w.Int64(clipped);
          w.Key("tree_size");
          w.Int64(size);
          w.Key("leaves");
          w.StartArray();
          for (const LogLeaf& leaf : read_log_leaves(tx, s, clipped)) {
            w.StartObject();
            w.Key("leaf_index");
            w.Int64(leaf.leaf_index);
            w.Key("leaf_data");
            w.String(leaf.leaf_data.data(), static_cast<rapidjson::SizeType>(leaf.leaf_data.size()));
            w.Key("leaf_hash");
            const std::string hash = merkle_base64(leaf.leaf_hash);
            w.String(hash.data(), static_cast<rapidjson::SizeType>(hash.size()));
            w.EndObject();
          }
          w.EndArray();
          w.Key("next");
          if (clipped < e) {
            const std::string next = "/log/leaves?start=" + std::to_string(clipped) + "&end=" + std::to_string(e);
            w.String(next.data(), static_cast<rapidjson::SizeType>(next.size()));
          } else {
            w.Null();
          }
          w.EndObject();
          LogAnswer ok;
          ok.body.assign(buffer.GetString(), buffer.GetSize());
          return ok;
        };
        LogAnswer a = co_await read_log(std::move(read));
        if (a.kind != LogAnswer::Kind::kOk) co_return log_failure_response(a, version);
        co_return json_response(http::status::ok, std::move(a.body), version);
      }
      case Route::Kind::kRecordProof: {
        std::string id;
        if (!parse_uuid(route.id, &id)) {
          Problem problem{400, "invalid-id", "Invalid credit id", "the id in the path is not a UUID"};
          problem.errors.push_back({"id", "must be a UUID like 800d4116-9d79-5774-bcc1-b5c8a8b69bcc"});
          co_return problem_response(problem, version, true);
        }
        std::function<LogAnswer(pqxx::transaction_base&)> read = [id](pqxx::transaction_base& tx) {
          RecordProof proof;
          const Status s = read_record_proof(tx, id, &proof);
          if (s.IsNotFound()) return log_failure(LogAnswer::Kind::kNotFound, "no credit with this id is in the ledger");
          if (s.IsUnavailable()) return log_failure(LogAnswer::Kind::kNoCheckpoint, s.message());
          if (!s.ok()) return log_failure(LogAnswer::Kind::kInternal, s.message());
          LogAnswer ok;
          ok.body = record_proof_json(proof);
          return ok;
        };
        LogAnswer a = co_await read_log(std::move(read));
        if (a.kind != LogAnswer::Kind::kOk) co_return log_failure_response(a, version);
        co_return json_response(http::status::ok, std::move(a.body), version);
      }
      case Route::Kind::kEvents:
        co_return co_await handle_events(req, *params, version, facts);
      default:
        break;
    }
    co_return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
  }

  // GET /events: the whole log in leaf order, keyset-paged by cursor; ?wait= long-polls at the head; with
  // Accept: text/event-stream the session streams it instead (see stream_events). Leaves are only ever made
  // below the snapshot horizon, in commit-visibility order, so reading by leaf index never skips an event that
  // commits late: it becomes a later leaf.
  net::awaitable<Response> handle_events(const Request& req, const std::vector<std::pair<std::string, std::string>>& params,
                                         unsigned version, RequestFacts* facts) {
    std::int64_t start = 0;
    std::int64_t limit = kEventsLimitDefault;
    int wait_s = 0;
    for (const auto& [name, value] : params) {
      if (name == "after") {
        const auto next = parse_events_cursor(value);
        if (!next) co_return bad_parameter(name, "must be a cursor from an earlier answer of /events", version);
        start = *next;
      } else if (name == "limit") {
        const auto n = integer_parameter(value, 1, static_cast<std::int64_t>(kLogLeavesPageMax));
        if (!n) co_return bad_parameter(name, "must be a whole number from 1 to " + std::to_string(kLogLeavesPageMax), version);
        limit = *n;
      } else if (name == "wait") {
        const auto n = integer_parameter(value, 0, kEventsWaitMaxSeconds);
        if (!n) co_return bad_parameter(name, "must be a whole number of seconds from 0 to " +
                                                  std::to_string(kEventsWaitMaxSeconds), version);
        wait_s = static_cast<int>(*n);
      }
    }
    if (wants_event_stream(req)) {
      // An EventSource resuming sends the last id it saw; it wins over ?after (the page it was opened with).
      if (req.count("Last-Event-ID") > 0) {
        const auto next = parse_events_cursor(std::string(req["Last-Event-ID"]));
        if (!next) {
          Problem problem{400, "invalid-last-event-id", "Invalid Last-Event-ID header",
                          "Last-Event-ID must be an event id from an earlier stream of /events"};
          problem.errors.push_back({"Last-Event-ID", "must be an event id from an earlier stream"});
          co_return problem_response(problem, version, true);
        }
        start = *next;
      }
      if (sse_streams_.load() >= kEventStreamsMax) {
        Response res = problem_response({503, "too-many-event-streams", "Too many event streams",
                                         "this server already streams to " + std::to_string(kEventStreamsMax) +
                                             " clients; retry shortly"},
                                        version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        co_return res;
      }
      facts->event_stream_start = start;  // the session writes the stream
      Response res{http::status::ok, version};
      co_return res;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
    LogAnswer a;
    for (;;) {
      const std::uint64_t seen = sealed_generation_.load();
      a = co_await read_events(start, limit, false);
      if (a.kind != LogAnswer::Kind::kOk) co_return log_failure_response(a, version);
      if (a.count > 0 || stopping_ || std::chrono::steady_clock::now() >= deadline) break;
      if (!co_await wait_for_seal(seen, deadline, true)) {
        Response res = problem_response({503, "too-many-waiting-reads", "Too many reads waiting for the log",
                                         "this server already holds " + std::to_string(kLogWaitersMax) +
                                             " reads waiting for new events; retry shortly"},
                                        version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        co_return res;
      }
    }
    const std::string next = "/events?after=" + events_cursor(a.next) + "&limit=" + std::to_string(limit);
    co_return json_response(http::status::ok,
                            "{\"events\":" + a.body + ",\"next\":\"" + next + "\"}", version);
  }

  // Writes `text` to the stream within the write timeout. False when the client is gone or too slow.
  net::awaitable<bool> write_stream_text(beast::tcp_stream& stream, const std::string& text) {
    stream.expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
    auto [ec, n] = co_await net::async_write(stream, net::buffer(text), net::as_tuple(net::use_awaitable));
    (void)n;
    co_return !ec;
  }

  // The Server-Sent Events answer of GET /events, after its header: what exists after `start`, then each seal's
  // new leaves, a comment every kEventStreamKeepAlive so proxies and clients know it is alive, for at most
  // kEventStreamMax (the client reconnects with Last-Event-ID). No database connection is held while waiting.
  net::awaitable<void> stream_events(beast::tcp_stream& stream, std::int64_t start) {
    const auto ends = std::chrono::steady_clock::now() + kEventStreamMax;
    const std::string retry = "retry: " + std::to_string(kEventStreamRetryMs) + "\n\n";
    const std::string keep_alive = ": keep-alive\n\n";
    if (!co_await write_stream_text(stream, retry)) co_return;
    std::int64_t next = start;
    while (!stopping_) {
      const std::uint64_t seen = sealed_generation_.load();
      LogAnswer a = co_await read_events(next, static_cast<std::int64_t>(kLogLeavesPageMax), true);
      if (a.kind != LogAnswer::Kind::kOk) {
        // Unreadable for now: end the stream; the client reconnects (after `retry`) where it left off.
        log_line(LogLevel::kWarn, "event stream ended: the log could not be read: " + a.detail);
        co_return;
      }
      if (a.count > 0) {
        if (!co_await write_stream_text(stream, a.body)) co_return;
        next = a.next;
        continue;  // maybe more than a page: read on before waiting
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= ends) co_return;
      bool timed_out = false;
      const auto until = std::min<std::chrono::steady_clock::time_point>(ends, now + kEventStreamKeepAlive);
      (void)co_await wait_for_seal(seen, until, false, &timed_out);
      if (timed_out && std::chrono::steady_clock::now() < ends && !stopping_) {
        if (!co_await write_stream_text(stream, keep_alive)) co_return;
      }
    }
  }


  net::awaitable<Response> handle_list_records(const Request& req, unsigned version) {
    const auto params = parse_query(req.target());
    if (!params.has_value()) co_return bad_parameter("query", "is malformed or repeats a parameter", version);
    RecordQuery query;
    query.kind = RecordQuery::Kind::kList;
    RecordFilter& f = query.filter;
    for (const auto& [name, value] : *params) {
      if (name == "holder" || name == "registry") {
        std::string text = value;
        if (!validate_name(&text).empty()) co_return bad_parameter(name, "must be 1 to 200 visible characters", version);
        (name == "holder" ? f.holder : f.registry) = std::move(text);
      } else if (name == "status") {
        if (!parse_status(value).has_value()) {
          co_return bad_parameter(name, "must be CREATED, SOLD, RETIRED or CANCELLED", version);
        }
        f.status = value;
      } else if (name == "vintage") {
        const auto vintage = integer_parameter(value, 0, 9999);
        if (!vintage) co_return bad_parameter(name, "must be a year", version);
        f.vintage = static_cast<int>(*vintage);
      } else if (name == "parent" || name == "cursor") {
        std::string id;
        if (!parse_uuid(value, &id)) co_return bad_parameter(name, "must be a credit id (a UUID)", version);
        (name == "parent" ? f.parent : f.after) = std::move(id);
      } else if (name == "serial_number") {
        std::string text;
        if (!normalize_text(value, kSerialNumberMaxChars, &text).empty()) {
          co_return bad_parameter(name, "must be 1 to " + std::to_string(kSerialNumberMaxChars) +
                                            " visible characters", version);
        }
        f.serial_number = std::move(text);
      } else if (name == "unit") {
        const auto unit = integer_parameter(value, 0, kUnitNumberLimit - 1);
        if (!unit) co_return bad_parameter(name, "must be a unit number from 0 to 10^15 - 1", version);
        f.unit = *unit;
      } else if (name == "limit") {
        const auto limit = integer_parameter(value, 1, kListLimitMax);
        if (!limit) co_return bad_parameter(name, "must be a whole number from 1 to " + std::to_string(kListLimitMax), version);
        f.limit = static_cast<int>(*limit);
      }
    }
    if (f.unit && !f.registry) co_return bad_parameter("unit", "needs registry (units are numbered per registry)", version);
    if (f.serial_number && !f.registry) {
      co_return bad_parameter("serial_number", "needs registry (serial numbers are unique per registry)", version);
    }
    std::optional<Response> failure;
    RecordLookup lookup;
    co_await read_records(query, &failure, &lookup, version);
    if (failure.has_value()) co_return std::move(*failure);
    Response res = json_response(http::status::ok, std::move(lookup.json), version);
    if (lookup.next_cursor.has_value()) {
      // The same query with the cursor replaced: the next page.
      std::string next = "/records?";
      bool first = true;
      for (const auto& [name, value] : *params) {
        if (name == "cursor") continue;
        next += (first ? "" : "&") + percent_encode(name) + "=" + percent_encode(value);
        first = false;
      }
      next += (first ? "" : "&") + std::string("cursor=") + *lookup.next_cursor;
      res.set(http::field::link, "<" + next + ">; rel=\"next\"");
    }
    co_return res;
  }

  // GET /records/{id}/certificate (HTML, ?format=pdf) and /records/{id}/certificate.proof: a RETIRED record's
  // retirement certificate, proved against the latest signed checkpoint (query/certificate.h).
  net::awaitable<Response> handle_certificate(const Request& req, const Route& route, unsigned version) {
    std::string id;
    if (!parse_uuid(route.id, &id)) {
      Problem problem{400, "invalid-id", "Invalid credit id", "the id in the path is not a UUID"};
      problem.errors.push_back({"id", "must be a UUID like 800d4116-9d79-5774-bcc1-b5c8a8b69bcc"});
      co_return problem_response(problem, version, true);
    }
    const auto params = parse_query(req.target());
    if (!params.has_value()) co_return bad_parameter("query", "is malformed or repeats a parameter", version);
    const bool proof_route = route.kind == Route::Kind::kCertificateProof;
    bool pdf = false;
    for (const auto& [name, value] : *params) {
      if (name != "format") continue;
      if (proof_route) co_return bad_parameter(name, "is not taken here: the proof bundle is JSON only", version);
      if (value != "pdf") co_return bad_parameter(name, "must be pdf (or left out for the HTML page)", version);
      pdf = true;
    }
    std::function<CertificateRead(WorkerConnection&)> read = [id](WorkerConnection& connection) {
      return read_certificate(connection, id);
    };
    CertificateRead busy;
    busy.kind = CertificateRead::Kind::kUnavailable;
    busy.detail = "the certificate queue is full; retry shortly";
    CertificateRead found = co_await run_on_database<CertificateRead>(certificate_workers_, std::move(read), std::move(busy));
    if (found.kind != CertificateRead::Kind::kOk) co_return certificate_failure_response(found, version);
    if (proof_route) {
      co_return json_response(http::status::ok,
                              record_proof_json(found.proof, "\"certificate\":" + certificate_json(found.certificate)),
                              version);
    }
    std::string html = certificate_html(found.certificate, found.proof);
    if (!pdf) {
      Response res{http::status::ok, version};
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.set("Content-Security-Policy", kCertificateCsp);
      res.set("Referrer-Policy", "no-referrer");
      res.set(http::field::cache_control, "no-cache");  // a later checkpoint proves it again, at a larger size
      res.body() = std::move(html);
      co_return res;
    }
    co_return co_await certificate_pdf_response(std::move(html), id, version);
  }

  // What one certificate read found: the record's certificate and its proof, or why there is none.
  struct CertificateRead {
    enum class Kind { kOk, kNotFound, kNotRetired, kNotYetInLog, kUnavailable, kInternal };
    Kind kind = Kind::kInternal;
    Certificate certificate;
    RecordProof proof;
    std::string current_status;  // kNotRetired
    std::string detail;
  };

  // On a certificate worker (blocking): the read-model record and the log's proof of its stream in one read-only
  // REPEATABLE READ transaction, so the checkpoint, the leaves and the record are one snapshot. A session
  // PostgreSQL ended while idle is replaced once.
  static CertificateRead read_certificate(WorkerConnection& connection, const std::string& id) {
    CertificateRead read;
    for (int attempt = 1; attempt <= 2; ++attempt) {
      Status error;
      pqxx::connection* conn = connection.get(&error);
      if (conn == nullptr) {
        read.kind = CertificateRead::Kind::kUnavailable;
        read.detail = error.message();
        return read;
      }
      try {
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "certificate");
        const pqxx::result rows = tx.exec_params(
            std::string("SELECT ") + kCreditRecordSelect + " FROM credit_records WHERE id = $1::uuid", id);
        if (rows.empty()) {
          read.kind = CertificateRead::Kind::kNotFound;
          return read;
        }
        CreditRecord record;
        if (Status s = record_from_row(rows[0], &record); !s.ok()) {
          read.kind = CertificateRead::Kind::kInternal;
          read.detail = s.message();
          return read;
        }
        RecordProof proof;
        if (record.state.status == CreditStatus::kRetired) {  // else no proof is needed to refuse
          const Status proved = read_record_proof(tx, id, &proof);
          if (proved.IsUnavailable()) {  // no checkpoint at all yet
            read.kind = CertificateRead::Kind::kNotYetInLog;
            read.detail = "the log has no signed checkpoint yet; retry shortly";
            return read;
          }
          if (!proved.ok()) {  // NotFound: a projected record without events is not something the projector makes
            read.kind = CertificateRead::Kind::kInternal;
            read.detail = proved.ToString();
            return read;
          }
        }
        tx.commit();
        const CertificateOutcome outcome = build_certificate(record, proof, &read.certificate);
        read.current_status = outcome.current_status;
        read.detail = outcome.detail;
        switch (outcome.kind) {
          case CertificateOutcome::Kind::kOk: read.kind = CertificateRead::Kind::kOk; break;
          case CertificateOutcome::Kind::kNotRetired: read.kind = CertificateRead::Kind::kNotRetired; break;
          case CertificateOutcome::Kind::kNotYetInLog: read.kind = CertificateRead::Kind::kNotYetInLog; break;
          case CertificateOutcome::Kind::kInternal: read.kind = CertificateRead::Kind::kInternal; break;
        }
        if (read.kind == CertificateRead::Kind::kOk) read.proof = std::move(proof);
        return read;
      } catch (const std::exception& e) {
        const bool lost = is_connection_failure(e);
        if (lost) connection.discard();
        read.kind = lost || is_timeout(e) ? CertificateRead::Kind::kUnavailable : CertificateRead::Kind::kInternal;
        read.detail = single_line(e.what());
        if (!lost) return read;
      }
    }
    return read;
  }

  Response certificate_failure_response(const CertificateRead& read, unsigned version) {
    switch (read.kind) {
      case CertificateRead::Kind::kNotFound:
        return problem_response({404, "credit-not-found", "Credit not found",
                                 "no credit with this id is in the read model (it may not be projected yet)"},
                                version, true);
      case CertificateRead::Kind::kNotRetired: {
        Problem problem{409, "not-retired", "The credit is not retired", read.detail};
        problem.current_status = read.current_status;
        return problem_response(problem, version, true);
      }
      case CertificateRead::Kind::kNotYetInLog: {
        Response res = problem_response({409, "not-yet-in-log", "The retirement is not in the log yet", read.detail},
                                        version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        return res;
      }
      case CertificateRead::Kind::kUnavailable: {
        Response res = problem_response(
            {503, "database-unavailable", "The ledger database is unavailable", read.detail}, version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        return res;
      }
      case CertificateRead::Kind::kOk:
      case CertificateRead::Kind::kInternal:
        break;
    }
    log_line(LogLevel::kError, "certificate read failed: " + read.detail);
    return problem_response({500, "internal-error", "Internal error", "the certificate could not be made"}, version,
                            true);
  }

  // The page printed by headless Chromium on the renderer's threads (server/pdf_renderer.h), at most
  // PdfRendererOptions::renders_max at once.
  net::awaitable<Response> certificate_pdf_response(std::string html, const std::string& id, unsigned version) {
    if (!pdf_browser_available(pdf_renderer_.options())) {
      co_return problem_response({501, "pdf-unavailable", "PDF rendering is unavailable",
                                  "this server cannot print PDFs: " + pdf_renderer_.options().browser_path +
                                      " (Debian package chromium) is not installed; the HTML page prints as well"},
                                 version, true);
    }
    PdfRender busy;
    busy.status = Status::Unavailable("the server is already printing " +
                                      std::to_string(pdf_renderer_.options().renders_max) +
                                      " certificates, the most it prints at once; retry shortly");
    std::function<bool(std::function<void(PdfRender)>)> start = [this, &html](std::function<void(PdfRender)> done) {
      return pdf_renderer_.submit(std::move(html), std::move(done));
    };
    PdfRender render = co_await await_completion<PdfRender>(std::move(start), std::move(busy));
    if (render.status.ok()) {
      Response res{http::status::ok, version};
      res.set(http::field::content_type, "application/pdf");
      res.set(http::field::content_disposition, "inline; filename=\"certificate-" + id + ".pdf\"");
      res.set(http::field::cache_control, "no-cache");
      res.body() = std::move(render.pdf);
      co_return res;
    }
    if (render.status.IsNotFound()) {  // uninstalled since the check above
      co_return problem_response({501, "pdf-unavailable", "PDF rendering is unavailable", render.status.message()},
                                 version, true);
    }
    if (render.status.IsUnavailable()) {  // busy, or the browser timed out
      Response res = problem_response({503, "pdf-busy", "PDF rendering is busy", render.status.message()}, version, true);
      res.set(http::field::retry_after, kRetryAfterSeconds);
      co_return res;
    }
    log_line(LogLevel::kError, "certificate PDF failed: " + render.status.message());
    co_return problem_response({500, "internal-error", "Internal error", "the certificate could not be printed"},
                               version, true);
  }

  static std::string percent_encode(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(c);
      } else {
        out.push_back('%');
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      }
    }
    return out;
  }

  // Decodes the body into a command; on failure fills *problem.
  template <typename T>
  static bool decode_body(const ParsedRequest<T>& parsed, Problem* problem) {
    using Outcome = typename ParsedRequest<T>::Outcome;
    if (parsed.outcome == Outcome::kMalformed) {
      *problem = {400, "malformed-json", "Malformed JSON body", parsed.detail};
      return false;
    }
    if (parsed.outcome == Outcome::kInvalid) {
      *problem = {422, "invalid-fields", "Invalid fields", parsed.detail};
      problem->errors = parsed.errors;
      return false;
    }
    return true;
  }

  // *outcome: the appender's result, when the command got that far.
  net::awaitable<Response> handle_command(const Request& req, const Route& route, const std::string& request_id,
                                          const Actor& actor, CreditCommandResult* outcome) {
    const unsigned version = req.version();
    const std::string& body = req.body();
    const bool body_present = body.find_first_not_of(" \t\r\n") != std::string::npos;
    if (body_present && req.count(http::field::content_type) > 0 &&
        !is_json_content_type(req[http::field::content_type])) {
      co_return problem_response({415, "unsupported-media-type", "Unsupported media type",
                                  "commands take Content-Type: application/json"},
                                 version, true);
    }
    CreditCommandRequest command;
    command.request_id = request_id;
    command.actor = actor;
    if (req.count(http::field::if_match) > 0) {
      // Several If-Match lines are one comma-separated list (RFC 9110 5.3).
      std::string if_match_value;
      for (auto [it, end] = req.equal_range(http::field::if_match); it != end; ++it) {
        if (!if_match_value.empty()) if_match_value += ", ";
        if_match_value.append(it->value().data(), it->value().size());
      }
      std::optional<VersionPrecondition> if_match = parse_if_match(if_match_value);
      if (!if_match.has_value()) {
        Problem problem{400, "invalid-if-match", "Invalid If-Match header",
                        "If-Match takes * or entity tags like \"2\" (the version from an ETag)"};
        problem.errors.push_back({"If-Match", "must be * or a list of quoted versions"});
        co_return problem_response(problem, version, true);
      }
      command.if_match = std::move(if_match);
    }
    std::optional<std::string> in_flight_key;  // this request's (account, Idempotency-Key) while it runs
    if (req.count("Idempotency-Key") > 0) {
      const std::string key(req["Idempotency-Key"]);
      if (std::string problem = check_idempotency_key(key); !problem.empty()) {
        Problem bad{400, "invalid-idempotency-key", "Invalid Idempotency-Key header", "Idempotency-Key " + problem};
        bad.errors.push_back({"Idempotency-Key", problem});
        co_return problem_response(bad, version, true);
      }
      IdempotencyRequest idempotency;
      idempotency.key = key;
      idempotency.request_sha256 = request_fingerprint(req.method_string(), req.target(), body);
      idempotency.render = [](const CreditCommandResult& result) -> std::optional<StoredResponse> {
        if (!is_storable_result(result)) return std::nullopt;
        return command_response(result);
      };
      command.idempotency = std::move(idempotency);
      in_flight_key = actor.account + '\n' + key;
      std::lock_guard<std::mutex> lock(idempotency_mutex_);
      if (!idempotency_in_flight_.insert(*in_flight_key).second) {
        Response res = problem_response({409, "idempotency-key-in-use", "A request with this Idempotency-Key is running",
                                         "the first request with this Idempotency-Key has not been answered yet; "
                                         "retry after it has"},
                                        version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        co_return res;
      }
    }
    // Released however this coroutine ends.
    struct InFlightRelease {
      Server* server;
      std::optional<std::string> key;
      ~InFlightRelease() {
        if (!key) return;
        std::lock_guard<std::mutex> lock(server->idempotency_mutex_);
        server->idempotency_in_flight_.erase(*key);
      }
    } release{this, in_flight_key};
    Problem problem;
    if (route.kind == Route::Kind::kRegister) {
      auto parsed = parse_register_request(body);
      if (!decode_body(parsed, &problem)) co_return problem_response(problem, version, true);
      command.credit_id = credit_id(parsed.value.attributes.registry, parsed.value.attributes.serial_number);
      command.command = std::move(parsed.value);
    } else {
      if (!parse_uuid(route.id, &command.credit_id)) {
        Problem bad_id{400, "invalid-id", "Invalid credit id", "the id in the path is not a UUID"};
        bad_id.errors.push_back({"id", "must be a UUID like 800d4116-9d79-5774-bcc1-b5c8a8b69bcc"});
        co_return problem_response(bad_id, version, true);
      }
      if (route.kind == Route::Kind::kSell) {
        auto parsed = parse_sell_request(body);
        if (!decode_body(parsed, &problem)) co_return problem_response(problem, version, true);
        command.command = std::move(parsed.value);
      } else if (route.kind == Route::Kind::kCancel) {
        auto parsed = parse_cancel_request(body);
        if (!decode_body(parsed, &problem)) co_return problem_response(problem, version, true);
        command.command = std::move(parsed.value);
      } else {
        auto parsed = parse_retire_request(body);
        if (!decode_body(parsed, &problem)) co_return problem_response(problem, version, true);
        command.command = std::move(parsed.value);
      }
    }

    CreditCommandResult busy;
    busy.kind = CreditCommandResult::Kind::kUnavailable;
    busy.detail = "the server is at its limit of queued commands; retry shortly";
    std::function<bool(std::function<void(CreditCommandResult)>)> submit =
        [this, &command](std::function<void(CreditCommandResult)> complete) {
          return appender_.submit(command, std::move(complete));
        };
    CreditCommandResult result = co_await await_completion<CreditCommandResult>(std::move(submit), std::move(busy));
    *outcome = result;

    using Kind = CreditCommandResult::Kind;
    if (result.kind == Kind::kInternal) {
      log_line(LogLevel::kError, "command failed request_id=" + request_id + ": " + result.detail);
    }
    const bool replayed = result.kind == Kind::kReplayed;
    const StoredResponse answer = replayed ? *result.replayed : command_response(result);
    Response res{static_cast<http::status>(answer.status), version};
    res.set(http::field::content_type, answer.status < 300 ? "application/json" : "application/problem+json");
    res.body() = answer.body;
    if (!answer.location.empty()) res.set(http::field::location, answer.location);
    if (!answer.etag.empty()) res.set(http::field::etag, answer.etag);
    if (replayed) res.set("Idempotency-Replayed", "true");
    if (result.kind == Kind::kUnavailable || result.kind == Kind::kOutcomeUnknown) {
      res.set(http::field::retry_after, kRetryAfterSeconds);
    }
    co_return res;
  }

  const ServerOptions options_;
  ServeMetrics metrics_;  // read by GET /metrics; watches the appender, reader, health workers and keys below
  net::io_context io_;
  AccessLog access_log_{STDERR_FILENO};
  CreditAppender appender_;
  RecordReader reader_;
  DatabaseWorkers health_workers_;  // its own connection, so /healthz answers even when the queues are full
  DatabaseWorkers log_workers_;     // log reads: read-only REPEATABLE READ transactions, one per request
  // Certificates: two connections of their own (a read holds one REPEATABLE READ snapshot for the record and
  // its proofs), and the PDF printer's browsers. Declared after io_: they stop (finishing their jobs) first.
  DatabaseWorkers certificate_workers_{options_.database_url, DatabaseLimits(), 2, 64};
  PdfRenderer pdf_renderer_{PdfRendererOptions{}};
  Authenticator authenticator_;     // the active API keys in memory, kept current on a thread of its own
  SlotLimiter connection_slots_;    // open connections, in total and per peer address
  SlotLimiter command_slots_;       // commands in flight per API key
  const std::string refusal_total_;  // canned answers of refused connections
  const std::string refusal_peer_;
  std::mutex health_mutex_;
  HealthStatus health_;             // guarded by health_mutex_; written by probe_health_periodically
  std::atomic<std::size_t> requests_in_flight_{0};
  std::mutex idempotency_mutex_;
  std::set<std::string> idempotency_in_flight_;  // "account\nkey" of commands with a key not yet answered
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> projected_generation_{0};  // projector batches seen; read before each re-read
  std::mutex waiters_mutex_;
  std::set<std::shared_ptr<VersionWaiter>> waiters_;  // guarded by waiters_mutex_
  std::atomic<std::uint64_t> sealed_generation_{0};  // log_sealed wake-ups seen; read before each re-read
  std::mutex log_waiters_mutex_;
  std::set<std::shared_ptr<LogWaiter>> log_waiters_;  // guarded by log_waiters_mutex_
  std::atomic<std::size_t> sse_streams_{0};          // event streams open now
  // Last: it calls on_projected from its thread, so it stops (in run(), and at the latest here) first.
  ProjectionListener projection_listener_{ProjectionListenerOptions{options_.database_url}, [this] { on_projected(); },
                                          [this] { on_log_sealed(); }};
};

}  // namespace

void fit_connection_limits(ServerOptions* options) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    const rlim_t before = limit.rlim_cur;
    // An unlimited hard limit is not a value the kernel takes for the soft one: stop at a million.
    const rlim_t target = limit.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(before, 1048576) : limit.rlim_max;
    if (before != RLIM_INFINITY && before < target) {
      limit.rlim_cur = target;
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) getrlimit(RLIMIT_NOFILE, &limit);
    }
    log_to_stderr("serve", LogLevel::kInfo,
                  "descriptor limit (RLIMIT_NOFILE) " + std::to_string(limit.rlim_cur) + " (was " +
                      std::to_string(before) + ", hard " + std::to_string(limit.rlim_max) + ")");
    // Database connections: appenders, readers, health, keys; each may hold a second descriptor while
    // it reconnects.
    const std::size_t database = options->appender.threads + options->reader.threads + 2 + kLogReadThreads;
    const std::size_t reserve = kDescriptorsReservedBase + 2 * database;
    if (limit.rlim_cur != RLIM_INFINITY) {
      const std::size_t usable =
          limit.rlim_cur > reserve ? static_cast<std::size_t>(limit.rlim_cur) - reserve : std::size_t{1};
      if (options->connections_max > usable) {
        log_to_stderr("serve", LogLevel::kWarn,
                      "LEDGER_MAX_CONNECTIONS lowered from " + std::to_string(options->connections_max) + " to " +
                          std::to_string(usable) + ": the descriptor limit is " + std::to_string(limit.rlim_cur) +
                          " and " + std::to_string(reserve) +
                          " are kept for database connections, their reconnects and the process itself");
        options->connections_max = usable;
      }
    }
  }
  if (options->connections_per_peer_max == 0) {
    options->connections_per_peer_max = std::max<std::size_t>(1, options->connections_max / 4);
  }
  options->connections_per_peer_max = std::min(options->connections_per_peer_max, options->connections_max);
  log_to_stderr("serve", LogLevel::kInfo,
                "at most " + std::to_string(options->connections_max) + " connections, " +
                    std::to_string(options->connections_per_peer_max) + " per peer address");
}

int run_server(const ServerOptions& options) {
  // A closed stderr pipe must not kill the server from the log thread.
  std::signal(SIGPIPE, SIG_IGN);
  ServerOptions fitted = options;
  fit_connection_limits(&fitted);
  Server server(fitted);
  return server.run();
}

}  // namespace ledger
