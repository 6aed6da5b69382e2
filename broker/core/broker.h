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
// acks, redelivery, dead-lettering and the expiry sweep.
//
// The Broker reaches storage only through Store (reads) and the Pipeline
// (writes). Nothing in it is global: a process could run several, one per
// shard. Loop thread only.
#ifndef HERMOD_BROKER_CORE_BROKER_H_
#define HERMOD_BROKER_CORE_BROKER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "check.h"
#include "config.h"
#include "connection.h"
#include "dedup_index.h"
#include "frame_codec.h"
#include "group.h"
#include "loop.h"
#include "pipeline.h"
#include "queue.h"
#include "rate_meter.h"
#include "session.h"
#include "store.h"
#include "timer.h"

namespace hermod::core {

// Counters since start, for stats and logs.
struct BrokerCounters {
  uint64_t connections_accepted = 0;
  uint64_t published = 0;
  uint64_t duplicates = 0;
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t acked = 0;
  uint64_t nacked = 0;
  uint64_t ack_timeouts = 0;
  uint64_t dead_lettered = 0;
  uint64_t expired = 0;
  uint64_t dropped = 0;  // by drop-oldest
  uint64_t purged = 0;
  uint64_t refused_full = 0;
  uint64_t refused_storage = 0;  // publishes refused while the store is full
  uint64_t group_publishes = 0;
  uint64_t fanout_entries = 0;
  uint64_t batches = 0;
  uint64_t batch_failures = 0;
  uint64_t heartbeat_timeouts = 0;   // connections closed for silence
  uint64_t connections_refused = 0;  // over --max-connections
  uint64_t auth_failures = 0;        // Hellos without a valid token
};

// Why an entry leaves its queue without an ack.
enum class Removal { kAcked, kExpired, kDeadLettered, kDropped, kPurged };
// Why a delivery comes back unacked.
enum class ReturnReason { kNacked, kAckWaitExpired, kConsumerGone };
const char* ReturnReasonName(ReturnReason reason);

class Broker {
 public:
  Broker(net::Loop* loop, store::Store* store, store::StorageThread* storage,
         const BrokerConfig& config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Takes over a recovered store's counters and client dedup ids. Before
  // Start(); the loop is not running yet.
  Status Recover(const store::Recovery& recovery);
  // Starts batching, redelivery and sweeping. After Recover().
  void Start();

  // A new connection: returns its handler (a Session).
  net::Connection::Handler* Accept(net::Connection& conn);

  // Graceful stop: stops reading from clients, commits what was received,
  // sends the confirms, closes every connection once its output is written
  // (or after a deadline), then calls done.
  void Shutdown(std::function<void()> done);
  // Closes the timers when Start() ran but Shutdown() never finished
  // (startup failed after it).
  void CloseTimers();

  // The storage thread finished one or more batches (posted to the loop).
  void OnStorageWake() { pipeline_.OnStorageWake(); }

  // Whether a Hello's auth token is one of --auth-token-file's (always, when
  // that is not set); counts and logs a refusal.
  bool Authenticate(Session& session, std::string_view token);
  // Replaces the accepted tokens (SIGHUP) and closes the connections let in
  // with a token no longer among them. Returns how many it closed.
  size_t SetAuthTokens(std::vector<std::string> tokens);

  // Frame handlers, called by Session. REQUIRES: the session is greeted.
  void Publish(Session& session, const wire::Publish& publish);
  void ConfigureQueue(Session& session, const wire::ConfigureQueue& configure);
  void HandleGroupRequest(Session& session, const wire::GroupRequest& request);
  void HandleQueueRequest(Session& session, const wire::QueueRequest& request);
  void HandleStats(Session& session, const wire::StatsRequest& request);
  void Subscribe(Session& session, const wire::Subscribe& subscribe);
  void SetCredit(Session& session, SubscriptionId subscription_id, uint32_t credit);
  void Ack(Session& session, SubscriptionId subscription_id, Seq first_seq, Seq last_seq);
  void Nack(Session& session, SubscriptionId subscription_id, Seq seq, uint32_t delay_ms);
  void Unsubscribe(Session& session, const wire::Unsubscribe& unsubscribe);
  // The session's output drained: deliveries paused for it may resume.
  void SessionWritable(Session& session);
  // The session's connection closed: its deliveries go back to their queues.
  void SessionClosed(Session& session, const Status& why);

  // Prometheus text exposition of the broker's counters (metrics.cc).
  std::string MetricsText();
  // Whether the store accepts writes and the broker is not stopping.
  bool Healthy() const;

  proto::FrameEncoder& encoder() { return encoder_; }
  const BrokerConfig& config() const { return config_; }
  uint64_t loop_ms() const { return loop_->now_ms(); }
  const BrokerCounters& counters() const { return counters_; }
  size_t sessions() const { return sessions_.size(); }
  size_t queues_in_memory() const { return queues_.size(); }

  // One queue's row in `queue ls` / `queue show` (inspect.cc).
  struct Row;

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using QueueMap =
      std::unordered_map<std::string, std::unique_ptr<Queue>, NameHash, std::equal_to<>>;

  // The wall clock in ms, read once per loop turn.
  uint64_t Now();

  // Queues (broker.cc).
  Result<Queue*> FindOrLoadQueue(std::string_view name);
  Result<Queue*> FindOrLoadQueueById(QueueId queue_id);
  Queue* AddQueue(std::string_view name, QueueId queue_id, const store::QueueInfo* info);
  void EnsureCreated(Queue* q);
  void MaybeEvict(Queue* q);
  // Appends a new entry to q in the current batch; write(out) appends the
  // envelope, exactly envelope_bytes long, to the log record.
  template <typename WriteEnvelope>
  Entry& AppendEntry(Queue* q, size_t envelope_bytes, uint64_t expires_ms, WriteEnvelope&& write);
  // Makes room in q for one more entry of `bytes` by the queue's overflow
  // rule; returns the limit that refused it, if one did.
  Status MakeRoom(Queue* q, uint64_t bytes);

  // Delivery (delivery.cc).
  void Dispatch(Queue* q);
  bool TakeNextEntry(Queue* q, Entry* entry, bool include_uncommitted);
  Status ReadAhead(Queue* q);
  bool IsExpired(const Queue* q, const Entry& entry, uint64_t now_ms) const;
  Consumer* NextConsumer(Queue* q);
  void Deliver(Consumer* c, Entry entry);
  // Takes an entry out of its queue for good, in the current batch.
  void RemoveEntry(Queue* q, Entry& entry, Removal why);
  // A delivery came back: deliver it again, or dead-letter it past
  // max_deliveries.
  void ReturnEntry(Queue* q, Entry entry, ReturnReason why);
  void DeadLetter(Queue* q, Entry entry, ReturnReason why);
  void RemoveConsumer(Consumer* c);
  void ForgetDeadline(Consumer* c);

  // Timers (delivery.cc).
  void ArmRedelivery(uint64_t due_ms);
  void OnRedeliveryTimer();
  void OnSweepTimer();
  void OnHeartbeatTimer();  // broker.cc
  void ScanDeepest();
  void SweepExpired(uint64_t now_ms);
  void SweepDedup(uint64_t now_ms);
  void ExpireIndexed(Queue* q, Seq seq);

  // Groups and fan-out (groups.cc).
  Result<Group*> FindOrLoadGroup(std::string_view name);
  void PublishToGroup(Session& session, const wire::Publish& publish, size_t envelope_bytes);
  void ExpandFanouts();
  void RecoverFanouts(const std::vector<store::RecoveredFanout>& jobs);
  void SendGroupList(Session& session, const wire::GroupRequest& request);
  void SendGroupMembers(Session& session, const wire::GroupRequest& request);

  // Inspection (inspect.cc).
  Status FillRow(std::string_view name, QueueId queue_id, const store::QueueState& state, Row* row);
  Status FillDeadLetterDepth(std::string_view name, Row* row);
  void SendQueueList(Session& session, const wire::QueueRequest& request);
  void SendQueueShow(Session& session, const wire::QueueRequest& request);
  void SendQueuePeek(Session& session, const wire::QueueRequest& request);
  void PurgeQueue(Session& session, const wire::QueueRequest& request, bool forget);

  // Replies and shutdown (broker.cc).
  void RefusePublish(Session& session, uint64_t correlation_id, const Status& status);
  void AddConfirm(Session& session, Session::PendingConfirm confirm);
  void MaybeFinishShutdown();
  // Commits (commits.cc).
  void OnCommitted(CommittedBatch& batch);
  void SendConfirms(Session& session, BatchNo through);
  // Storage room: publishes are refused while it is under the reserve, and
  // after a batch failed for room until one commits.
  void NoteHeadroom(uint64_t headroom, bool batch_failed);
  Status CheckStoreRoom();
  // A batch failed: its publishes are refused; on a full store, the rest of
  // it is retried in the next batch.
  void OnBatchFailed(CommittedBatch& batch);
  void RetryFailedBatch(CommittedBatch& batch, const std::unordered_set<MsgId>& lost);
  void FinishPurges(CommittedBatch& batch, BatchNo failed);

  net::Loop* loop_;
  store::Store* store_;
  BrokerConfig config_;
  Pipeline pipeline_;
  DedupIndex dedup_;
  proto::FrameEncoder encoder_;
  BrokerCounters counters_;

  ConnId next_conn_id_ = 1;
  std::unordered_map<ConnId, std::unique_ptr<Session>> sessions_;
  QueueMap queues_;
  std::unordered_map<QueueId, Queue*> queues_by_id_;
  std::vector<Session*> paused_;  // publishers waiting for room in the next batch

  // Groups in use (and tombstones of groups deleted in an uncommitted batch).
  std::unordered_map<std::string, std::unique_ptr<Group>, NameHash, std::equal_to<>> groups_;
  // Fan-out jobs by group id: one group's jobs expand in publish order;
  // groups take turns.
  std::map<uint64_t, Ring<FanoutJob>> fanout_jobs_;
  uint64_t fanout_turn_ = 0;  // the group served last
  BatchNo fanout_batch_ = 0;  // the batch fanout_in_batch_ counts for
  uint64_t fanout_in_batch_ = 0;

  // Redelivery: consumers by the due time of their oldest deadline, and
  // queues by the due time of their first delayed entry. One timer serves
  // both.
  std::set<std::pair<uint64_t, Consumer*>> ack_deadlines_;
  std::set<std::pair<uint64_t, Queue*>> delayed_queues_;
  net::Timer redelivery_timer_;
  uint64_t redelivery_due_ = 0;  // when the timer fires; 0: not armed
  net::Timer sweep_timer_;
  net::Timer heartbeat_timer_;  // closes connections silent past the heartbeat
  static constexpr uint32_t kHeartbeatSlices = 64;
  uint32_t heartbeat_slices_ = 1;  // ticks per heartbeat period
  size_t heartbeat_cursor_ = 0;    // where the next tick's slice starts
  // The sessions again, in a vector the heartbeat walks in slices
  // (Session::list_index is each one's place).
  std::vector<Session*> session_list_;
  size_t subscriptions_ = 0;  // consumers of every session (stats, /metrics)
  // Open sessions per peer IP address (--max-connections-per-ip); only kept
  // when that limit is set.
  std::unordered_map<std::string, uint32_t> per_ip_;
  std::string dedup_sweep_from_;  // where the dedup sweep continues

  bool shutting_down_ = false;
  bool closing_sessions_ = false;
  std::function<void()> shutdown_done_;
  net::Timer shutdown_timer_;
  Status storage_failure_;                // first failed commit; publishes are refused after it
  Status batch_failure_;                  // the last failed commit's, for the replies it fails
  uint64_t store_headroom_ = UINT64_MAX;  // as of the last commit
  bool store_full_ = false;               // headroom under the reserve
  double HeadroomGauge() const {
    return store_headroom_ == UINT64_MAX ? -1.0 : static_cast<double>(store_headroom_);
  }

  uint64_t clock_loop_ms_ = 0;
  uint64_t clock_wall_ms_ = 0;

  // For stats.
  std::chrono::steady_clock::time_point started_;
  // Seconds since Start(), to the microsecond (the wall clock can step).
  double UptimeSeconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
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
    ConnId conn_id = 0;
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

// Defined here because both broker.cc and delivery.cc append entries.
template <typename WriteEnvelope>
Entry& Broker::AppendEntry(Queue* q, size_t envelope_bytes, uint64_t expires_ms,
                           WriteEnvelope&& write) {
  EnsureCreated(q);
  store::WriteBatch& batch = pipeline_.batch();
  MsgId msg_id = pipeline_.counters().next_msg_id++;
  Seq seq = q->next_seq++;
  std::string* record =
      batch.log.BeginPublish(q->queue_id(), seq, msg_id, static_cast<uint32_t>(envelope_bytes));
  size_t start = record->size();
  write(record);
  HERMOD_CHECK(record->size() - start == envelope_bytes);

  Entry entry;
  entry.seq = seq;
  entry.batch_no = batch.batch_no;
  entry.msg_id = msg_id;
  entry.bytes = static_cast<uint32_t>(envelope_bytes);
  entry.expires_ms = expires_ms;
  entry.msg = MessageRef(Message::Create(msg_id, std::string_view(*record).substr(start)));
  q->tail.push_back(std::move(entry));
  q->depth += 1;
  q->bytes += envelope_bytes;
  pipeline_.NoteLogQueue(q);
  pipeline_.NotePublish(envelope_bytes);
  return q->tail.back();
}

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_BROKER_H_
