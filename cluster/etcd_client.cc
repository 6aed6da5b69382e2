#include "etcd_client.h"

#include <algorithm>

#include "check.h"
#include "etcd_json.h"

namespace hermod::cluster {

struct EtcdClient::Call {
  CallId call_id = 0;
  const char* path = "";
  std::string body;
  bool stream = false;
  uint64_t deadline_ms = 0;  // loop clock; unary calls only
  size_t first_endpoint = 0;
  size_t tries = 0;
  RequestId request = 0;  // the attempt in flight
  BodyCallback done;      // unary calls

  // Watch streams.
  std::string partial_line;  // bytes after the last newline
  int64_t next_revision = 0;
  WatchCallbacks watch;
};

Result<std::vector<std::string>> EtcdClient::ParseEndpoints(std::string_view comma_separated) {
  std::vector<std::string> out;
  while (!comma_separated.empty()) {
    const size_t comma = comma_separated.find(',');
    std::string_view one = comma_separated.substr(0, comma);
    comma_separated =
        comma == std::string_view::npos ? std::string_view() : comma_separated.substr(comma + 1);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && (one.back() == ' ' || one.back() == '/')) one.remove_suffix(1);
    if (one.empty()) continue;
    // TODO(etcd): https:// needs the CA and client certificate options of a
    // secured etcd; until then an https endpoint is refused, not half-used.
    if (!one.starts_with("http://") || one.size() == 7) {
      return Status::InvalidArgument("etcd endpoint " + std::string(one) +
                                     " is not an http://host:port URL");
    }
    out.emplace_back(one);
  }
  if (out.empty()) return Status::InvalidArgument("no etcd endpoint given");
  return out;
}

EtcdClient::EtcdClient(net::Loop& loop, Options options)
    : loop_(loop), options_(std::move(options)), http_(loop) {}

EtcdClient::~EtcdClient() = default;  // http_'s destructor checks that it was closed

Status EtcdClient::Init() {
  HERMOD_CHECK(!options_.endpoints.empty());
  for (std::string& endpoint : options_.endpoints) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  }
  return http_.Init();
}

void EtcdClient::Close() {
  if (closed_) return;
  closed_ = true;
  calls_.clear();
  http_.Close();
}

void EtcdClient::Cancel(CallId call) {
  auto it = calls_.find(call);
  if (it == calls_.end()) return;
  http_.Cancel(it->second->request);
  calls_.erase(it);
}

CallId EtcdClient::Unary(const char* path, std::string body, BodyCallback done) {
  HERMOD_CHECK(!closed_);
  auto call = std::make_unique<Call>();
  call->call_id = next_call_++;
  call->path = path;
  call->body = std::move(body);
  call->deadline_ms = loop_.now_ms() + static_cast<uint64_t>(options_.request_timeout.count());
  call->first_endpoint = current_;
  call->done = std::move(done);
  Call& c = *call;
  calls_.emplace(c.call_id, std::move(call));
  Attempt(c);
  return c.call_id;
}

void EtcdClient::Attempt(Call& call) {
  const size_t endpoint = (call.first_endpoint + call.tries) % options_.endpoints.size();
  ++call.tries;
  HttpRequest request;
  request.url = options_.endpoints[endpoint] + call.path;
  request.body = call.body;
  request.connect_timeout = options_.connect_timeout;
  if (!call.stream) {
    const uint64_t now = loop_.now_ms();
    // At least 1 ms: 0 would mean "no timeout" to libcurl.
    const uint64_t left = call.deadline_ms > now ? call.deadline_ms - now : 1;
    request.timeout = std::chrono::milliseconds(left);
    request.connect_timeout = std::min(request.connect_timeout, request.timeout);
  } else {
    const CallId id = call.call_id;
    request.on_data = [this, id](std::string_view bytes) { OnStreamData(id, bytes); };
  }
  const CallId id = call.call_id;
  call.request = http_.Post(std::move(request), [this, id, endpoint](HttpResponse response) {
    OnAttemptDone(id, endpoint, std::move(response));
  });
}

void EtcdClient::NextEndpointAfter(size_t endpoint) {
  // Only move on from the endpoint that failed: other calls may already
  // have moved current_ past it.
  if (current_ == endpoint) current_ = (endpoint + 1) % options_.endpoints.size();
}

void EtcdClient::OnAttemptDone(CallId id, size_t endpoint, HttpResponse response) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  call.request = 0;

  if (!response.status.ok()) {
    NextEndpointAfter(endpoint);
    const bool time_left = call.stream || loop_.now_ms() < call.deadline_ms;
    if (!response.sent && call.tries < options_.endpoints.size() && time_left) {
      // The request never left: another endpoint cannot apply it twice.
      Attempt(call);
      return;
    }
    Status status(response.status.code(), "etcd " + std::string(call.path) + " (tried " +
                                              std::to_string(call.tries) + " of " +
                                              std::to_string(options_.endpoints.size()) +
                                              " endpoints): " + response.status.message());
    if (call.stream) {
      EndStream(id, std::move(status));
      return;
    }
    BodyCallback done = std::move(call.done);
    calls_.erase(it);
    done(std::move(status));
    return;
  }

  current_ = endpoint;  // it answered: later calls start here
  if (call.stream) {
    // A stream's body went to OnStreamData; what is left is a line without
    // its newline, or an error answer.
    std::string rest = std::move(call.partial_line);
    if (response.http_status != 200) {
      EndStream(id, etcd_json::ErrorStatus(response.http_status, rest));
    } else {
      EndStream(id, Status::Unavailable("etcd " + std::string(call.path) + ": " +
                                        options_.endpoints[endpoint] + " ended the stream"));
    }
    return;
  }
  BodyCallback done = std::move(call.done);
  calls_.erase(it);
  if (response.http_status != 200) {
    Status status = etcd_json::ErrorStatus(response.http_status, response.body);
    // A member without a leader answers every call this way: the next call
    // asks another member.
    if (status.IsUnavailable()) NextEndpointAfter(endpoint);
    done(std::move(status));
  } else {
    done(std::move(response.body));
  }
}

CallId EtcdClient::Get(std::string_view key, std::function<void(Result<RangeResult>)> done) {
  return Unary("/v3/kv/range", etcd_json::RangeRequest(key, {}),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeRange(*body));
               });
}

CallId EtcdClient::GetPrefix(std::string_view prefix,
                             std::function<void(Result<RangeResult>)> done) {
  return Unary("/v3/kv/range", etcd_json::RangeRequest(prefix, PrefixRangeEnd(prefix)),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeRange(*body));
               });
}

CallId EtcdClient::Put(std::string_view key, std::string_view value, LeaseId lease_id,
                       std::function<void(Result<int64_t>)> done) {
  return Unary("/v3/kv/put", etcd_json::PutRequest(key, value, lease_id),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeHeaderRevision(*body));
               });
}

CallId EtcdClient::Delete(std::string_view key, std::function<void(Result<DeleteResult>)> done) {
  return Unary("/v3/kv/deleterange", etcd_json::DeleteRequest(key, {}),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeDelete(*body));
               });
}

CallId EtcdClient::DeletePrefix(std::string_view prefix,
                                std::function<void(Result<DeleteResult>)> done) {
  return Unary("/v3/kv/deleterange", etcd_json::DeleteRequest(prefix, PrefixRangeEnd(prefix)),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeDelete(*body));
               });
}

CallId EtcdClient::Txn(std::vector<Compare> compares, std::vector<TxnOp> success,
                       std::vector<TxnOp> failure, std::function<void(Result<TxnResult>)> done) {
  return Unary("/v3/kv/txn", etcd_json::TxnRequest(compares, success, failure),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeTxn(*body));
               });
}

CallId EtcdClient::GrantLease(int64_t ttl_s, std::function<void(Result<Lease>)> done) {
  return Unary("/v3/lease/grant", etcd_json::LeaseGrantRequest(ttl_s),
               [done = std::move(done)](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeLeaseGrant(*body));
               });
}

CallId EtcdClient::KeepAliveOnce(LeaseId lease_id, std::function<void(Result<int64_t>)> done) {
  // /v3/lease/keepalive is a gRPC stream; one request body makes it a
  // stream of one answer, which is all a periodic refresh needs.
  return Unary("/v3/lease/keepalive", etcd_json::LeaseIdRequest(lease_id),
               [done = std::move(done), lease_id](Result<std::string> body) {
                 if (!body.ok()) return done(body.status());
                 done(etcd_json::DecodeKeepAlive(*body, lease_id));
               });
}

CallId EtcdClient::RevokeLease(LeaseId lease_id, std::function<void(Status)> done) {
  return Unary("/v3/lease/revoke", etcd_json::LeaseIdRequest(lease_id),
               [done = std::move(done)](Result<std::string> body) { done(body.status()); });
}

CallId EtcdClient::WatchPrefix(std::string_view prefix, int64_t from_revision, bool prev_kv,
                               WatchCallbacks callbacks) {
  HERMOD_CHECK(!closed_);
  HERMOD_CHECK(from_revision >= 1);
  auto call = std::make_unique<Call>();
  call->call_id = next_call_++;
  call->path = "/v3/watch";
  call->body =
      etcd_json::WatchCreateRequest(prefix, PrefixRangeEnd(prefix), from_revision, prev_kv);
  call->stream = true;
  call->first_endpoint = current_;
  call->next_revision = from_revision;
  call->watch = std::move(callbacks);
  Call& c = *call;
  calls_.emplace(c.call_id, std::move(call));
  Attempt(c);
  return c.call_id;
}

void EtcdClient::OnStreamData(CallId id, std::string_view bytes) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second->partial_line.append(bytes);
  // grpc-gateway ends every message of a stream with a newline.
  for (;;) {
    it = calls_.find(id);  // a callback below may have cancelled the watch
    if (it == calls_.end()) return;
    Call& call = *it->second;
    const size_t newline = call.partial_line.find('\n');
    if (newline == std::string::npos) return;
    std::string line = call.partial_line.substr(0, newline);
    call.partial_line.erase(0, newline + 1);
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;

    Result<etcd_json::WatchMessage> message = etcd_json::DecodeWatchMessage(line);
    if (!message.ok()) return EndStream(id, message.status());
    if (message->canceled) {
      if (message->compact_revision > 0) {
        return EndStream(
            id,
            Status::NotFound("etcd watch from revision " + std::to_string(call.next_revision) +
                             ": history compacted up to revision " +
                             std::to_string(message->compact_revision) +
                             "; read the state again and watch from its revision + 1"),
            message->compact_revision);
      }
      return EndStream(id,
                       Status::Unavailable("etcd canceled the watch: " + message->cancel_reason));
    }
    if (message->events.empty()) continue;  // "created", or a progress notice
    call.next_revision = message->events.back().kv.mod_revision + 1;
    auto on_events = call.watch.on_events;  // a copy: the callback may cancel
    on_events(message->events, message->revision);
  }
}

void EtcdClient::EndStream(CallId id, Status status, int64_t compact_revision) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  http_.Cancel(call->request);  // the connection may still be open (a canceled watch)
  WatchEnd end;
  end.status = std::move(status);
  end.compact_revision = compact_revision;
  end.next_revision = call->next_revision;
  call->watch.on_end(end);
}

}  // namespace hermod::cluster
