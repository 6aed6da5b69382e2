// HttpServer: a minimal HTTP/1.1 server on a Loop, for /metrics, /healthz
// and the web console (http_service.h). Requests are parsed by http-parser
// (Debian's libhttp-parser, the parser made for Node.js), not by hand. One
// request per connection (the reply says Connection: close); requests are
// bounded in size, body included. With a
// TLS context (set_tls) it serves HTTPS only, through net::TlsStream as
// client connections do.
//
// The owner calls Close() before the loop closes; destroy only after
// closed() is true. Loop thread only.
#ifndef HERMOD_BROKER_SERVER_HTTP_SERVER_H_
#define HERMOD_BROKER_SERVER_HTTP_SERVER_H_

#include <uv.h>

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hermod/status.h"
#include "net/tcp_listener.h"
#include "net/tls_context.h"

namespace hermod::net {

class Loop;

class HttpServer {
 public:
  struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    // More header lines, each "Name: value" (no CR LF).
    std::vector<std::string> headers;
  };
  // A complete request; the views live until the handler returns.
  struct Request {
    std::string_view method;
    std::string_view path;           // without the query
    std::string_view query;          // after '?', still percent-encoded; empty: none
    std::string_view authorization;  // the Authorization header's value; empty: none
    std::string_view content_type;   // the Content-Type header's value; empty: none
    std::string_view origin;         // the Origin header's value; empty: none
    std::string_view host;           // the Host header's value; empty: none
    std::string_view body;
    std::string_view peer;  // the client's address, HOST:PORT ([v6]:PORT)
  };
  // Answers a request, at once or later (on the loop thread). Does nothing
  // once the connection is gone (the server closed).
  using Reply = std::function<void(Response)>;
  // Called once per complete request, on the loop thread.
  using Handler = std::function<void(const Request& request, Reply reply)>;

  HttpServer(Loop& loop, Handler handler);
  ~HttpServer();  // REQUIRES: never listened, or closed()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status Listen(const std::string& host_port);
  const std::string& address() const { return tcp_.address(); }
  // HTTPS with this server context for connections accepted from now on;
  // null: plain HTTP.
  void set_tls(std::shared_ptr<const TlsContext> tls) { tls_ = std::move(tls); }
  // Stops listening and closes open connections. Idempotent.
  void Close();
  bool closed() const { return tcp_.closed() && conns_.empty(); }

  // Largest request accepted, headers included.
  static constexpr size_t kMaxRequestBytes = 16 * 1024;

 private:
  class Conn;
  friend class Conn;
  void OnConnection(uv_stream_t* server);

  Loop& loop_;
  Handler handler_;
  TcpListener tcp_;
  std::shared_ptr<const TlsContext> tls_;
  bool closing_ = false;
  std::set<Conn*> conns_;
  uint64_t next_conn_id_ = 1;
};

}  // namespace hermod::net

#endif  // HERMOD_BROKER_SERVER_HTTP_SERVER_H_
