// libhermod: the client library of the hermod broker.
//
// A Client holds one connection to hermodd and runs its own libuv loop on a
// background thread. Every method is thread-safe. Callbacks (publish
// confirms, deliveries, state changes) run on that background thread, one at
// a time, in the order their frames arrived; they must not block for long,
// and they may call back into the Client (acking from inside a delivery
// handler is the usual pattern). A callback must not wait for something
// only the client thread can deliver (a Publish future's get(), say): that
// would wait forever. Callbacks must not throw.
//
//   auto client = hermod::Client::Connect({.server = "127.0.0.1:7400"});
//   if (!client.ok()) { ... client.status().ToString() ... }
//   hermod::PublishResult r = (*client)->Publish("user:42", "hello").get();
//
// When an established connection breaks, the client reconnects by itself
// (ClientOptions::reconnect): it subscribes again (a Subscribe the broker
// refuses then, say while the queue is being deleted, is sent again after
// the reconnect backoff until it is accepted or unsubscribed), sends
// unconfirmed publishes again with their dedup ids, and holds new publishes
// until then.
// See docs/protocol.md for what travels on the wire (and what the broker
// sees of a reconnect) and docs/semantics.md for what the broker guarantees.
//
// Clusters (docs/client.md, "Clusters"). After the handshake Connect() asks
// the node for the partition map (MapRequest). A single node answers
// "no partitions", and the Client is exactly the one-connection client
// described above. A cluster node answers with P partitions and each one's
// leader: the Client then sends everything that names a queue or group —
// publishes, subscribes and their acks, nacks, credit and unsubscribe,
// ConfigureQueue, the group calls that name a group, ShowQueue, PeekQueue,
// PurgeQueue, DeleteQueue — to the leader of PartitionOf(name, P), over one
// connection per node, made on first use. ListQueues, ListGroups and Stats
// go to the seed node Connect() reached and are per node. When a node
// answers kNotLeader, or a connection to one breaks, the Client fetches the
// map again from any node it can reach (with the reconnect backoff), sends
// unconfirmed publishes to the new leader with their dedup ids (every
// publish has one, as dedup_resends says), and subscribes moved
// subscriptions at the new leader with their latest credit; SubscriptionIds
// stay valid. A publish fails only when no leader took it within its map
// rounds (max_reconnect_attempts, or 20 when that is 0). In a cluster,
// callbacks run on one thread per node (one at a time per node, not across
// nodes), and on_state_change and server_info() describe the seed node's
// connection.
#ifndef HERMOD_CLIENT_H_
#define HERMOD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "hermod/export.h"

#include "hermod/status.h"

namespace hermod {

struct Header {
  std::string key;
  std::string value;
};

// Reported through ClientOptions::on_state_change: kConnected once during
// Connect(); a break once as kReconnecting, however many attempts follow;
// each successful reconnect as kConnected; giving up as kDisconnected,
// before the pending requests fail; Close() as kClosed.
enum class ConnectionState {
  kConnected,     // handshake done; requests flow
  kReconnecting,  // the connection broke; the client is trying again (with backoff)
  kDisconnected,  // the client gave up reconnecting (or reconnect is off); final
  kClosed,        // Close() was called; final
};

struct ClientOptions {
  // "HOST:PORT" of hermodd, or "unix:PATH" for its Unix socket (hermodd
  // --listen unix:PATH, same host); for a cluster, one or more seed nodes,
  // comma-separated ("a:7400,b:7400"). Connect() tries them in order until
  // one completes the handshake and sends the partition map (see Clusters
  // above); a single address behaves as it always did.
  std::string server = "127.0.0.1:7400";
  // Connect() gives up after this long (TCP connect and handshake together).
  std::chrono::milliseconds connect_timeout{5000};
  // Sent in Hello; shows up in the broker's logs.
  std::string client_name = "libhermod";
  // Sent in Hello, for a broker started with --auth-token-file; empty: none.
  // A broker that refuses it fails Connect() with kUnauthenticated, and a
  // reconnect it refuses ends reconnecting at once (kDisconnected).
  std::string auth_token{};
  // Sent in Hello, for a broker with principals (docs/security.md): the
  // principal this client acts as, whose token auth_token is then. Empty:
  // auth_token is checked against the broker's --auth-token-file.
  std::string principal{};
  // Largest frame accepted from the broker.
  uint32_t max_frame_bytes = 16u << 20;
  // Called on the client thread when the connection state changes; `why` is
  // OK for kConnected and kClosed, else what ended the connection or the
  // last attempt.
  std::function<void(ConnectionState, const Status&)> on_state_change{};
  // Reconnecting after the connection broke (socket error, EOF, a fatal
  // Error from the broker, or two heartbeat periods without a frame from
  // it: the broker sets the period in Welcome, and the client pings each
  // period to keep an idle connection open; not after Close()): the delay starts at
  // reconnect_initial_delay, doubles up to reconnect_max_delay, with +-20%
  // random jitter; after max_reconnect_attempts failures in a row (0: never
  // give up) the client is kDisconnected for good, and every pending
  // publish and call fails with kUnavailable. Each attempt is bounded by
  // connect_timeout. Connect() itself never retries: a broker unreachable at
  // first fails it at once. With reconnect false, a break is final at once
  // (kDisconnected, pending requests fail with kUnavailable).
  bool reconnect = true;
  std::chrono::milliseconds reconnect_initial_delay{100};
  std::chrono::milliseconds reconnect_max_delay{5000};
  uint32_t max_reconnect_attempts = 0;
  // Gives every publish without a dedup id one of its own,
  // "~<client id>-<n>" (a random 16-hex-digit id per Client, n counting its
  // publishes), so that the publishes resent after a reconnect are stored
  // once: the broker deduplicates within its dedup window (see
  // PublishResult::duplicate). Dedup ids given in PublishOptions are always
  // sent as given.
  bool dedup_resends = true;
  // TLS (docs/security.md, "TLS"): on when `tls` is true or tls_ca is set.
  // The broker's certificate must be signed by a CA in tls_ca (a PEM file;
  // empty: the system's CAs) and carry tls_server_name (empty: the host part
  // of the address connected to, a DNS name or an IP address). tls_cert and
  // tls_key (PEM files) are this client's certificate, for a broker that
  // requires one (--tls-client-ca). Connect() fails with the reason when a
  // file cannot be used or the handshake fails (kUnauthenticated when a
  // certificate is refused, kProtocolViolation when one side is not TLS).
  bool tls = false;
  std::string tls_ca{};
  std::string tls_server_name{};
  std::string tls_cert{};
  std::string tls_key{};
};

// What the broker told us in its Welcome frame.
struct ServerInfo {
  std::string version;
  std::string sync_mode;  // "always", "batch" or "none"
  uint32_t protocol_version = 0;
  uint32_t max_frame_bytes = 0;
};

struct PublishOptions {
  std::vector<Header> headers{};
  // Time to live; zero means the message does not expire.
  std::chrono::milliseconds ttl{0};
  // Publishes with the same dedup id inside the broker's dedup window are
  // stored once. Empty: no deduplication.
  std::string dedup_id{};
  // Scheduled delivery: the message is stored and confirmed at once and
  // becomes deliverable `delay` after publish, or at `deliver_at` (one of
  // the two; zero: at once). Survives a broker restart.
  std::chrono::milliseconds delay{0};
  std::chrono::system_clock::time_point deliver_at{};
  // Delivery receipts: when a recipient acks this message (or it expires,
  // or is dead-lettered), the broker appends a receipt to this queue
  // (docs/semantics.md, "Receipts"). Empty: no receipts.
  std::string receipt_to{};
  // For a group publish: "each" (one receipt per member, the default) or
  // "all" (one receipt once every member has settled the message).
  std::string receipt{};
};

// The broker's answer to one publish.
struct PublishResult {
  Status status;        // OK once the message is durable
  uint64_t msg_id = 0;  // valid when status.ok()
  uint64_t seq = 0;     // the entry's seq in the queue
  // The dedup id matched an earlier publish (within the broker's dedup
  // window, to the same queue): the message was not stored again, and
  // msg_id and seq are the original's. Also what a publish resent after a
  // reconnect reports when the broker had stored it before the break.
  bool duplicate = false;
};

using SubscriptionId = uint32_t;

// One delivery of one queue entry. Ack it (by seq) when done.
struct Delivery {
  SubscriptionId subscription = 0;
  std::string queue;
  uint64_t seq = 0;
  uint64_t msg_id = 0;
  uint32_t delivery_count = 0;   // 1 on the first delivery
  uint64_t publish_time_ms = 0;  // broker clock, milliseconds since the epoch
  std::vector<Header> headers;
  std::string payload;
};

struct SubscribeOptions {
  // The most deliveries the broker keeps unacked on this subscription.
  uint32_t credit = 100;
  // Redelivery deadline for an unacked delivery; zero: the broker's default.
  std::chrono::milliseconds ack_wait{0};
  // Redelivery backoff for nacks without a delay and ack timeouts: a list
  // of delays ("1s,5s,30s,2m") or "exp:BASE:CAP" (docs/semantics.md).
  // Empty: the queue's.
  std::string backoff{};
  // Resume: every delivery up to this seq was processed, although its ack
  // may have been lost with the connection; the broker settles those as
  // acked instead of delivering them again. 0: none.
  uint64_t resume_through = 0;
};

// Per-queue settings that override the broker's defaults. Fields left empty
// are not changed; `reset` drops every override first.
struct QueueSettings {
  bool reset = false;
  std::optional<uint64_t> max_messages{};               // 0: unlimited
  std::optional<uint64_t> max_bytes{};                  // 0: unlimited
  std::optional<std::string> overflow{};                // "reject" or "drop-oldest"
  std::optional<std::chrono::milliseconds> max_age{};   // 0: entries never age out
  std::optional<uint32_t> max_deliveries{};             // 0: unlimited
  std::optional<std::string> dead_letter_queue{};       // "": the default, <queue>.dlq
  std::optional<std::chrono::milliseconds> ack_wait{};  // for this queue's consumers
  // Redelivery backoff (SubscribeOptions::backoff; "none": redeliver at
  // once); "": the broker's default.
  std::optional<std::string> backoff{};
};

// Groups (named sets of member queues; a publish to a group reaches every
// member queue).
struct GroupSummary {
  std::string name;
  uint64_t members = 0;
  uint64_t created_ms = 0;
};
struct GroupPage {
  std::vector<GroupSummary> groups;
  std::string next;  // pass as `after` for the next page; empty at the end
};
struct MemberPage {
  std::vector<std::string> members;  // in name order
  uint64_t member_count = 0;         // the group's size
  std::string next;
};

// Queue inspection.
struct QueueLimitInfo {
  std::string name;
  std::string value;
  std::string source;  // "default" or "queue"
};
struct ConsumerInfo {
  std::string address;
  uint32_t subscription_id = 0;
  uint32_t credit = 0;
  uint32_t inflight = 0;
  uint32_t ack_wait_ms = 0;
};
struct QueueInfo {
  std::string name;
  uint64_t depth = 0;  // entries, delivered or not
  uint64_t bytes = 0;
  uint32_t consumers = 0;
  uint64_t inflight = 0;  // deliveries awaiting ack
  uint64_t oldest_age_ms = 0;
  uint64_t dlq_depth = 0;
  uint64_t first_seq = 0;  // ShowQueue only
  uint64_t last_seq = 0;
  uint64_t created_ms = 0;
  double publish_rate = 0;                  // ShowQueue only: per second, recent
  double ack_rate = 0;                      // ShowQueue only
  std::vector<QueueLimitInfo> limits;       // ShowQueue only
  std::vector<ConsumerInfo> consumer_list;  // ShowQueue only
};
struct QueueListOptions {
  std::string prefix{};
  std::string after{};  // by name only: the page starts after this name
  uint32_t limit = 0;   // 0: the broker's default (100)
  std::string sort{};   // "name" (default), "depth", "bytes" or "age"
};
struct QueuePage {
  std::vector<QueueInfo> queues;
  std::string next;  // by name only
};
struct PeekedEntry {
  uint64_t seq = 0;
  uint64_t msg_id = 0;
  uint32_t delivery_count = 0;
  uint64_t publish_time_ms = 0;
  uint64_t expires_ms = 0;
  bool inflight = false;  // being delivered right now
  std::vector<Header> headers;
  std::string payload;
  // Scheduled delivery: not deliverable before this wall-clock time, ms
  // since the epoch; 0: not scheduled, or its time has come.
  uint64_t deliver_at_ms = 0;
};

// What one redrive request did (Client::Redrive).
struct RedriveResult {
  uint64_t moved = 0;      // dead letters moved back
  uint64_t remaining = 0;  // entries left in the dead-letter queue
};

// One server-wide statistic (docs/cli.md lists the names).
struct ServerStat {
  std::string name;
  double value = 0;
  std::string text;  // for values that are not numbers (version, sync_mode)
};

using ConfirmCallback = std::function<void(const PublishResult&)>;
using DeliveryHandler = std::function<void(const Delivery&)>;

class HERMOD_EXPORT Client {
 public:
  // Connects to options.server and completes the handshake (and gets the
  // partition map), or fails with kUnavailable, kTimeout or
  // kInvalidArgument (a bad address). With several seeds it tries them in
  // order, moving on only from kUnavailable and kTimeout, and returns the
  // last seed's error when none answered.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  // Closes the connection (see Close) and joins the client thread.
  // REQUIRES: not called from a callback of this client.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Publishes payload to a queue. `done` runs on the client thread once the
  // broker confirmed the message as durable, or refused it, or the client
  // gave up reconnecting first (kUnavailable; the message may or may not
  // have been stored). Never blocks: many publishes may be in flight at
  // once. A publish unconfirmed when the connection breaks is sent again
  // after the reconnect, and one made while reconnecting waits for it; both
  // go out in publish order, after the older ones. The client keeps every
  // unconfirmed publish in memory until its confirm: bound them yourself
  // (as `hermod pub --inflight` does).
  void PublishAsync(std::string_view queue, std::string_view payload, const PublishOptions& options,
                    ConfirmCallback done);
  // The same, with a future instead of a callback.
  std::future<PublishResult> Publish(std::string_view queue, std::string_view payload,
                                     const PublishOptions& options = {});

  // Subscribes to a queue; blocks until the broker accepted or refused.
  // `handler` runs on the client thread for every delivery. Called from a
  // callback of this client it cannot block and returns kInvalidArgument.
  // The subscription survives reconnects: it is subscribed again, with the
  // same id, the latest credit and the same ack_wait (should the broker
  // refuse that, it ends). Called while reconnecting, it waits for the
  // connection, at most 2 x connect_timeout + reconnect_max_delay
  // (kTimeout), or fails with kUnavailable when the client gives up.
  Result<SubscriptionId> Subscribe(std::string_view queue, const SubscribeOptions& options,
                                   DeliveryHandler handler);
  // Acknowledges one delivery, or every delivery of the subscription with
  // first <= seq <= last. Asynchronous: returns once the frame is queued.
  // Returns kUnavailable while reconnecting. Acks (and nacks) of deliveries
  // that came on an earlier connection are dropped, not sent: the broker
  // gave those back when that connection ended and delivers them again
  // (at least once), unless the new connection already redelivered the same
  // seq, in which case the ack stands for that entry and is sent.
  Status Ack(SubscriptionId subscription, uint64_t seq);
  Status AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq);
  // Gives a delivery back, to be delivered again after `delay`.
  Status Nack(SubscriptionId subscription, uint64_t seq,
              std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Changes a subscription's credit. Accepted while reconnecting: the
  // subscription is subscribed again with the latest credit.
  Status SetCredit(SubscriptionId subscription, uint32_t credit);
  // Changes a queue's settings (creating the queue if needed); blocks until
  // the broker accepted or refused them (kInvalidArgument for a bad value).
  // A request that got no answer before the connection broke is sent again
  // after the reconnect (settings are idempotent). While reconnecting it
  // waits as Subscribe does. Called from a callback of this client it
  // returns kInvalidArgument.
  Status ConfigureQueue(std::string_view queue, const QueueSettings& settings);
  // Stops a subscription; its unacked deliveries go back to the queue. No
  // delivery reaches the handler after it returns. Blocks until the broker
  // confirmed, which also means it handled every ack sent before; called
  // from a callback of this client, it returns without waiting. While
  // reconnecting (no connection holds the subscription) it returns at once.
  Status Unsubscribe(SubscriptionId subscription);

  // --- Groups (docs/protocol.md, "GroupRequest", "Publishing to a group") ---
  //
  // The blocking calls below (everything but PublishToGroupAsync and
  // PublishToGroup) wait for the broker's answer. Called from a callback of
  // this client they return kInvalidArgument at once. Called while
  // reconnecting they wait for the connection as ConfigureQueue does (at
  // most 2 x connect_timeout + reconnect_max_delay, then kTimeout). A
  // request that got no answer before the connection broke is sent again on
  // the next connection (at most 3 times in all): reads and membership
  // changes are idempotent; a resent CreateGroup that finds the group exists
  // and a resent DeleteGroup or DeleteQueue that finds it gone succeed,
  // since the first attempt may have done the work (counts then cover only
  // what the resent request changed).

  // Publishes payload to every member queue of `group`, as PublishAsync does
  // to a queue: same pipelining, dedup ids and resends after a reconnect; it
  // goes out in call order with the client's queue publishes. The confirm
  // comes once the message and its fan-out job are durable
  // (PublishResult::seq is 0: there is one entry per member, added shortly
  // after, in the order of this client's group publishes; a queue publish
  // may overtake a group message still being expanded). The members are
  // those of the group when the broker received the publish. A missing
  // group: kNotFound; an empty group name: kInvalidArgument.
  void PublishToGroupAsync(std::string_view group, std::string_view payload,
                           const PublishOptions& options, ConfirmCallback done);
  std::future<PublishResult> PublishToGroup(std::string_view group, std::string_view payload,
                                            const PublishOptions& options = {});
  // Creates an empty group; kAlreadyExists when it exists. Returns once durable.
  Status CreateGroup(std::string_view group);
  // Deletes a group; returns how many members it had. Fan-outs already
  // confirmed still complete. kNotFound when it does not exist.
  Result<uint64_t> DeleteGroup(std::string_view group);
  // Adds member queues (creating those that do not exist yet; in a cluster,
  // members of partitions other than the group's are created by their own
  // leader when the first publish reaches them) and returns
  // how many were not members before. Long lists go out as several requests,
  // each frame well under the broker's max_frame_bytes; each request is
  // all or nothing (a bad name fails its request: kInvalidArgument), so a
  // failure can leave the earlier requests' members added. Returns once
  // every change is durable. kNotFound when the group does not exist.
  Result<uint64_t> AddMembers(std::string_view group, const std::vector<std::string>& members);
  // Removes members (the queues stay); returns how many were members.
  // Split like AddMembers.
  Result<uint64_t> RemoveMembers(std::string_view group, const std::vector<std::string>& members);
  // One page of groups in name order: those whose name starts with
  // `prefix`, after the name `after`; at most `limit` (0: the broker's
  // default, 100). GroupPage::next is the `after` of the next page.
  Result<GroupPage> ListGroups(std::string_view prefix = {}, std::string_view after = {},
                               uint32_t limit = 0);
  // One page of a group's members in name order, after `after`, at most
  // `limit` (0: the broker's default, 100). kNotFound for a missing group.
  Result<MemberPage> ShowGroup(std::string_view group, std::string_view after = {},
                               uint32_t limit = 0);

  // --- Queue inspection and server statistics ------------------------------
  // Blocking, with the rules of the group calls above.

  // One page of queues with their counters (QueueInfo without the
  // ShowQueue-only fields). By name (the default) pages with `after` and
  // QueuePage::next; by "depth", "bytes" or "age" (oldest first) it returns
  // the top `limit` rows and no next page.
  Result<QueuePage> ListQueues(const QueueListOptions& options = {});
  // One queue in detail: counters, first and last seq, the limits in force
  // with their sources, consumers, recent rates. kNotFound when it does not
  // exist.
  Result<QueueInfo> ShowQueue(std::string_view queue);
  // Up to `limit` entries (0: the broker's default, 10) from seq `from_seq`
  // on, oldest first, with their payloads; nothing is delivered and no
  // delivery count changes. Entries being delivered are marked inflight.
  Result<std::vector<PeekedEntry>> PeekQueue(std::string_view queue, uint64_t from_seq = 0,
                                             uint32_t limit = 0);
  // Removes every entry of the queue that is not being delivered right now;
  // returns how many. Durable when it returns.
  Result<uint64_t> PurgeQueue(std::string_view queue);
  // Purges the queue and forgets it (its name may be used again); returns
  // how many entries went. Refused (kInvalidArgument) while it has
  // consumers or deliveries in flight. Durable when it returns.
  Result<uint64_t> DeleteQueue(std::string_view queue);
  // Moves dead letters of the dead-letter queue `dlq` back, as new entries
  // with their delivery count reset and the dead-lettering's headers
  // removed: to `to`, or (empty) to the queue each came from. One request:
  // at most `limit` entries (0: no bound of its own) and at most the
  // broker's --redrive-batch; call it again while moved > 0 for more.
  // Deliveries in flight and entries without an origin (when `to` is
  // empty) stay, counted in remaining. Durable when it returns. An error
  // when nothing moved because a target refused (kLimitExceeded when full,
  // kNotSupported when led by another node of a cluster). Not resent after
  // a lost connection (kUnavailable): the first send may have moved a batch.
  Result<RedriveResult> Redrive(std::string_view dlq, std::string_view to = {}, uint32_t limit = 0);
  // The broker's statistics, in the broker's order (docs/cli.md names them).
  Result<std::vector<ServerStat>> Stats();

  // What the broker said in the first connection's Welcome.
  const ServerInfo& server_info() const;
  // True while a connection stands (not while reconnecting).
  bool connected() const;

  // Closes the connection and stops reconnecting. Acks, nacks and credit
  // changes made before are still sent while the connection stands;
  // publishes still unconfirmed complete with kClosed, and later ones at
  // once, on the calling thread, with kClosed. Idempotent; safe from any thread, callbacks
  // included. From any other thread it returns once the client thread has stopped: no callback runs
  // after it.
  void Close();

 private:
  class Impl;
  class Router;
  Client(std::unique_ptr<Impl> impl, std::unique_ptr<Router> router);
  // A single node: impl_, and no router_. A cluster: router_ (which owns
  // one Impl per node), and no impl_.
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Router> router_;
};

}  // namespace hermod

#endif  // HERMOD_CLIENT_H_
