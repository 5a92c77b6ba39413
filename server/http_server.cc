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

#include "auth/api_key.h"
#include "auth/authenticator.h"
#include "command/credit_appender.h"
#include "command/credit_commands.h"
#include "command/credit_id.h"
#include "command/credit_request.h"
#include "command/serial_numbers.h"
#include "command/text_rules.h"
#include "eventstore/database_workers.h"
#include "eventstore/log_line.h"
#include "eventstore/uuid.h"
#include "query/projection_listener.h"
#include "query/record_query.h"
#include "server/access_log.h"
#include "server/build_info.h"
#include "projector/metric_families.h"
#include "server/http_api.h"
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
constexpr const char* kDocsCsp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
// GETs waiting for a record version at once; beyond: 503 (each holds a timer and re-reads per batch).
constexpr std::size_t kVersionWaitersMax = 4096;
constexpr std::size_t kFirstBytesReadMax = 4096;    // read at once when an idle connection's next request begins

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
        co_return co_await handle_log(req, route, version);
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

  // GET /log/*, /records/{id}/proof and /events (docs/audit.md).
  net::awaitable<Response> handle_log(const Request& req, const Route& route, unsigned version) {
    (void)req;
    (void)route;
    co_return problem_response({501, "not-implemented", "Not implemented", "not yet"}, version, true);
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

  // GET /records/{id}/certificate (HTML, ?format=pdf) and /records/{id}/certificate.proof.
  net::awaitable<Response> handle_certificate(const Request& req, const Route& route, unsigned version) {
    (void)req;
    (void)route;
    co_return problem_response({501, "not-implemented", "Not implemented", "not yet"}, version, true);
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
  // Last: it calls on_projected from its thread, so it stops (in run(), and at the latest here) first.
  ProjectionListener projection_listener_{ProjectionListenerOptions{options_.database_url}, [this] { on_projected(); }};
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
    const std::size_t database = options->appender.threads + options->reader.threads + 2;
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
