// The core's service interface: what the server layer may ask of the core
// (plain request structs, no wire types), and what the core tells the server
// (Output: confirms, deliveries, replies that wait for a commit, errors,
// reading paused or resumed).
//
// The server layer (broker/server/) decodes frames into these requests and
// encodes the Output calls and the returned results into frames; the core
// knows neither frames nor connections, only ClientIds. This is the seam
// Dragonfly keeps in facade/service_interface.h, and the one a cluster
// follower drives without any client at all.
//
// Loop thread only: the core is called on one thread, and calls Output on it.
#ifndef HERMOD_BROKER_CORE_SERVICE_H_
#define HERMOD_BROKER_CORE_SERVICE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "envelope.h"
#include "hermod/status.h"
#include "keys.h"
#include "settings.h"

namespace hermod::core {

using store::BatchNo;
using store::MsgId;
using store::QueueId;
using store::Seq;

// One client of the core: a connection, to the server layer. Never 0.
using ClientId = uint64_t;
// Chosen by the client, unique among its subscriptions.
using SubscriptionId = uint32_t;

// A message header as the request carries it; views into the request.
using Header = store::Header;

// Requests. String views and spans point into the caller's memory and are
// valid for the call only.

// Group fan-out across partitions (docs/design.md): a group publish's
// members in another partition, to be forwarded to that partition's leader
// once the publish is replicated. (job_id, to, chunk) names it.
struct OutboundForward {
  store::PartitionId from = 0;  // the group's partition, led here
  store::PartitionId to = 0;    // the members'
  uint64_t group_id = 0;
  uint64_t job_id = 0;
  uint32_t chunk = 0;
  MsgId msg_id = 0;
  std::string envelope;  // store/envelope.h
  std::vector<std::string> names;
};

// Such a forward, arrived at the leader of the members' partition.
struct ForwardedPublish {
  uint64_t correlation_id = 0;
  store::PartitionId partition = 0;  // the members'
  uint64_t group_id = 0;
  uint64_t job_id = 0;
  uint32_t chunk = 0;
  std::string_view envelope;
  std::span<const std::string> names;
};

// Where the replies of a client inside the node go (Broker::ConnectInternal):
// OK once the request is durable (and replicated), else why not.
class InternalReplies {
 public:
  virtual ~InternalReplies() = default;
  virtual void Replied(uint64_t correlation_id, const Status& status) = 0;
};

struct PublishRequest {
  uint64_t correlation_id = 0;
  std::string_view queue;  // a queue, or
  std::string_view group;  // a group (not both)
  std::span<const Header> headers;
  std::string_view payload;
  uint64_t ttl_ms = 0;  // 0: no expiry
  std::string_view dedup_id;
  // Scheduled delivery (docs/semantics.md): deliverable delay_ms after
  // publish, or at deliver_at_ms (wall clock); 0: at once.
  uint64_t delay_ms = 0;
  uint64_t deliver_at_ms = 0;
  // Delivery receipts go to this queue (empty: none); `receipt` is "each"
  // or "all" (group publishes; empty: each).
  std::string_view receipt_to;
  std::string_view receipt;
};

struct SubscribeRequest {
  uint64_t correlation_id = 0;
  SubscriptionId subscription_id = 0;
  std::string_view queue;
  uint32_t credit = 0;
  uint32_t ack_wait_ms = 0;  // 0: the queue's
  std::string_view backoff;  // empty: the queue's (settings.h, RedeliveryBackoff)
  Seq resume_through = 0;    // resume: deliveries up to this seq were processed
};

struct ConfigureRequest {
  uint64_t correlation_id = 0;
  std::string_view queue;
  bool reset = false;  // drop every override before applying these
  QueueOverrides changes;
};

enum class GroupOp : uint8_t { kCreate, kDelete, kAdd, kRemove };

struct GroupChangeRequest {
  uint64_t correlation_id = 0;
  GroupOp op = GroupOp::kCreate;
  std::string_view group;
  std::span<const std::string_view> members;  // kAdd, kRemove
};

// A page of a listing: up to `limit` names after `after` (0: the default).
struct PageRequest {
  std::string_view prefix;
  std::string_view after;
  uint32_t limit = 0;
};

// Results of the inspection calls, which answer at once.

struct QueueConsumerInfo {
  ClientId client_id = 0;
  SubscriptionId subscription_id = 0;
  uint32_t credit = 0;
  uint32_t inflight = 0;
  uint32_t ack_wait_ms = 0;
};

// One subscription of a client, for the console's connections page.
struct SubscriptionInfo {
  SubscriptionId id = 0;
  std::string queue;
  uint32_t credit = 0;
  uint32_t inflight = 0;
};

struct QueueRow {
  std::string name;
  uint64_t depth = 0, bytes = 0, inflight = 0, oldest_age_ms = 0, dlq_depth = 0;
  uint64_t first_seq = 0, last_seq = 0, created_ms = 0;
  uint32_t consumers = 0;
  double publish_rate = 0, ack_rate = 0;
};

struct QueueLimitInfo {
  std::string name;
  std::string value;
  bool overridden = false;  // set on the queue, not the broker's default
};

// `queue show`: the row, its limits and where each comes from, its consumers.
struct QueueDetail {
  QueueRow row;
  std::vector<QueueLimitInfo> limits;
  std::vector<QueueConsumerInfo> consumers;
};

struct QueuePage {
  std::vector<QueueRow> rows;
  std::string next;  // pass as `after` for the next page; empty at the end
};

struct PeekedEntry {
  Seq seq = 0;
  MsgId msg_id = 0;
  uint32_t delivery_count = 0;
  bool inflight = false;
  std::string envelope;        // store/envelope.h
  uint64_t deliver_at_ms = 0;  // scheduled and not yet due: its time (wall ms); else 0
};

struct GroupSummary {
  std::string name;
  uint64_t members = 0;
  uint64_t created_ms = 0;
};

struct GroupPage {
  std::vector<GroupSummary> groups;
  std::string next;
};

struct GroupMembers {
  std::vector<std::string> members;
  uint64_t member_count = 0;
  std::string next;
};

// One statistic: a number, or a text (version, sync mode).
struct StatValue {
  const char* name = "";       // as `hermod stats` shows it; /metrics prefixes hermod_
  const char* type = "gauge";  // Prometheus type: "counter" or "gauge"
  const char* help = "";
  double value = 0;
  std::string text;  // set for text values; then `value` is unused
};

// A delivery: the entry and its stored envelope (a view valid for the call).
struct Delivery {
  SubscriptionId subscription_id = 0;
  Seq seq = 0;
  MsgId msg_id = 0;
  uint32_t delivery_count = 0;
  std::string_view envelope;  // store/envelope.h
};

// Where one client's deliveries go: the hot path of delivery, so it is
// reached through the client's own port (given to Broker::Connect), not
// looked up by id per message. The server's Session implements it.
class ClientPort {
 public:
  virtual ~ClientPort() = default;
  virtual void Deliver(const Delivery& delivery) = 0;
  // Whether the client takes deliveries now: open, and its unwritten output
  // under the delivery high-water mark.
  virtual bool CanDeliver() = 0;
};

// What the core tells the server layer, besides deliveries. Every call
// names the client it is for; a client the server has already forgotten (its connection closed)
// is ignored by the implementation. The core never calls back into itself
// from these: implementations only encode and queue output.
class Output {
 public:
  virtual ~Output() = default;

  // A publish is durable (duplicate: a dedup id matched an earlier one;
  // seq is 0 for a group publish), or failed.
  virtual void PublishConfirmed(ClientId client, uint64_t correlation_id, MsgId msg_id, Seq seq,
                                bool duplicate) = 0;
  virtual void PublishFailed(ClientId client, uint64_t correlation_id, const Status& status) = 0;
  virtual void Subscribed(ClientId client, uint64_t correlation_id,
                          SubscriptionId subscription_id) = 0;
  // Replies that wait for their batch to commit.
  virtual void QueueConfigured(ClientId client, uint64_t correlation_id) = 0;
  virtual void GroupChanged(ClientId client, uint64_t correlation_id, uint64_t changed) = 0;
  virtual void QueuePurged(ClientId client, uint64_t correlation_id, uint64_t removed) = 0;
  virtual void QueueRedriven(ClientId client, uint64_t correlation_id, uint64_t moved,
                             uint64_t remaining) = 0;
  // A request failed (fatal: the client is closed after the error).
  virtual void Error(ClientId client, const Status& status, uint64_t correlation_id,
                     bool fatal) = 0;

  // Backpressure on publishers: the next batch is full.
  virtual void PauseReading(ClientId client) = 0;
  virtual void ResumeReading(ClientId client) = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_SERVICE_H_
