// The v3 JSON gateway's wire format: request bodies EtcdClient sends, and
// the decoding of etcd's answers into etcd_types.h values.
//
// The gateway is grpc-gateway over etcd's protos: field names as in
// rpc.proto, int64 as decimal strings, bytes as base64, fields at their
// default value (0, false, PUT) left out, errors as {"error", "message",
// "code"} with a gRPC code and a non-200 status. Streaming answers (watch,
// keepalive) wrap each message in {"result": ...}, one per line.
//
// Pure functions; any thread. Internal to hermod_cluster.
#ifndef HERMOD_CLUSTER_ETCD_JSON_H_
#define HERMOD_CLUSTER_ETCD_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etcd_types.h"
#include "hermod/status.h"

namespace hermod::cluster::etcd_json {

// Request bodies.
std::string RangeRequest(std::string_view key, std::string_view range_end);
std::string PutRequest(std::string_view key, std::string_view value, LeaseId lease_id);
std::string DeleteRequest(std::string_view key, std::string_view range_end);
std::string TxnRequest(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                       const std::vector<TxnOp>& failure);
std::string LeaseGrantRequest(int64_t ttl_s);
std::string LeaseIdRequest(LeaseId lease_id);  // keepalive and revoke
std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               int64_t start_revision, bool prev_kv);

// The Status for a non-200 answer: etcd's message, with its gRPC code
// mapped to ours (NOT_FOUND -> kNotFound, UNAVAILABLE -> kUnavailable, ...).
Status ErrorStatus(long http_status, std::string_view body);

// Answers of the unary calls.
Result<RangeResult> DecodeRange(std::string_view body);
Result<int64_t> DecodeHeaderRevision(std::string_view body);  // put
Result<DeleteResult> DecodeDelete(std::string_view body);
Result<TxnResult> DecodeTxn(std::string_view body);
Result<Lease> DecodeLeaseGrant(std::string_view body);
// The TTL left; kNotFound when etcd no longer knows the lease (it answers
// a keepalive of an expired or revoked lease with TTL 0).
Result<int64_t> DecodeKeepAlive(std::string_view body, LeaseId lease_id);

// One message of a watch stream (one line).
struct WatchMessage {
  int64_t revision = 0;  // the header's
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // set when canceled because history was compacted
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};
// Also decodes an error object sent in the stream into its Status.
Result<WatchMessage> DecodeWatchMessage(std::string_view line);

}  // namespace hermod::cluster::etcd_json

#endif  // HERMOD_CLUSTER_ETCD_JSON_H_
