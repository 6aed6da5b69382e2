// Broker: hermod's core. It owns the sessions, the queues in use, and the
// commit pipeline, and implements the delivery semantics: publish into the
// next batch, confirm after commit, deliver oldest first within credit, ack,
// return on nack or disconnect. See docs/design.md and docs/semantics.md.
//
// The Broker reaches storage only through Store (reads) and the Pipeline
// (writes). Nothing in it is global: a process could run several, one per
// shard. Loop thread only.
#ifndef HERMOD_BROKER_CORE_BROKER_H_
#define HERMOD_BROKER_CORE_BROKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "connection.h"
#include "frame_codec.h"
#include "loop.h"
#include "pipeline.h"
#include "queue.h"
#include "session.h"
#include "store.h"
#include "timer.h"

namespace hermod::core {

// Counters since start, for stats and logs.
struct BrokerCounters {
  uint64_t connections_accepted = 0;
  uint64_t published = 0;
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t acked = 0;
  uint64_t batches = 0;
  uint64_t batch_failures = 0;
};

class Broker {
 public:
  Broker(net::Loop* loop, store::Store* store, store::StorageThread* storage,
         const BrokerConfig& config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Takes over the counters of a recovered store. Before Start(); the loop
  // is not running yet.
  Status Recover(const store::Recovery& recovery);
  // Starts batching. After Recover().
  void Start();

  // A new connection: returns its handler (a Session).
  net::Connection::Handler* Accept(net::Connection& conn);

  // Graceful stop: stops reading from clients, commits what was received,
  // sends the confirms, closes every connection once its output is written
  // (or after a deadline), then calls done.
  void Shutdown(std::function<void()> done);

  // The storage thread finished one or more batches (posted to the loop).
  void OnStorageWake() { pipeline_.OnStorageWake(); }
  // Closes the pipeline's timer when Start() ran but Shutdown() never
  // finished (startup failed after it).
  void CloseTimers();

  // Frame handlers, called by Session. REQUIRES: the session is greeted.
  void Publish(Session& session, const wire::Publish& publish);
  void Subscribe(Session& session, const wire::Subscribe& subscribe);
  void SetCredit(Session& session, SubscriptionId subscription_id, uint32_t credit);
  void Ack(Session& session, SubscriptionId subscription_id, Seq first_seq, Seq last_seq);
  void Nack(Session& session, SubscriptionId subscription_id, Seq seq, uint32_t delay_ms);
  void Unsubscribe(Session& session, const wire::Unsubscribe& unsubscribe);
  // The session's output drained: deliveries paused for it may resume.
  void SessionWritable(Session& session);
  // The session's connection closed: its deliveries go back to their queues.
  void SessionClosed(Session& session, const Status& why);

  proto::FrameEncoder& encoder() { return encoder_; }
  const BrokerConfig& config() const { return config_; }
  const BrokerCounters& counters() const { return counters_; }
  size_t sessions() const { return sessions_.size(); }
  size_t queues_in_memory() const { return queues_.size(); }

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using QueueMap =
      std::unordered_map<std::string, std::unique_ptr<Queue>, NameHash, std::equal_to<>>;

  // Queues.
  Result<Queue*> FindOrLoadQueue(std::string_view name);
  Queue* AddQueue(std::string_view name, QueueId queue_id, const store::QueueState* state);
  void EnsureCreated(Queue* q);
  void MaybeEvict(Queue* q);

  // Delivery.
  void Dispatch(Queue* q);
  bool TakeNextEntry(Queue* q, Entry* entry);
  Status ReadAhead(Queue* q);
  Consumer* NextConsumer(Queue* q);
  void Deliver(Consumer* c, Entry entry);
  void AckEntry(Queue* q, Entry& entry);
  void ReturnEntry(Queue* q, Entry entry);
  void RemoveConsumer(Consumer* c);

  // Commit completions.
  void OnCommitted(CommittedBatch& batch);
  void SendConfirms(Session& session, BatchNo through, const Status& failure, BatchNo failed);
  void MaybeFinishShutdown();

  net::Loop* loop_;
  store::Store* store_;
  BrokerConfig config_;
  Pipeline pipeline_;
  proto::FrameEncoder encoder_;
  BrokerCounters counters_;

  ConnId next_conn_id_ = 1;
  std::unordered_map<ConnId, std::unique_ptr<Session>> sessions_;
  QueueMap queues_;
  std::vector<Session*> paused_;  // publishers waiting for room in the next batch

  bool shutting_down_ = false;
  bool closing_sessions_ = false;
  std::function<void()> shutdown_done_;
  net::Timer shutdown_timer_;
  Status storage_failure_;  // first failed commit; publishes are refused after it
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_BROKER_H_
