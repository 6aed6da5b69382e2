#include "http_service.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>

#include "console_assets.h"
#include "http_answer.h"
#include "http_query.h"
#include "metrics_text.h"

namespace hermod::server {

namespace {

using Response = net::HttpServer::Response;

// The console's pages load only their own scripts and styles, from here,
// and cannot be framed by another site.
constexpr std::string_view kPageSecurity =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";

// An IP address literal ([v6] included) or localhost, with or without a
// port: a name DNS rebinding cannot take over.
bool IsAddressHost(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') return host.find(']') != std::string_view::npos;
  std::string_view name = host.substr(0, host.rfind(':'));
  if (name == "localhost") return true;
  std::string text(name);
  in_addr v4{};
  return inet_pton(AF_INET, text.c_str(), &v4) == 1;
}

std::string_view ContentTypeOf(std::string_view path) {
  auto ends = [path](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

HttpService::HttpService(net::Loop* loop, Sessions* sessions, core::Broker* broker,
                         HttpServiceOptions options)
    : loop_(loop), sessions_(sessions), broker_(broker), options_(std::move(options)) {}

HttpService::~HttpService() { Close(); }

void HttpService::Start() {
  if (started_) return;
  started_ = true;
  client_id_ = sessions_->AddLocalClient(
      [this](uint64_t correlation_id, const Sessions::LocalAnswer& answer) {
        OnAnswer(correlation_id, answer);
      });
  broker_->Connect(client_id_, &port_);
  if (options_.console) {
    history_.reserve(kHistorySamples);
    sampler_.Init(*loop_, [this] { Sample(); });
    sampler_.Unref();
    Sample();
    sampler_.Start(1000, 1000);
  }
}

void HttpService::Close() {
  if (!started_) return;
  started_ = false;
  sampler_.Close();
  broker_->Disconnect(client_id_);
  sessions_->RemoveLocalClient(client_id_);
  client_id_ = 0;
  pending_.clear();  // their connections close with the listener
}

void HttpService::Sample() {
  const core::BrokerStatistics& c = broker_->statistics();
  HistorySample s{WallMs(), c.published, c.delivered, c.acked};
  if (history_.size() < kHistorySamples) {
    history_.push_back(s);
  } else {
    history_[history_next_] = s;
    history_next_ = (history_next_ + 1) % kHistorySamples;
  }
}

void HttpService::Handle(const Request& request, Reply reply) {
  const std::string_view path = request.path;
  if (path == "/healthz") {
    const bool healthy = broker_->Healthy();
    Response r;
    r.status = healthy ? 200 : 503;
    r.body = healthy ? "ok\n" : "unhealthy\n";
    return reply(std::move(r));
  }
  if (path == "/metrics") {
    if (request.method != "GET") return reply(TextResponse(405, "only GET\n"));
    return Authorized(request, reply, [this, reply] {
      Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = MetricsText(sessions_->Stats(), broker_->DeepestQueues());
      reply(std::move(r));
    });
  }
  if (options_.console && path.substr(0, 5) == "/api/") return ServeApi(request, std::move(reply));
  if (options_.console && (path == "/" || path.substr(0, 8) == "/assets/")) {
    if (request.method != "GET" && request.method != "HEAD") {
      return reply(TextResponse(405, "only GET\n"));
    }
    return ServeAsset(path, reply);
  }
  reply(TextResponse(404, "not found\n"));
}

void HttpService::Authorized(const Request& request, Reply reply, std::function<void()> then) {
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view authorization = request.authorization;
  std::string_view token = authorization.substr(0, kBearer.size()) == kBearer
                               ? authorization.substr(kBearer.size())
                               : std::string_view();
  std::string host(request.peer.substr(0, request.peer.rfind(':')));
  const bool api = request.path.substr(0, 5) == "/api/";
  Sessions* sessions = sessions_;
  sessions_->authenticator().CheckBearer(
      token, [sessions, reply, host, api, then = std::move(then)](const AuthVerdict& verdict) {
        if (verdict.ok) return then();
        // Slowed down per address, as a refused Hello is.
        sessions->CountAuthFailure();
        Response answer =
            api ? ErrorResponse(401, "Unauthenticated",
                                "needs Authorization: Bearer <token of an admin>")
                : TextResponse(401, "/metrics needs Authorization: Bearer <token of an admin>\n");
        answer.headers.push_back("WWW-Authenticate: Bearer");
        sessions->RunLater(sessions->authenticator().RecordFailure(host),
                           [reply, answer] { reply(answer); });
      });
}

void HttpService::ServeAsset(std::string_view path, Reply& reply) const {
  std::string_view name = path == "/" ? "index.html" : path.substr(8);
  Response r;
  r.content_type = std::string(ContentTypeOf(name));
  r.headers = {std::string(kPageSecurity), "X-Content-Type-Options: nosniff",
               "Referrer-Policy: no-referrer", "Cache-Control: no-cache"};
  if (!options_.assets_dir.empty() && name.find('/') == std::string_view::npos &&
      name.find("..") == std::string_view::npos) {
    std::ifstream in(options_.assets_dir + "/" + std::string(name), std::ios::binary);
    if (in) {
      std::ostringstream bytes;
      bytes << in.rdbuf();
      r.body = bytes.str();
      return reply(std::move(r));
    }
  }
  for (size_t i = 0; i < kConsoleAssetCount; ++i) {
    const ConsoleAsset& asset = kConsoleAssets[i];
    if (asset.name == name) {
      r.body.assign(reinterpret_cast<const char*>(asset.data), asset.size);
      return reply(std::move(r));
    }
  }
  reply(TextResponse(404, "not found\n"));
}

void HttpService::ServeApi(const Request& request, Reply reply) {
  // Without credentials the API is open, as the client port is; a name
  // that DNS can point elsewhere (rebinding) must not open it to other
  // sites: then only an address or localhost is taken.
  if (!sessions_->authenticator().required() && !IsAddressHost(request.host)) {
    return reply(ErrorResponse(403, "PermissionDenied",
                               "without credentials configured, the console answers only at an "
                               "IP address or localhost"));
  }
  const bool post = request.method == "POST";
  if (post) {
    // No CSRF: another site's page can send neither this content type
    // without asking first (which is not answered), nor this origin.
    std::string_view type = request.content_type.substr(0, request.content_type.find(';'));
    if (type != kJsonType) {
      return reply(ErrorResponse(415, "InvalidArgument", "changes take a JSON body"));
    }
    if (!request.origin.empty() && request.origin != "http://" + std::string(request.host) &&
        request.origin != "https://" + std::string(request.host)) {
      return reply(ErrorResponse(403, "PermissionDenied", "a request from another origin"));
    }
  } else if (request.method != "GET") {
    return reply(ErrorResponse(405, "InvalidArgument", "GET or POST only"));
  }
  std::string path(request.path.substr(5));
  Result<HttpQuery> query = HttpQuery::Parse(request.query);
  if (!query.ok()) return reply(ErrorResponse(query.status()));
  std::string body(request.body);
  Authorized(request, reply, [this, post, path, query = std::move(*query), body, reply]() mutable {
    static constexpr std::string_view kOperations[] = {"queue/purge", "queue/delete",
                                                       "queue/redrive", "queue/configure"};
    for (std::string_view op : kOperations) {
      if (path != op) continue;
      if (!post) return reply(ErrorResponse(405, "InvalidArgument", "a change needs POST"));
      return Operate(op.substr(6), body, std::move(reply));
    }
    if (post) return reply(ErrorResponse(405, "InvalidArgument", "only GET here"));
    if (path == "overview") return reply(Overview());
    if (path == "queues") return reply(Queues(query));
    if (path == "queue") return reply(QueueDetail(query));
    if (path == "queue/peek") return reply(Peek(query));
    if (path == "groups") return reply(Groups(query));
    if (path == "group") return reply(Group(query));
    if (path == "connections") return reply(Connections(query));
    if (path == "cluster") return reply(Cluster());
    reply(ErrorResponse(404, "NotFound", "no API at /api/" + path));
  });
}

}  // namespace hermod::server
