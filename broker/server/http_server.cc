#include "http_server.h"

#include <http_parser.h>

#include <memory>

#include "check.h"
#include "net/address.h"
#include "net/loop.h"
#include "net/tls_stream.h"
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
      if (std::string* kept = self->KeptHeader(self->field_)) kept->append(at, n);
      return 0;
    };
    settings_.on_body = [](http_parser* p, const char* at, size_t n) noexcept {
      static_cast<Conn*>(p->data)->body_.append(at, n);
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
    if (server_->tls_ != nullptr) {
      tls_ = TlsStream::Create(*server_->tls_, "");
      if (tls_ == nullptr) return Status::Internal("cannot make a TLS session");
    }
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
    if (self->tls_ != nullptr) {
      self->OnTlsRead(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
      return;
    }
    self->Parse(buf->base, static_cast<size_t>(nread));
  }

  // Decrypts what arrived and parses it; sends the handshake's replies.
  void OnTlsRead(const uint8_t* data, size_t size) {
    if (!tls_->Feed(data, size).ok()) {
      // Plain HTTP at an HTTPS port: say so in plain HTTP.
      tls_.reset();
      Respond({400, "text/plain; charset=utf-8", "this endpoint takes HTTPS only\n", {}});
      return;
    }
    char plain[16 * 1024];
    while (!closing_ && !responded_ && !dispatched_) {
      Result<size_t> n = tls_->Read({reinterpret_cast<uint8_t*>(plain), sizeof(plain)});
      if (!n.ok()) break;  // a failed handshake: send the alert, then close
      if (*n == 0) {
        // The handshake's next flight, if any.
        std::string wire;
        tls_->TakeOutput(&wire);
        if (!wire.empty()) WriteBytes(std::move(wire), /*close_after=*/false);
        return;
      }
      Parse(plain, *n);
    }
    if (!responded_ && !dispatched_) {
      std::string wire;
      tls_->TakeOutput(&wire);
      WriteBytes(std::move(wire), /*close_after=*/true);
    }
  }

  void Parse(const char* data, size_t size) {
    received_ += size;
    size_t parsed = http_parser_execute(&parser_, &settings_, data, size);
    if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK || parsed != size) {
      Respond({400, "text/plain; charset=utf-8", "bad request\n", {}});
      return;
    }
    if (received_ > kMaxRequestBytes) {
      Respond({431, "text/plain; charset=utf-8", "request too large\n", {}});
      return;
    }
    if (complete_ && !dispatched_) {
      dispatched_ = true;
      Request request;
      request.method = http_method_str(static_cast<http_method>(parser_.method));
      std::string_view url = url_;
      const size_t question = url.find('?');
      request.path = url.substr(0, question);
      if (question != std::string_view::npos) request.query = url.substr(question + 1);
      request.authorization = authorization_;
      request.content_type = content_type_;
      request.origin = origin_;
      request.host = host_;
      request.body = body_;
      request.peer = peer_;
      uv_read_stop(stream());
      HttpServer* server = server_;
      server->handler_(request, [server, conn_id = conn_id_](Response response) {
        // The connection may have closed while the answer was made.
        for (Conn* conn : server->conns_) {
          if (conn->conn_id_ == conn_id && !conn->closing_) return conn->Respond(response);
        }
      });
    }
  }

  // Where the value of header `field` is kept; null: one not kept.
  std::string* KeptHeader(std::string_view field) {
    auto is = [field](std::string_view name) {  // name: lower case
      if (field.size() != name.size()) return false;
      for (size_t i = 0; i < field.size(); ++i) {
        if ((field[i] | 0x20) != name[i]) return false;
      }
      return true;
    };
    if (is("authorization")) return &authorization_;
    if (is("content-type")) return &content_type_;
    if (is("origin")) return &origin_;
    if (is("host")) return &host_;
    return nullptr;
  }

  void Respond(const Response& response) {
    if (responded_) return;
    responded_ = true;
    uv_read_stop(stream());
    std::string bytes = "HTTP/1.1 " + std::to_string(response.status) + " " +
                        http_status_str(static_cast<http_status>(response.status)) +
                        "\r\nContent-Type: " + response.content_type +
                        "\r\nContent-Length: " + std::to_string(response.body.size()) +
                        "\r\nConnection: close\r\n";
    for (const std::string& header : response.headers) bytes += header + "\r\n";
    bytes += "\r\n";
    bytes += response.body;
    if (tls_ != nullptr) {
      std::string wire;
      if (tls_->handshake_done() && tls_->Write(bytes).ok()) tls_->TakeOutput(&wire);
      bytes = std::move(wire);
    }
    WriteBytes(std::move(bytes), /*close_after=*/true);
  }

  // Writes bytes; closes the connection once they are written when
  // close_after (or at once when there is nothing to write).
  void WriteBytes(std::string bytes, bool close_after) {
    if (bytes.empty()) {
      if (close_after) Close();
      return;
    }
    auto req = std::make_unique<WriteReq>();
    req->self = this;
    req->close_after = close_after;
    req->bytes = std::move(bytes);
    req->req.data = req.get();
    uv_buf_t buf = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
    int rc = uv_write(&req->req, stream(), &buf, 1, [](uv_write_t* w, int status) noexcept {
      std::unique_ptr<WriteReq> done(static_cast<WriteReq*>(w->data));
      if (done->close_after || status < 0) done->self->Close();
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
    bool close_after;
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
  std::string content_type_;
  std::string origin_;
  std::string host_;
  std::string body_;
  std::string peer_;  // HOST:PORT of the client
  size_t received_ = 0;
  bool complete_ = false;
  bool dispatched_ = false;  // the request went to the handler
  bool responded_ = false;
  std::unique_ptr<TlsStream> tls_;  // HTTPS; null: plain HTTP
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
