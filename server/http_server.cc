// The only translation unit that includes Beast: keep it that way, builds stay fast.
#include "server/http_server.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "auth/authenticator.h"
#include "command/credit_appender.h"
#include "command/credit_commands.h"
#include "command/credit_id.h"
#include "command/credit_request.h"
#include "eventstore/database_workers.h"
#include "eventstore/uuid.h"
#include "query/record_query.h"
#include "server/access_log.h"
#include "server/http_api.h"

namespace ledger {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr const char* kRetryAfterSeconds = "1";

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
        authenticator_(AuthenticatorOptions{options.database_url, options.key_reload_interval_ms, options.keys_max}) {}

  int run() {
    // Every active API key in memory before the first request, so no key check ever waits on PostgreSQL.
    if (Status keys = authenticator_.start(); !keys.ok()) {
      std::fprintf(stderr, "serve: %s: %s\n", keys.IsInvalid() ? "refusing to start" : "API keys not loaded yet",
                   keys.message().c_str());
      if (keys.IsInvalid()) return 1;
    }
    tcp::acceptor acceptor(io_);
    beast::error_code ec;
    const auto address = net::ip::make_address(options_.address, ec);
    if (ec) {
      std::fprintf(stderr, "serve: LEDGER_HTTP_ADDRESS '%s' is not an IP address\n", options_.address.c_str());
      return 2;
    }
    const tcp::endpoint endpoint(address, options_.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      std::fprintf(stderr, "serve: cannot listen on %s:%u: %s\n", options_.address.c_str(), options_.port,
                   ec.message().c_str());
      return 1;
    }
    const auto bound = acceptor.local_endpoint();
    std::fprintf(stderr, "serve: listening on http://%s:%u\n", bound.address().to_string().c_str(), bound.port());
    std::fflush(stderr);

    net::co_spawn(io_, accept_loop(acceptor), net::detached);
    net::co_spawn(io_, flush_access_log_periodically(), net::detached);

    net::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this, &acceptor](const beast::error_code& error, int signal_number) {
      if (error) return;
      std::fprintf(stderr, "serve: signal %d, finishing in-flight requests\n", signal_number);
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
    access_log_.flush();
    appender_.stop();
    reader_.stop();
    health_workers_.stop();
    authenticator_.stop();
    std::fprintf(stderr, "serve: stopped\n");
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
      std::fprintf(stderr, "serve: %zu requests still in flight after %d ms, stopping anyway\n",
                   requests_in_flight_.load(), options_.shutdown_grace_ms);
    }
    io_.stop();
  }

  net::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(io_), net::as_tuple(net::use_awaitable));
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        // Out of descriptors and the like: pause rather than spin, then keep serving.
        std::fprintf(stderr, "serve: accept failed: %s\n", ec.message().c_str());
        net::steady_timer timer(io_, std::chrono::milliseconds(50));
        co_await timer.async_wait(net::use_awaitable);
        continue;
      }
      auto executor = socket.get_executor();
      net::co_spawn(executor, session(beast::tcp_stream(std::move(socket))),
                    [](std::exception_ptr e) {
                      if (!e) return;
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::exception& ex) {
                        std::fprintf(stderr, "serve: session ended by exception: %s\n", ex.what());
                      }
                    });
    }
  }

  // One coroutine per connection (the shape of Beast's awaitable server example).
  net::awaitable<void> session(beast::tcp_stream stream) {
    struct ConnectionCount {
      std::atomic<std::size_t>& n;
      ~ConnectionCount() { --n; }
    } count{connections_};
    const bool over_capacity = ++connections_ > options_.connections_max;
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.body_limit_bytes);
      parser.header_limit(options_.header_limit_bytes);
      stream.expires_after(std::chrono::milliseconds(first ? options_.read_timeout_ms : options_.idle_timeout_ms));
      first = false;
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
        res.prepare_payload();
        log_request("-", "-", res.result_int(), started, "-");
        stream.expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
        co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
        co_await discard_unread(stream, buffer);
        break;
      }

      Request req = parser.release();
      ++requests_in_flight_;
      std::string request_id = sanitize_request_id(req["X-Request-Id"]);
      if (request_id.empty()) request_id = new_uuid_v4();
      Response res;
      if (over_capacity) {
        res = problem_response({503, "too-many-connections", "Too many connections",
                                "the server holds " + std::to_string(options_.connections_max) +
                                    " connections already; retry shortly"},
                               req.version(), false);
        res.set(http::field::retry_after, kRetryAfterSeconds);
      } else {
        res = co_await handle(req, request_id);
      }
      const bool keep_alive = req.keep_alive() && !stopping_ && !over_capacity;
      res.version(req.version());
      res.keep_alive(keep_alive);
      res.set("X-Request-Id", request_id);
      res.prepare_payload();
      log_request(req.method_string(), req.target(), res.result_int(), started, request_id);
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

  void log_request(std::string_view method, std::string_view target, unsigned status,
                   std::chrono::steady_clock::time_point started, const std::string& request_id) {
    const double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    char line[512];
    const int n = std::snprintf(line, sizeof line, "serve: %.*s %.*s %u %.1fms request_id=%s",
                                static_cast<int>(std::min<std::size_t>(method.size(), 32)), method.data(),
                                static_cast<int>(std::min<std::size_t>(target.size(), 256)), target.data(), status,
                                duration_ms, request_id.c_str());
    if (n > 0) access_log_.append(std::string_view(line, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                                               sizeof line - 1)));
  }

  net::awaitable<void> flush_access_log_periodically() {
    net::steady_timer timer(io_);
    for (;;) {
      timer.expires_after(std::chrono::milliseconds(kAccessLogFlushIntervalMs));
      auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      access_log_.flush();
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

  net::awaitable<Response> handle(const Request& req, const std::string& request_id) {
    const Route route = match_route(req.target());
    const unsigned version = req.version();
    if (route.kind == Route::Kind::kUnknown) {
      co_return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
    }
    if (req.method_string() != route.method) {
      Response res = problem_response({405, "method-not-allowed", "Method not allowed",
                                       "this path takes " + std::string(route.method)},
                                      version, true);
      res.set(http::field::allow, route.method);
      co_return res;
    }
    if (route.kind == Route::Kind::kHealth) co_return co_await handle_health(version);

    // Every other endpoint needs an API key. Which credits the key's account may change is the decider's
    // business; here only who it is.
    std::optional<std::string_view> authorization;
    if (req.count(http::field::authorization) > 0) authorization = req[http::field::authorization];
    const AuthResult auth = authenticator_.verify(authorization);  // in memory: no database work
    if (auth.kind != AuthResult::Kind::kOk) co_return auth_failure_response(auth, version);

    switch (route.kind) {
      case Route::Kind::kHealth:
        break;
      case Route::Kind::kGetRecord:
        co_return co_await handle_get_record(route, version);  // every role may read
      case Route::Kind::kRegister:
      case Route::Kind::kSell:
      case Route::Kind::kRetire:
        co_return co_await handle_command(req, route, request_id, auth.actor);
      case Route::Kind::kUnknown:
        break;
    }
    co_return problem_response({404, "not-found", "Not found", "no endpoint at this path"}, version, true);
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

  net::awaitable<Response> handle_health(unsigned version) {
    // Named, not a temporary inside co_await: GCC 12 destroys such temporaries twice.
    std::function<Status(WorkerConnection&)> ping = [](WorkerConnection& c) { return ping_database(c); };
    Status busy = Status::Unavailable("the database queue is full");
    Status status = co_await run_on_database<Status>(health_workers_, std::move(ping), std::move(busy));
    if (!status.ok()) {
      Response res = problem_response({503, "database-unavailable", "The ledger database is unavailable",
                                       status.message()},
                                      version, true);
      res.set(http::field::retry_after, kRetryAfterSeconds);
      co_return res;
    }
    co_return json_response(http::status::ok, R"({"status":"ok"})", version);
  }

  net::awaitable<Response> handle_get_record(const Route& route, unsigned version) {
    std::string id;
    if (!parse_uuid(route.id, &id)) {
      Problem problem{400, "invalid-id", "Invalid credit id", "the id in the path is not a UUID"};
      problem.errors.push_back({"id", "must be a UUID like 800d4116-9d79-5774-bcc1-b5c8a8b69bcc"});
      co_return problem_response(problem, version, true);
    }
    RecordLookup busy;
    busy.kind = RecordLookup::Kind::kUnavailable;
    busy.detail = "the database queue is full";
    std::function<bool(std::function<void(RecordLookup)>)> submit = [this, &id](std::function<void(RecordLookup)> done) {
      return reader_.submit(id, std::move(done));
    };
    RecordLookup lookup = co_await await_completion<RecordLookup>(std::move(submit), std::move(busy));
    switch (lookup.kind) {
      case RecordLookup::Kind::kFound: {
        Response res = json_response(http::status::ok, std::move(lookup.json), version);
        res.set(http::field::etag, "\"" + std::to_string(lookup.version) + "\"");
        co_return res;
      }
      case RecordLookup::Kind::kNotFound:
        co_return problem_response({404, "credit-not-found", "Credit not found",
                                    "no credit with this id is in the read model (it may not be projected yet)"},
                                   version, true);
      case RecordLookup::Kind::kUnavailable: {
        Response res = problem_response(
            {503, "database-unavailable", "The ledger database is unavailable", lookup.detail}, version, true);
        res.set(http::field::retry_after, kRetryAfterSeconds);
        co_return res;
      }
      case RecordLookup::Kind::kInternal:
        break;
    }
    std::fprintf(stderr, "serve: record lookup failed: %s\n", lookup.detail.c_str());
    co_return problem_response({500, "internal-error", "Internal error", "the record could not be read"}, version,
                               true);
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

  net::awaitable<Response> handle_command(const Request& req, const Route& route, const std::string& request_id,
                                          const Actor& actor) {
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
      std::optional<VersionPrecondition> if_match = parse_if_match(req[http::field::if_match]);
      if (!if_match.has_value()) {
        Problem problem{400, "invalid-if-match", "Invalid If-Match header",
                        "If-Match takes * or entity tags like \"2\" (the version from an ETag)"};
        problem.errors.push_back({"If-Match", "must be * or a list of quoted versions"});
        co_return problem_response(problem, version, true);
      }
      command.if_match = std::move(if_match);
    }
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

    using Kind = CreditCommandResult::Kind;
    if (result.kind == Kind::kCreated || result.kind == Kind::kApplied) {
      Response res = json_response(result.kind == Kind::kCreated ? http::status::created : http::status::ok,
                                   credit_json(command.credit_id, result.state), version);
      res.set(http::field::etag, "\"" + std::to_string(result.state.version) + "\"");
      if (result.kind == Kind::kCreated) res.set(http::field::location, "/records/" + command.credit_id);
      co_return res;
    }
    if (result.kind == Kind::kInternal) {
      std::fprintf(stderr, "serve: command failed request_id=%s: %s\n", request_id.c_str(), result.detail.c_str());
    }
    Response res = problem_response(command_problem(result), version, true);
    if (result.kind == Kind::kUnavailable || result.kind == Kind::kOutcomeUnknown) {
      res.set(http::field::retry_after, kRetryAfterSeconds);
    }
    if (result.state.version > 0) res.set(http::field::etag, "\"" + std::to_string(result.state.version) + "\"");
    co_return res;
  }

  const ServerOptions options_;
  net::io_context io_;
  AccessLog access_log_{STDERR_FILENO};
  CreditAppender appender_;
  RecordReader reader_;
  DatabaseWorkers health_workers_;  // its own connection, so /healthz answers even when the queues are full
  Authenticator authenticator_;     // the active API keys in memory, kept current on a thread of its own
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> requests_in_flight_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace

int run_server(const ServerOptions& options) {
  Server server(options);
  return server.run();
}

}  // namespace ledger
