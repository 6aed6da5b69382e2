// Broker: hermod's core. It owns the sessions, the queues in use, and the
// commit pipeline, and implements the delivery semantics of
// docs/semantics.md: publish into the next batch and confirm after commit;
// deliver oldest first within credit; ack; redeliver on nack, ack-wait
// expiry or disconnect, with the delivery count kept durable; dead-letter
// after max deliveries; expire; enforce queue limits; deduplicate.
//
// broker.cc holds sessions, queues, publishing, configuration and shutdown;
// commits.cc what happens when a storage batch comes back (confirms, the
// full store, failed batches); delivery.cc holds subscriptions, delivery,
// acks, redelivery, dead-lettering, resume and the expiry sweep; redrive.cc
// moves dead letters back (redrive).
//
// The Broker knows no wire, loop or wall clock: requests come in as plain
// structs (service.h), results and events leave through Output, time comes
// from an injected Clock and Scheduler, and storage is reached only through
// Store (reads) and the Pipeline (writes, through a store::Committer). The
// server layer (broker/server/) owns connections and frames. So the unit
// tests drive it on the in-memory store with a fake clock
// (tests/unit/broker/core/). Nothing in it is global: a process could run
// several, one per shard. Loop thread only.
#ifndef HERMOD_BROKER_CORE_BROKER_H_
#define HERMOD_BROKER_CORE_BROKER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "check.h"
#include "client.h"
#include "clock.h"
#include "committer.h"
#include "config.h"
#include "dedup_index.h"
#include "follower_log.h"
#include "group.h"
#include "group_table.h"
#include "partition_rows.h"
#include "pipeline.h"
#include "queue.h"
#include "queue_table.h"
#include "rate_meter.h"
#include "replica_log.h"
#include "service.h"
#include "store.h"

namespace hermod::core {

// Statistics since start (stats, /metrics).
struct BrokerStatistics {
  uint64_t published = 0;
  uint64_t duplicates = 0;
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t acked = 0;
  uint64_t nacked = 0;
  uint64_t ack_timeouts = 0;
  uint64_t dead_lettered = 0;
  uint64_t expired = 0;
  uint64_t dropped = 0;  // by drop-oldest, or a full dead-letter queue
  uint64_t purged = 0;
  uint64_t refused_full = 0;
  uint64_t refused_storage = 0;  // publishes refused while the store is full
  uint64_t scheduled = 0;        // publishes with a delivery time ahead
  uint64_t group_publishes = 0;
  uint64_t fanout_entries = 0;
  uint64_t fanout_forwards = 0;    // forwards of group publishes to other partitions
  uint64_t forwards_received = 0;  // such forwards stored here (duplicates not counted)
  uint64_t receipts = 0;           // receipts appended
  uint64_t receipts_dropped = 0;   // receipts whose queue had no room
  uint64_t batches = 0;
  uint64_t batch_failures = 0;
  uint64_t redriven = 0;      // dead letters moved back by redrive
  uint64_t resumed_acks = 0;  // deliveries settled as acked by a resume
};

// Why an entry leaves its queue without an ack.
enum class Removal { kAcked, kExpired, kDeadLettered, kDropped, kPurged, kRedriven };
// Why a delivery comes back unacked.
enum class ReturnReason { kNacked, kAckWaitExpired, kConsumerGone };
const char* ReturnReasonName(ReturnReason reason);

class Broker {
 public:
  // REQUIRES: every pointer outlives the Broker.
  Broker(Clock* clock, Scheduler* scheduler, store::Store* store, store::Committer* storage,
         Output* output, const BrokerConfig& config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Applies one committed log operation to the core's memory: the call a
  // replay of the log makes for each operation, in log order (Store::Recover
  // at startup; in a cluster, a follower for what its leader shipped).
  void ApplyCommitted(const store::LogOp& op);
  // A follower's part in a cluster (replica_log.h): writes a leader's
  // operations of one partition (its two records, without markers) into the
  // batch being filled, and returns that batch's number: they are durable
  // here once committed_through() reaches it. Corruption when a record does
  // not read.
  Result<BatchNo> AppendReplicated(store::PartitionId partition, std::string_view record,
                                   std::string_view commit_record);
  size_t replica_pending() const { return replica_.pending(); }
  // The follower's partition logs (follower_log.h): a shipped part, the
  // leader's high watermark alone, truncation, fencing. A part taken is
  // durable once committed_through() reaches the batch_no() it went into.
  Result<ReplicateResult> TakeReplicated(const ReplicatePart& part);
  Status LeaderCommitted(store::PartitionId partition, uint64_t epoch, uint64_t leader_commit);
  Status TruncatePartition(store::PartitionId partition, uint64_t to);
  // The control plane names `epoch` for the partition: older leaders are
  // refused from here on (FollowerLog::Fence; durable with the next batch).
  void Fence(store::PartitionId partition, uint64_t epoch) {
    follower_.Fence(partition, epoch, &pipeline_.batch());
  }
  FollowerLog& follower_log() { return follower_; }

  // Which partitions this node serves (a single node: its one, always). A
  // cluster node serves none until the control plane makes it a leader;
  // requests for the others are refused with kNotLeader and change nothing.
  // Promote() takes a followed partition over at `epoch`: its staged parts
  // enter the state, its log is applied to the index, and once that is
  // committed (serves() turns true) its queues load whole from the store.
  // Promote() is refused (kUnavailable, retry) while queues of the
  // partition from an earlier leadership are still in memory. Demote()
  // stops serving it and disconnects (fatal kNotLeader) the clients
  // subscribed to its queues. Both are the control plane's decisions.
  Status Promote(store::PartitionId partition, uint64_t epoch);
  void Demote(store::PartitionId partition);
  // A rebuild of a followed partition from its leader's snapshot
  // (store/partition_rows.h). PrepareRebuild() first has this node's whole
  // log applied to the index (records mix partitions, so the partition's
  // operations could not be left out of a later apply): with *mark 0 it
  // sets *mark to the batch everything up to which must be applied, and
  // returns 0, as it does until that has committed; call it again with the
  // same mark. Then it empties the partition in the batch being filled and
  // returns that batch: the copy is gone once committed_through() reaches
  // it. TakeSnapshotRows() writes a slice of
  // the leader's rows (kCorruption when they do not read: nothing is
  // written), FinishRebuild() the leader's not yet applied records of the
  // partition and the partition log's new state; each returns its batch.
  // REQUIRES: the partition is followed here (not served or promoting).
  Result<BatchNo> PrepareRebuild(store::PartitionId partition, BatchNo* mark);
  Result<BatchNo> TakeSnapshotRows(store::PartitionId partition, std::string_view rows);
  Result<BatchNo> FinishRebuild(store::PartitionId partition, uint64_t epoch, uint64_t end_offset,
                                const std::vector<std::pair<uint64_t, uint64_t>>& epochs,
                                const std::vector<std::string>& records);
  // Which names belong to a partition, for a snapshot of it.
  store::NameFilter PartitionFilter(store::PartitionId partition) const;

  // Called when a promoted partition starts being served, before any
  // request of it is taken.
  void set_serve_listener(std::function<void(store::PartitionId)> listener) {
    serve_listener_ = std::move(listener);
  }
  // Who leads a partition, as the map says ("node-2 at HOST:PORT"; empty:
  // unknown), named in kNotLeader errors so that a client can go there.
  void set_leader_hint(std::function<std::string(store::PartitionId)> hint) {
    leader_hint_ = std::move(hint);
  }
  bool serves(store::PartitionId partition) const {
    return partition < roles_.size() && roles_[partition] == Role::kServing;
  }
  BatchNo batch_no() const { return pipeline_.batch_no(); }

  // A cluster leader's part: every batch storage is done with goes to
  // `listener` before its replies are sent (a committed one's records are
  // shipped to followers; batch.status says which).
  // With the replication gate on, a batch's replies (confirms, group and
  // configure replies, their failures) wait for OnReplicated() to pass it:
  // a publish is confirmed only once the in-sync replicas have it durable
  // too (docs/cluster.md). The replicator reports every batch number,
  // failed ones and ones with nothing to ship included.
  using CommitListener = std::function<void(const store::WriteBatch&)>;
  void set_commit_listener(CommitListener listener) { commit_listener_ = std::move(listener); }
  void set_replication_gate(bool on) { replication_gate_ = on; }
  // Sees every batch just before it goes to storage (may add operations).
  void set_submit_listener(std::function<void(store::WriteBatch&)> listener) {
    pipeline_.set_on_submit(std::move(listener));
  }
  void OnReplicated(BatchNo through);
  // Group fan-out across partitions: each forward of a publish to another
  // partition's members goes to `listener` once its batch is replicated
  // (and again, read from the store, when this node takes the group's
  // partition over); ForwardDone() once that partition's leader has it.
  void set_forward_listener(std::function<void(OutboundForward)> listener) {
    forward_listener_ = std::move(listener);
  }
  void ForwardDone(const OutboundForward& forward);
  // A batch waiting for replication never will be (this node lost a
  // partition it carries): its replies fail with `why`, when
  // OnReplicated() passes it. At-least-once holds: an unconfirmed publish is
  // resent (docs/semantics.md).
  void FailReplication(BatchNo batch_no, const Status& why);

  // Takes over a recovered store's counters and fan-out jobs, after the
  // replay. Before Start().
  Status Recover(const store::Recovery& recovery);
  // Starts batching, redelivery and sweeping. After Recover().
  void Start();

  // The end of a loop turn: the batch filled in this turn goes to storage
  // if storage is free. The server calls it once per turn, so one batch
  // holds everything read in a turn.
  void EndOfTurn() {
    if (!receipt_queues_.empty()) DispatchReceipts();
    pipeline_.MaybeSubmit();
  }
  // Storage reported (the server posts this to the loop).
  void OnStorageWake() { pipeline_.OnStorageWake(); }

  // Clients. Connect() before any request of the client (its deliveries go
  // to `port`, which must live until Disconnect()); Disconnect() when its
  // connection closed: its deliveries go back to their queues.
  void Connect(ClientId client_id, ClientPort* port);
  // A client inside the node (the cluster's forwarded publishes), with no
  // deliveries; its replies go to `replies`, which must live until
  // Disconnect().
  void ConnectInternal(ClientId client_id, InternalReplies* replies);
  void Disconnect(ClientId client_id);
  // The client's output drained: deliveries paused for it may resume.
  void ClientWritable(ClientId client_id);

  // Requests. The answers leave through Output, a confirm once its batch is
  // durable. REQUIRES: the client is connected.
  void Publish(ClientId client_id, const PublishRequest& publish);
  void Subscribe(ClientId client_id, const SubscribeRequest& subscribe);
  void SetCredit(ClientId client_id, SubscriptionId subscription_id, uint32_t credit);
  void Ack(ClientId client_id, SubscriptionId subscription_id, Seq first_seq, Seq last_seq);
  void Nack(ClientId client_id, SubscriptionId subscription_id, Seq seq, uint32_t delay_ms);
  // Answers at once (UnsubscribeOk, or the error).
  Status Unsubscribe(ClientId client_id, SubscriptionId subscription_id);
  void ConfigureQueue(ClientId client_id, const ConfigureRequest& configure);
  void ChangeGroup(ClientId client_id, const GroupChangeRequest& request);
  // Stores a forward's message once for the named members of a partition
  // led here (creating their queues) and adds their entries, all in one
  // batch; a forward seen before (by group, job and chunk) is answered as a
  // duplicate. The reply comes once durable (and replicated).
  void PublishForwarded(ClientId client_id, const ForwardedPublish& forward);
  // Purge: removes every entry not being delivered; forget: deletes the
  // queue too (refused while it has consumers). Output::QueuePurged once
  // durable.
  void PurgeQueue(ClientId client_id, uint64_t correlation_id, std::string_view name, bool forget);
  // Redrive (redrive.cc): moves up to min(limit, redrive_batch) undelivered
  // entries of the dead-letter queue `name` (0: redrive_batch), in delivery
  // order, each as a new entry (delivery count 0, the dead-lettering's
  // headers gone) into `to`, or, with `to` empty, into the queue named by
  // its x-hermod-dead-letter-from header; an entry without one is left in
  // place. Each move is an append and a removal in one batch.
  // Deliveries in flight (or nacked with a delay) stay. Output::QueueRedriven
  // once durable, with the moves and the entries left; an error when nothing
  // moved and a target refused (full, or led by another node).
  void Redrive(ClientId client_id, uint64_t correlation_id, std::string_view name,
               std::string_view to, uint32_t limit);

  // Inspection: answers at once, from the store with the live state of the
  // queues in memory laid over it (inspect.cc).
  Result<QueuePage> ListQueues(const PageRequest& page, std::string_view sort);
  Result<QueueDetail> ShowQueue(std::string_view name);
  Result<std::vector<PeekedEntry>> PeekQueue(std::string_view name, Seq from_seq, uint32_t limit);
  Result<GroupPage> ListGroups(const PageRequest& page);
  // A client's subscriptions, by id (none for an unknown client).
  std::vector<SubscriptionInfo> ClientSubscriptions(ClientId client_id) const;
  Result<GroupMembers> ShowGroup(std::string_view name, const PageRequest& page);
  // Every statistic of the core, one table for `stats` and /metrics.
  std::vector<StatValue> Stats();
  // The deepest queues of the last full scan (name, depth), for /metrics'
  // per-queue series (--metrics-top-queues).
  std::vector<std::pair<std::string, uint64_t>> DeepestQueues() const;
  // Whether the store accepts writes and the broker is not stopping.
  bool Healthy() const;

  // Graceful stop, first half: refuses new work, commits what was received
  // and sends its confirms, then calls drained. Close() afterwards (or when
  // startup failed after Start()) closes the timers.
  void Drain(std::function<void()> drained);
  void Close();

  const BrokerConfig& config() const { return config_; }
  const BrokerStatistics& statistics() const { return stats_; }
  size_t queues_in_memory() const { return queues_.size(); }
  // The most queues in memory at once since the last call.
  size_t TakeQueuesInMemoryPeak() { return queues_.TakePeak(); }
  size_t subscriptions() const { return subscriptions_; }
  BatchNo committed_through() const { return pipeline_.committed_through(); }

  // One queue's row in `queue ls` / `queue show` (inspect.cc).
  struct Row;

 private:
  // The wall clock in ms, read once per monotonic ms.
  uint64_t Now();
  Client* FindClient(ClientId client_id);

  // The partition of a queue or group name (0 on a single node).
  store::PartitionId PartitionOfName(std::string_view name) const;
  // kNotLeader unless this node serves the name's partition.
  Status CheckServes(std::string_view name) const;
  // Promoting partitions whose log is applied through their batch serve.
  void FinishPromotions();

  // The broker's own headers of a publish (scheduled delivery, receipts),
  // written after the client's (store::NewEnvelope::extra_headers).
  struct PublishExtras {
    std::string deliver_at;  // the kDeliverAtHeader value
    Header list[3];
    size_t count = 0;
    void Add(std::string_view key, std::string_view value) { list[count++] = Header{key, value}; }
    std::span<const Header> headers() const { return {list, count}; }
  };
  // Checks a publish's options and headers, and fills *extras.
  Status TakePublishExtras(const PublishRequest& publish, uint64_t now, PublishExtras* extras);

  // Queues (broker.cc).
  void EnsureCreated(Queue* q);
  void MaybeEvict(Queue* q);
  // Appends a new entry with a new message to q in the current batch.
  Entry& AppendEntry(Queue* q, const store::NewEnvelope& envelope, size_t envelope_bytes);
  // Makes room in q for one more entry of `bytes` by the queue's overflow
  // rule; returns the limit that refused it, if one did.
  Status MakeRoom(Queue* q, uint64_t bytes);

  // Delivery (delivery.cc).
  void Dispatch(Queue* q);
  bool TakeNextEntry(Queue* q, Entry* entry, bool include_uncommitted);
  // The newest batch whose entries may be delivered: any, unless delivery
  // waits for durability.
  BatchNo DeliverableThrough() const {
    return config_.deliver_after_commit ? pipeline_.committed_through() : UINT64_MAX;
  }
  Status ReadAhead(Queue* q);
  bool IsExpired(const Queue* q, const Entry& entry, uint64_t now_ms) const;
  Consumer* NextConsumer(Queue* q);
  void Deliver(Consumer* c, Entry entry);
  // Takes an entry out of its queue for good, in the current batch.
  void RemoveEntry(Queue* q, Entry& entry, Removal why);
  // A delivery came back: deliver it again (after backoff_ms of monotonic
  // time; 0: at once), or dead-letter it past max_deliveries.
  void ReturnEntry(Queue* q, Entry entry, ReturnReason why, uint64_t backoff_ms = 0);
  // Holds an undelivered entry back until the monotonic clock reaches
  // due_mono_ms; the redelivery timer then returns it.
  void DelayEntry(Queue* q, Entry entry, uint64_t due_mono_ms);
  // The wait before an entry that c's delivery gave back goes out again:
  // the subscription's backoff, else its queue's (0: none).
  uint64_t BackoffMs(const Consumer* c, const Entry& entry);
  // A uniformly random number (splitmix64), for backoff jitter.
  uint64_t NextRandom();
  void DeadLetter(Queue* q, Entry entry, ReturnReason why);
  // Resume (delivery.cc): raises q's settled_through to resume_through and
  // settles the entries waiting in returned and delayed that it covers.
  void Resume(Queue* q, Seq resume_through);
  // Whether entry was delivered before a resume that covers its seq; then
  // it has been removed as acked (the caller drops it).
  bool SettleResumed(Queue* q, Entry& entry);
  void RemoveConsumer(Consumer* c);
  void ForgetDeadline(Consumer* c);

  // Timers (delivery.cc).
  void ArmRedelivery(uint64_t due_ms);
  void OnRedeliveryTimer();
  void OnSweepTimer();
  void ScanDeepest();  // metrics.cc
  void SweepExpired(uint64_t now_ms);
  void SweepDedup(uint64_t now_ms);
  void ExpireIndexed(Queue* q, Seq seq);

  // Receipts (receipts.cc). SettleReceipt: an entry left its queue for
  // good; if its message asked for receipts, the receipt (or the tally's
  // count) goes into the current batch.
  void SettleReceipt(Queue* q, const Entry& entry, Removal why);
  // A group fan-out could not give a member its entry (no room, gone).
  void SettleSkippedMember(const FanoutJob& job, Queue* q);
  void StartReceiptTally(const FanoutJob& job, std::string_view receipt_to);
  // One member settled a `receipt: all` message (reason: why it failed;
  // null: acked); the last one sends the receipt.
  void CountTowardTally(MsgId msg_id, std::string_view receipt_to, const char* reason,
                        bool member = true);
  // Appends a receipt to `to` in the current batch; in a cluster, one for
  // a queue of another partition than `from` (the settled entry's) is
  // forwarded to its leader instead.
  void AppendReceipt(std::string_view to, std::span<const Header> headers, store::PartitionId from);
  // Stores `envelope` in partition `from` and forwards it, once, to the
  // leader of queue `to`'s partition, which appends it there.
  void ForwardCopy(store::PartitionId from, std::string_view to, std::string_view envelope);
  // A group publish's envelope as forwarded to another partition: with
  // kReceiptMsgIdHeader added when it asks for receipts.
  static std::string ForwardedEnvelope(std::string_view envelope, MsgId msg_id);
  void DispatchReceipts();
  void ForgetCommittedTallies(BatchNo through);

  // Groups and fan-out (groups.cc).
  void PublishToGroup(Client& client, const PublishRequest& publish,
                      const store::NewEnvelope& envelope, size_t envelope_bytes);
  // Adds this batch's chunk of member entries (fanout_chunk at most).
  void ExpandFanouts();
  // One member entry of a group publish's message; false when the queue
  // has no room.
  bool AddFanoutEntry(Queue* q, MsgId msg_id, const MessageRef& msg, uint32_t bytes,
                      uint64_t expires_ms);
  // Logs the forwards of a group publish to its members of other
  // partitions, and holds them for the forward listener.
  void ForwardFanout(Group& group, const FanoutJob& job, std::string_view envelope);
  // Hands the forwards whose batch is replicated to the listener.
  void ReleaseForwards(BatchNo through);

  // Redrive (redrive.cc): where a dead letter goes (`to`, or its origin);
  // kNotFound when it names none. One moved (into a queue of another
  // partition of a cluster by ForwardCopy); see Redrive().
  Result<std::string_view> RedriveTarget(const Queue& dlq, const store::EnvelopeView& envelope,
                                         std::string_view to);
  enum class Moved { kMoved, kSkipped, kStop };
  Moved RedriveEntry(Queue* dlq, Entry& entry, std::string_view to, std::vector<Queue*>* targets,
                     Status* refused);

  // Inspection (inspect.cc).
  Status FillRow(std::string_view name, QueueId queue_id, const store::QueueState& state, Row* row);
  Status FillDeadLetterDepth(std::string_view name, Row* row);

  // Replies and shutdown (broker.cc).
  void RefusePublish(Client& client, uint64_t correlation_id, const Status& status);
  void AddReply(Client& client, PendingReply reply);
  void MaybeFinishDrain();
  // Commits (commits.cc).
  void OnBatchDone(BatchOutcome& batch);
  void SendReplies(Client& client, BatchNo through);
  // A partition just promoted resumes its unfinished fan-out jobs.
  Status TakeOverFanouts(store::PartitionId partition);
  void FailRepliesOf(const std::vector<ClientId>& clients, BatchNo batch_no, const Status& why);
  // Storage room: publishes are refused while it is under the reserve, and
  // after a batch failed for room until one commits.
  void NoteHeadroom(uint64_t headroom, bool batch_failed);
  Status CheckStoreRoom();
  // A batch failed: its publishes are refused; on a full store, the rest of
  // it is retried in the next batch.
  void OnBatchFailed(BatchOutcome& batch);
  void RetryFailedBatch(BatchOutcome& batch, const std::unordered_set<MsgId>& lost);
  void FinishPurges(BatchOutcome& batch, BatchNo failed);

  Clock* clock_;
  Scheduler* scheduler_;
  store::Store* store_;
  Output* out_;
  BrokerConfig config_;
  Pipeline pipeline_;
  DedupIndex dedup_;
  BrokerStatistics stats_;

  std::unordered_map<ClientId, std::unique_ptr<Client>> clients_;
  QueueTable queues_;
  std::vector<ClientId> paused_;  // publishers waiting for room in the next batch

  GroupTable groups_;
  ReplicaLog replica_;
  FollowerLog follower_;
  enum class Role : uint8_t { kFollowing, kPromoting, kServing };
  std::vector<Role> roles_;                          // by partition
  std::map<store::PartitionId, BatchNo> promoting_;  // serves once applied through
  CommitListener commit_listener_;
  std::function<void(store::PartitionId)> serve_listener_;
  std::function<std::string(store::PartitionId)> leader_hint_;
  bool replication_gate_ = false;
  BatchNo replicated_through_ = 0;
  // Batches done locally whose replies wait for replication: the clients.
  struct AwaitingReplication {
    BatchNo batch_no = 0;
    std::vector<ClientId> clients;
  };
  Ring<AwaitingReplication> awaiting_replication_;
  // Batches whose replication failed before OnBatchDone sent or held
  // their replies, and the newest batch it did that for.
  std::map<BatchNo, Status> replication_failed_;
  BatchNo replies_decided_through_ = 0;
  // Forwards logged in a batch not replicated yet, oldest first.
  std::deque<std::pair<BatchNo, OutboundForward>> awaiting_forwards_;
  std::function<void(OutboundForward)> forward_listener_;
  BatchNo fanout_batch_ = 0;  // the batch fanout_in_batch_ counts for
  uint64_t fanout_in_batch_ = 0;

  // Receipt tallies being changed: in memory from their first change until
  // the batch of their last one commits (then the store has them).
  struct TallyState {
    store::ReceiptTally tally;
    BatchNo last_batch = 0;
  };
  std::unordered_map<MsgId, TallyState> tallies_;
  std::deque<std::pair<BatchNo, MsgId>> tally_touches_;
  std::vector<Queue*> receipt_queues_;  // got a receipt this turn, have consumers

  // Redelivery: consumers by the due time of their oldest deadline, and
  // queues by the due time of their first delayed entry. One timer serves
  // both.
  std::set<std::pair<uint64_t, Consumer*>> ack_deadlines_;
  std::set<std::pair<uint64_t, Queue*>> delayed_queues_;
  std::unique_ptr<Timer> redelivery_timer_;
  uint64_t redelivery_due_ = 0;  // when the timer fires; 0: not armed
  std::unique_ptr<Timer> sweep_timer_;
  size_t subscriptions_ = 0;      // consumers of every client (stats, /metrics)
  std::string dedup_sweep_from_;  // where the dedup sweep continues

  bool draining_ = false;
  std::function<void()> drained_;
  Status storage_failure_;                // first failed commit; publishes are refused after it
  Status batch_failure_;                  // the last failed commit's, for the replies it fails
  uint64_t store_headroom_ = UINT64_MAX;  // as of the last commit
  bool store_full_ = false;               // headroom under the reserve
  double HeadroomGauge() const {
    return store_headroom_ == UINT64_MAX ? -1.0 : static_cast<double>(store_headroom_);
  }

  uint64_t clock_mono_ms_ = 0;
  uint64_t clock_wall_ms_ = 0;
  // Backoff jitter's generator state; seeded from the clocks, so each
  // broker draws differently and a fake clock makes tests repeatable.
  uint64_t random_state_ = 0;

  // For stats.
  uint64_t started_mono_ms_ = 0;
  RateMeter publish_rate_;
  RateMeter deliver_rate_;
  RateMeter ack_rate_;
  uint64_t batch_messages_ = 0;          // publishes over all committed batches
  std::vector<uint32_t> commit_micros_;  // the last kCommitSamples commits, a ring
  size_t commit_next_ = 0;
  static constexpr size_t kCommitSamples = 1024;
  // Purge and delete replies, by batch: sent once storage reports counts.
  struct PendingPurge {
    BatchNo batch_no = 0;
    ClientId client_id = 0;
    uint64_t correlation_id = 0;
    QueueId queue_id = 0;
    uint64_t removed_in_memory = 0;
    bool forget = false;
  };
  std::vector<PendingPurge> pending_purges_;
  // The deepest queues for /metrics: the last finished scan, and the one
  // in progress (a slice per sweep round).
  std::vector<std::pair<uint64_t, std::string>> deepest_;
  std::vector<std::pair<uint64_t, std::string>> deepest_scan_;
  QueueId deepest_scan_from_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_BROKER_H_
