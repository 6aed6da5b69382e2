#include "http_server.h"

#include <http_parser.h>

#include <memory>

#include "check.h"
#include "net/address.h"
#include "net/loop.h"
#include "net/uv_status.h"

namespace hermod::net {

// One HTTP connection: parses one request, writes one response, closes.
// Owns itself; freed in its close callback.
class HttpServer::Conn {
 public:
  Conn(HttpServer* server, uint64_t conn_id) : server_(server), conn_id_(conn_id) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_url = [](http_parser* p, const char* at, size_t n) noexcept {
      static_cast<Conn*>(p->data)->url_.append(at, n);
      return 0;
    };
    settings_.on_header_field = [](http_parser* p, const char* at, size_t n) noexcept {
      auto* self = static_cast<Conn*>(p->data);
      if (self->in_value_) self->field_.clear();
      self->in_value_ = false;
      self->field_.append(at, n);
      return 0;
    };
    settings_.on_header_value = [](http_parser* p, const char* at, size_t n) noexcept {
      auto* self = static_cast<Conn*>(p->data);
      self->in_value_ = true;
      if (IsAuthorization(self->field_)) self->authorization_.append(at, n);
      return 0;
    };
    settings_.on_message_complete = [](http_parser* p) noexcept {
      static_cast<Conn*>(p->data)->complete_ = true;
      return 0;
    };
  }

  Status Accept(uv_stream_t* listener) {
    uv_tcp_init(server_->loop_.uv(), &tcp_);
    tcp_.data = this;
    open_ = true;
    Status s = FromUv(uv_accept(listener, stream()), "accept");
    if (s.ok()) {
      sockaddr_storage addr{};
      int len = sizeof addr;
      if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        peer_ = FormatAddress(reinterpret_cast<sockaddr*>(&addr));
      }
      s = FromUv(uv_read_start(stream(), &OnAlloc, &OnRead), "read");
    }
    return s;
  }

  void Close() {
    if (!open_ || closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) noexcept {
      std::unique_ptr<Conn> self(static_cast<Conn*>(h->data));
      self->server_->conns_.erase(self.get());
    });
  }

 private:
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
    auto* self = static_cast<Conn*>(h->data);
    std::span<uint8_t> shared = self->server_->loop_.read_buffer();
    *buf =
        uv_buf_init(reinterpret_cast<char*>(shared.data()), static_cast<unsigned>(shared.size()));
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* self = static_cast<Conn*>(s->data);
    if (nread == 0) return;
    if (nread < 0) {
      self->Close();
      return;
    }
    self->received_ += static_cast<size_t>(nread);
    size_t parsed = http_parser_execute(&self->parser_, &self->settings_, buf->base,
                                        static_cast<size_t>(nread));
    if (HTTP_PARSER_ERRNO(&self->parser_) != HPE_OK || parsed != static_cast<size_t>(nread)) {
      self->Respond({400, "text/plain; charset=utf-8", "bad request\n"});
      return;
    }
    if (self->received_ > kMaxRequestBytes) {
      self->Respond({431, "text/plain; charset=utf-8", "request too large\n"});
      return;
    }
    if (self->complete_) {
      Request request;
      request.method = http_method_str(static_cast<http_method>(self->parser_.method));
      request.path = self->url_;
      request.path = request.path.substr(0, request.path.find('?'));
      request.authorization = self->authorization_;
      request.peer = self->peer_;
      uv_read_stop(self->stream());
      HttpServer* server = self->server_;
      server->handler_(request, [server, conn_id = self->conn_id_](Response response) {
        // The connection may have closed while the answer was made.
        for (Conn* conn : server->conns_) {
          if (conn->conn_id_ == conn_id && !conn->closing_) return conn->Respond(response);
        }
      });
    }
  }

  static bool IsAuthorization(std::string_view field) {
    constexpr std::string_view kName = "authorization";
    if (field.size() != kName.size()) return false;
    for (size_t i = 0; i < field.size(); ++i) {
      if ((field[i] | 0x20) != kName[i]) return false;
    }
    return true;
  }

  void Respond(const Response& response) {
    if (responded_) return;
    responded_ = true;
    uv_read_stop(stream());
    auto req = std::make_unique<WriteReq>();
    req->self = this;
    req->bytes = "HTTP/1.1 " + std::to_string(response.status) + " " +
                 http_status_str(static_cast<http_status>(response.status)) +
                 "\r\nContent-Type: " + response.content_type +
                 "\r\nContent-Length: " + std::to_string(response.body.size()) +
                 "\r\nConnection: close\r\n\r\n" + response.body;
    req->req.data = req.get();
    uv_buf_t buf = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
    int rc = uv_write(&req->req, stream(), &buf, 1, [](uv_write_t* w, int) noexcept {
      std::unique_ptr<WriteReq> done(static_cast<WriteReq*>(w->data));
      done->self->Close();
    });
    if (rc < 0) {
      Close();
      return;
    }
    req.release();  // owned by the write callback
  }

  struct WriteReq {
    uv_write_t req;
    Conn* self;
    std::string bytes;
  };

  HttpServer* server_;
  uint64_t conn_id_;
  uv_tcp_t tcp_;
  http_parser parser_;
  http_parser_settings settings_;
  std::string url_;
  std::string field_;          // the header field being read
  bool in_value_ = false;      // its value has started
  std::string authorization_;  // the Authorization header's value
  std::string peer_;           // HOST:PORT of the client
  size_t received_ = 0;
  bool responded_ = false;
  bool complete_ = false;
  bool open_ = false;
  bool closing_ = false;
};

HttpServer::HttpServer(Loop& loop, Handler handler)
    : loop_(loop),
      handler_(std::move(handler)),
      tcp_(loop, [this](uv_stream_t* server) { OnConnection(server); }) {}

HttpServer::~HttpServer() { HERMOD_CHECK(closed()); }

Status HttpServer::Listen(const std::string& host_port) { return tcp_.Listen(host_port, 128); }

void HttpServer::OnConnection(uv_stream_t* listener) {
  if (closing_) return;
  auto* conn =
      new Conn(this, next_conn_id_++);  // owns itself from here; freed in its close callback
  conns_.insert(conn);
  if (!conn->Accept(listener).ok()) conn->Close();
}

void HttpServer::Close() {
  if (closing_) return;
  closing_ = true;
  std::set<Conn*> open = conns_;
  for (Conn* c : open) c->Close();
  tcp_.Close();
}

}  // namespace hermod::net
