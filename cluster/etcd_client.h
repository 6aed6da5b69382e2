// EtcdClient: the cluster's one connection to its control plane, etcd v3,
// without blocking the loop.
//
// Every node keeps its membership, the controller election and the
// partition map in etcd (docs/cluster.md); this is how it reads, writes,
// fences (transactions on revisions), holds leases and follows changes
// (watches). It speaks etcd's v3 JSON gateway (HTTP POST of JSON, keys and
// values in base64) through HttpClient, so all of it runs on the caller's
// net::Loop: no thread, no blocking call, no generated code.
//
// Every call is asynchronous: it returns at once with a CallId and calls
// its callback exactly once, later, on the loop thread (streams: once per
// message, then once at the end), unless Cancel(call) or Close() comes
// first, after which it never runs. Callbacks may start or cancel calls.
//
// Endpoints: a call goes to the current endpoint. When the connection
// fails (the request provably never left), it is sent to the next one, each
// endpoint at most once per call. A call that fails after it was sent
// (timeout, connection lost) is not resent, since etcd may have applied it;
// it fails, and the next call starts at the next endpoint.
//
// Owned by its user. Close() before destruction, then let the loop run the
// close callbacks. Loop thread only.
#ifndef HERMOD_CLUSTER_ETCD_CLIENT_H_
#define HERMOD_CLUSTER_ETCD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "etcd_types.h"
#include "hermod/status.h"
#include "http_client.h"
#include "net/loop.h"

namespace hermod::cluster {

// Names one call for Cancel(). Never reused by one EtcdClient; 0 is none.
using CallId = uint64_t;

class EtcdClient {
 public:
  struct Options {
    // Base URLs, e.g. "http://127.0.0.1:2379". At least one.
    std::vector<std::string> endpoints{};
    // The whole of one unary call, over every endpoint it tries.
    std::chrono::milliseconds request_timeout{2000};
    // Connecting to one endpoint; past it the next one is tried.
    std::chrono::milliseconds connect_timeout{500};
  };

  // Splits "http://a:2379,http://b:2379" (spaces around commas allowed).
  // kInvalidArgument when empty or when an endpoint is not http://.
  static Result<std::vector<std::string>> ParseEndpoints(std::string_view comma_separated);

  EtcdClient(net::Loop& loop, Options options);
  ~EtcdClient();  // REQUIRES: Init() failed or was never called, or Close() was called.
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // REQUIRES: options.endpoints is not empty.
  Status Init();
  // Cancels every call (no callback runs after it) and closes the handles.
  // Idempotent.
  void Close();
  // Stops one call; its callbacks never run. Finished or unknown calls are
  // ignored, so a callback may cancel its own call.
  void Cancel(CallId call);

  // Reads one key: kvs holds it, or is empty when it does not exist.
  CallId Get(std::string_view key, std::function<void(Result<RangeResult>)> done);
  // Reads every key that starts with `prefix`, in key order.
  CallId GetPrefix(std::string_view prefix, std::function<void(Result<RangeResult>)> done);
  // Writes one key; the result is the store's revision after the put.
  CallId Put(std::string_view key, std::string_view value, LeaseId lease_id,
             std::function<void(Result<int64_t>)> done);
  CallId Delete(std::string_view key, std::function<void(Result<DeleteResult>)> done);
  CallId DeletePrefix(std::string_view prefix, std::function<void(Result<DeleteResult>)> done);
  // If every compare holds, runs `success`, else `failure`, atomically.
  // A transaction that did not succeed is still an OK result
  // (succeeded == false); a Status error means etcd did not answer.
  CallId Txn(std::vector<Compare> compares, std::vector<TxnOp> success, std::vector<TxnOp> failure,
             std::function<void(Result<TxnResult>)> done);

  // Leases: keys put with a lease are deleted when it expires (no
  // keepalive within its TTL) or is revoked. See LeaseKeeper.
  CallId GrantLease(int64_t ttl_s, std::function<void(Result<Lease>)> done);
  // One refresh; returns the TTL granted anew. kNotFound when the lease
  // expired or was revoked.
  CallId KeepAliveOnce(LeaseId lease_id, std::function<void(Result<int64_t>)> done);
  // Deletes the lease and its keys. kNotFound when it did not exist.
  CallId RevokeLease(LeaseId lease_id, std::function<void(Status)> done);

  // How a watch stream ended.
  struct WatchEnd {
    // Never OK. kNotFound with compact_revision set: from_revision was
    // compacted away; read the state again (GetPrefix) and watch from its
    // revision + 1. Anything else (kUnavailable, kTimeout, ...): the
    // stream broke; watch again from next_revision.
    Status status;
    int64_t compact_revision = 0;
    // The revision after the last event delivered (from_revision if none).
    int64_t next_revision = 0;
  };
  struct WatchCallbacks {
    // Events in revision order, one batch per etcd message; `revision` is
    // the store's revision when etcd sent them.
    std::function<void(const std::vector<WatchEvent>& events, int64_t revision)> on_events;
    // Runs once, when the stream ended for any reason but Cancel/Close.
    std::function<void(const WatchEnd&)> on_end;
  };
  // Streams every change to keys that start with `prefix`, from
  // from_revision on (earlier changes still in etcd's history first).
  // prev_kv: also send each key's previous value. The stream has no
  // timeout: a stalled etcd leaves it silent (the node's lease keepalive is
  // what notices that), a dead connection ends it.
  // REQUIRES: from_revision >= 1 (a revision from an earlier answer; "from
  // now" would race with the caller's own reads).
  CallId WatchPrefix(std::string_view prefix, int64_t from_revision, bool prev_kv,
                     WatchCallbacks callbacks);

  const std::vector<std::string>& endpoints() const { return options_.endpoints; }
  // The endpoint the next call goes to first.
  const std::string& current_endpoint() const { return options_.endpoints[current_]; }

 private:
  struct Call;
  using BodyCallback = std::function<void(Result<std::string>)>;

  // Sends body to path, trying endpoints as the header says; `done` gets
  // the body of a 200 answer or the Status of anything else.
  CallId Unary(const char* path, std::string body, BodyCallback done);
  void Attempt(Call& call);
  void OnAttemptDone(CallId id, size_t endpoint, HttpResponse response);
  void OnStreamData(CallId id, std::string_view bytes);
  void EndStream(CallId id, Status status, int64_t compact_revision = 0);
  void NextEndpointAfter(size_t endpoint);

  net::Loop& loop_;
  Options options_;
  HttpClient http_;
  bool closed_ = false;
  size_t current_ = 0;
  CallId next_call_ = 1;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_ETCD_CLIENT_H_
