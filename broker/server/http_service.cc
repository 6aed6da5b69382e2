#include "http_service.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include "console_assets.h"
#include "envelope.h"
#include "json.h"
#include "metrics_text.h"

namespace hermod::server {

namespace {

using Response = net::HttpServer::Response;

constexpr std::string_view kJson = "application/json";
// The console's pages load only their own scripts and styles, from here,
// and cannot be framed by another site.
constexpr std::string_view kPageSecurity =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";

// Rows a sorted queue listing ranks at most (offset + limit), as `hermod
// queue ls --sort`.
constexpr uint64_t kMaxRanked = 10000;
constexpr uint32_t kDefaultQueuePage = 50;
constexpr uint32_t kMaxQueuePage = 1000;
constexpr uint32_t kDefaultPeek = 20;
constexpr uint32_t kMaxPeek = 100;
// Payload bytes a peek shows of each entry.
constexpr size_t kPeekPreviewBytes = 1024;

Response TextResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response JsonResponse(int status, const Json& body) {
  Response r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = DumpJson(body);
  r.headers = {"Cache-Control: no-store", "X-Content-Type-Options: nosniff"};
  return r;
}

int HttpStatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPayloadTooLarge:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kNotLeader:
      return 409;
    case ErrorCode::kLimitExceeded:
      return 429;
    case ErrorCode::kNotSupported:
      return 501;
    case ErrorCode::kUnavailable:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kStorageFull:
    case ErrorCode::kTimeout:
      return 503;
    default:
      return 500;
  }
}

Response ErrorResponse(int http_status, std::string_view code, std::string_view message) {
  Json error;
  error["code"] = std::string(code);
  error["message"] = std::string(message);
  Json body;
  body["error"] = std::move(error);
  return JsonResponse(http_status, body);
}

Response ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusOf(status.code()), ErrorCodeName(status.code()), status.message());
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component ('+' is a space).
std::optional<std::string> Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Json RowJson(const core::QueueRow& row) {
  Json j;
  j["name"] = row.name;
  j["depth"] = row.depth;
  j["bytes"] = row.bytes;
  j["consumers"] = row.consumers;
  j["inflight"] = row.inflight;
  j["oldest_age_ms"] = row.oldest_age_ms;
  j["dlq_depth"] = row.dlq_depth;
  j["first_seq"] = row.first_seq;
  j["last_seq"] = row.last_seq;
  j["created_ms"] = row.created_ms;
  j["publish_rate"] = JsonNumber(row.publish_rate);
  j["ack_rate"] = JsonNumber(row.ack_rate);
  return j;
}

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

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

// The query's parameters, decoded; a malformed escape: an error.
class HttpService::Query {
 public:
  static Result<Query> Parse(std::string_view query) {
    Query q;
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      std::optional<std::string> key = Unescape(pair.substr(0, eq));
      std::optional<std::string> value =
          Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      if (!key || !value) return Status::InvalidArgument("a malformed %-escape in the query");
      q.params_.emplace_back(std::move(*key), std::move(*value));
    }
    return q;
  }
  // The first value of `key`; empty when absent.
  std::string Get(std::string_view key) const {
    for (const auto& [k, v] : params_) {
      if (k == key) return v;
    }
    return {};
  }
  // A number parameter: `fallback` when absent, an error when not a number.
  Result<uint64_t> Number(std::string_view key, uint64_t fallback) const {
    std::string text = Get(key);
    if (text.empty()) return fallback;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(std::string(key) + " must be a number, not " + text);
    }
    return value;
  }
  // A page size, "limit": `fallback` when absent, else 1 to `max`.
  Result<uint32_t> Limit(uint64_t fallback, uint64_t max) const {
    Result<uint64_t> limit = Number("limit", fallback);
    if (!limit.ok()) return limit.status();
    if (*limit == 0 || *limit > max) {
      return Status::InvalidArgument("limit: 1 to " + std::to_string(max));
    }
    return *limit;
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

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
    if (type != kJson) {
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
  Result<Query> query = Query::Parse(request.query);
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

Response HttpService::Overview() const {
  Json stats = Json::object();
  for (const core::StatValue& v : sessions_->Stats()) {
    stats[v.name] = v.text.empty() ? JsonNumber(v.value) : Json(v.text);
  }
  Json samples = Json::array();
  for (size_t i = 0; i < history_.size(); ++i) {
    const HistorySample& s = history_[(history_next_ + i) % history_.size()];
    samples.push_back(Json{{"t", s.time_ms},
                           {"published", s.published},
                           {"delivered", s.delivered},
                           {"acked", s.acked}});
  }
  Json j;
  j["version"] = stats.value("version", "");
  j["node"] = node_;
  j["time_ms"] = WallMs();
  j["stats"] = std::move(stats);
  j["history"] = Json{{"interval_ms", 1000}, {"samples", std::move(samples)}};
  return JsonResponse(200, j);
}

Response HttpService::Queues(const Query& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  Result<uint64_t> offset = query.Number("offset", 0);
  if (!offset.ok()) return ErrorResponse(offset.status());
  std::string sort = query.Get("sort");
  if (sort.empty()) sort = "name";
  const bool by_name = sort == "name";
  if (!by_name && *offset + *limit > kMaxRanked) {
    return ErrorResponse(Status::InvalidArgument(
        "offset + limit: at most " + std::to_string(kMaxRanked) + " when sorted by " + sort));
  }
  std::string prefix = query.Get("prefix");
  std::string after = query.Get("after");
  core::PageRequest page;
  page.prefix = prefix;
  page.after = after;
  page.limit = static_cast<uint32_t>(by_name ? *limit : *offset + *limit);
  Result<core::QueuePage> rows = broker_->ListQueues(page, sort);
  if (!rows.ok()) return ErrorResponse(rows.status());
  Json list = Json::array();
  for (size_t i = by_name ? 0 : *offset; i < rows->rows.size(); ++i) {
    list.push_back(RowJson(rows->rows[i]));
  }
  Json j;
  j["queues"] = std::move(list);
  j["next"] = by_name ? rows->next : std::string();
  return JsonResponse(200, j);
}

Response HttpService::QueueDetail(const Query& query) {
  Result<core::QueueDetail> detail = broker_->ShowQueue(query.Get("name"));
  if (!detail.ok()) return ErrorResponse(detail.status());
  Json j = RowJson(detail->row);
  Json limits = Json::array();
  std::string dead_letter_queue;
  for (const core::QueueLimitInfo& limit : detail->limits) {
    limits.push_back(Json{{"name", limit.name},
                          {"value", limit.value},
                          {"source", limit.overridden ? "queue" : "default"}});
    if (limit.name == "dead_letter_queue") dead_letter_queue = limit.value;
  }
  Json consumers = Json::array();
  for (const core::QueueConsumerInfo& c : detail->consumers) {
    consumers.push_back(Json{{"address", sessions_->PeerOf(c.client_id)},
                             {"subscription", c.subscription_id},
                             {"credit", c.credit},
                             {"inflight", c.inflight},
                             {"ack_wait_ms", c.ack_wait_ms}});
  }
  j["limits"] = std::move(limits);
  j["consumer_list"] = std::move(consumers);
  j["dead_letter_queue"] = dead_letter_queue;
  return JsonResponse(200, j);
}

Response HttpService::Peek(const Query& query) {
  Result<uint64_t> from = query.Number("from", 0);
  Result<uint32_t> limit = query.Limit(kDefaultPeek, kMaxPeek);
  if (!from.ok()) return ErrorResponse(from.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  Result<std::vector<core::PeekedEntry>> peeked =
      broker_->PeekQueue(query.Get("name"), *from, *limit);
  if (!peeked.ok()) return ErrorResponse(peeked.status());
  Json entries = Json::array();
  uint64_t next_from = *from;
  for (const core::PeekedEntry& e : *peeked) {
    store::EnvelopeView envelope;
    if (!envelope.Parse(e.envelope)) continue;
    Json j;
    j["seq"] = e.seq;
    j["id"] = e.msg_id;
    j["delivery_count"] = e.delivery_count;
    j["publish_time_ms"] = envelope.publish_ms();
    j["expires_ms"] = envelope.expires_ms();
    j["inflight"] = e.inflight;
    j["deliver_at_ms"] = e.deliver_at_ms;
    Json& headers = j["headers"] = Json::object();
    envelope.ForEachHeader([&headers](std::string_view key, std::string_view value) {
      headers[std::string(key)] = std::string(value);
    });
    std::string_view payload = envelope.payload();
    j["size"] = payload.size();
    size_t cut = std::min(payload.size(), kPeekPreviewBytes);
    // Whole characters only: a cut inside one would make text look binary.
    while (cut > 0 && cut < payload.size() && (static_cast<uint8_t>(payload[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    SetPayload(&j, payload.substr(0, cut));
    j["payload_truncated"] = cut < payload.size();
    entries.push_back(std::move(j));
    next_from = e.seq + 1;
  }
  Json j;
  j["entries"] = std::move(entries);
  j["next_from"] = next_from;
  return JsonResponse(200, j);
}

Response HttpService::Groups(const Query& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::string prefix = query.Get("prefix");
  std::string after = query.Get("after");
  Result<core::GroupPage> groups = broker_->ListGroups({prefix, after, *limit});
  if (!groups.ok()) return ErrorResponse(groups.status());
  Json list = Json::array();
  for (const core::GroupSummary& g : groups->groups) {
    list.push_back(Json{{"name", g.name}, {"members", g.members}, {"created_ms", g.created_ms}});
  }
  Json j;
  j["groups"] = std::move(list);
  j["next"] = groups->next;
  return JsonResponse(200, j);
}

Response HttpService::Group(const Query& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::string name = query.Get("name");
  std::string after = query.Get("after");
  Result<core::GroupMembers> members =
      broker_->ShowGroup(name, {std::string_view(), after, *limit});
  if (!members.ok()) return ErrorResponse(members.status());
  Json j;
  j["name"] = name;
  j["member_count"] = members->member_count;
  j["members"] = members->members;
  j["next"] = members->next;
  return JsonResponse(200, j);
}

Response HttpService::Connections(const Query& query) const {
  Result<uint64_t> after = query.Number("after", 0);
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!after.ok()) return ErrorResponse(after.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::vector<Sessions::ConnectionInfo> conns =
      sessions_->ListConnections(*after, static_cast<size_t>(*limit) + 1);
  const bool more = conns.size() > *limit;
  if (more) conns.pop_back();
  Json list = Json::array();
  for (const Sessions::ConnectionInfo& c : conns) {
    Json subs = Json::array();
    uint64_t inflight = 0;
    for (const core::SubscriptionInfo& s : c.subscriptions) {
      subs.push_back(
          Json{{"id", s.id}, {"queue", s.queue}, {"credit", s.credit}, {"inflight", s.inflight}});
      inflight += s.inflight;
    }
    list.push_back(Json{{"id", c.id},
                        {"peer", c.peer},
                        {"principal", c.principal},
                        {"tls", c.tls},
                        {"age_ms", c.age_ms},
                        {"subscriptions", std::move(subs)},
                        {"inflight", inflight},
                        {"pending_output_bytes", c.pending_output_bytes}});
  }
  Json j;
  j["connections"] = std::move(list);
  j["next"] = more && !conns.empty() ? conns.back().id : 0;
  return JsonResponse(200, j);
}

Response HttpService::Cluster() const {
  Json j;
  j["enabled"] = static_cast<bool>(cluster_status_);
  if (!cluster_status_) return JsonResponse(200, j);
  ClusterStatusInfo info = cluster_status_();
  j["node"] = info.node;
  j["controller"] = info.controller;
  Json nodes = Json::array();
  for (const ClusterStatusInfo::Node& n : info.nodes) {
    nodes.push_back(Json{{"id", n.id}, {"address", n.address}, {"alive", n.alive}});
  }
  Json partitions = Json::array();
  for (const ClusterStatusInfo::Partition& p : info.partitions) {
    Json followers = Json::array();
    for (const ClusterStatusInfo::Follower& f : p.followers) {
      followers.push_back(Json{{"node", f.node}, {"acked", f.acked}, {"lag", f.lag}});
    }
    partitions.push_back(Json{{"id", p.id},
                              {"leader", p.leader},
                              {"epoch", p.epoch},
                              {"replicas", p.replicas},
                              {"isr", p.isr},
                              {"followers", std::move(followers)}});
  }
  j["nodes"] = std::move(nodes);
  j["partitions"] = std::move(partitions);
  return JsonResponse(200, j);
}

void HttpService::Operate(std::string_view what, std::string_view body, Reply reply) {
  if (client_id_ == 0) {
    return reply(ErrorResponse(Status(ErrorCode::kShuttingDown, "the broker is stopping")));
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return reply(ErrorResponse(Status::InvalidArgument("the body must be a JSON object")));
  }
  // A member of the body: a string, a number, or absent; else an error.
  std::string bad;
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) {
      bad = std::string(key) + " must be a string";
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  auto number = [&](const char* key) -> std::optional<uint64_t> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_unsigned()) {
      bad = std::string(key) + " must be a number of 0 or more";
      return std::nullopt;
    }
    return it->get<uint64_t>();
  };
  std::string name = text("name").value_or("");
  if (bad.empty() && name.empty()) bad = "name: the queue";
  if (!bad.empty()) return reply(ErrorResponse(Status::InvalidArgument(bad)));

  const uint64_t correlation_id = next_correlation_++;
  pending_[correlation_id] = Pending{std::string(what), reply};
  if (what == "purge" || what == "delete") {
    broker_->PurgeQueue(client_id_, correlation_id, name, /*forget=*/what == "delete");
  } else if (what == "redrive") {
    std::string to = text("to").value_or("");
    uint64_t limit = number("limit").value_or(0);
    if (bad.empty() && limit > UINT32_MAX) bad = "limit: too large";
    if (!bad.empty()) {
      pending_.erase(correlation_id);
      return reply(ErrorResponse(Status::InvalidArgument(bad)));
    }
    broker_->Redrive(client_id_, correlation_id, name, to, static_cast<uint32_t>(limit));
  } else {
    core::ConfigureRequest request;
    request.correlation_id = correlation_id;
    request.queue = name;
    auto reset = j.find("reset");
    request.reset = reset != j.end() && reset->is_boolean() && reset->get<bool>();
    core::QueueOverrides& changes = request.changes;
    changes.max_messages = number("max_messages");
    changes.max_bytes = number("max_bytes");
    changes.max_age_ms = number("max_age_ms");
    std::optional<uint64_t> max_deliveries = number("max_deliveries");
    std::optional<uint64_t> ack_wait_ms = number("ack_wait_ms");
    if (max_deliveries && *max_deliveries > UINT32_MAX) bad = "max_deliveries: too large";
    if (ack_wait_ms && *ack_wait_ms > UINT32_MAX) bad = "ack_wait_ms: too large";
    if (max_deliveries) changes.max_deliveries = static_cast<uint32_t>(*max_deliveries);
    if (ack_wait_ms) changes.ack_wait_ms = static_cast<uint32_t>(*ack_wait_ms);
    changes.dead_letter_queue = text("dead_letter_queue");
    changes.backoff = text("backoff");
    if (std::optional<std::string> overflow = text("overflow")) {
      Result<core::Overflow> parsed = core::ParseOverflow(*overflow);
      if (!parsed.ok()) {
        bad = parsed.status().message();
      } else {
        changes.overflow = *parsed;
      }
    }
    if (!bad.empty()) {
      pending_.erase(correlation_id);
      return reply(ErrorResponse(Status::InvalidArgument(bad)));
    }
    broker_->ConfigureQueue(client_id_, request);
  }
}

void HttpService::OnAnswer(uint64_t correlation_id, const Sessions::LocalAnswer& answer) {
  auto it = pending_.find(correlation_id);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  if (!answer.status.ok()) return pending.reply(ErrorResponse(answer.status));
  Json j = Json::object();
  if (pending.what == "purge" || pending.what == "delete") {
    j["removed"] = answer.count;
    spdlog::info("console: {} of a queue removed {} entries", pending.what, answer.count);
  } else if (pending.what == "redrive") {
    j["moved"] = answer.count;
    j["remaining"] = answer.remaining;
  }
  pending.reply(JsonResponse(200, j));
}

}  // namespace hermod::server
