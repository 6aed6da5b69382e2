// A Broker on the in-memory store with a fake clock, for unit tests of the
// core's rules: no sockets, no threads, no sleeps.
//
// - FakeClock/FakeScheduler: time moves only when a test calls Advance(),
//   which fires due timers in time order, each followed by a loop "turn".
// - InlineCommitter: commits a submitted batch at once on the calling
//   thread (Store::Commit on MemEnv); with Hold(), batches wait until
//   Release(), so a test sees what happens before a batch is durable.
// - RecordingOutput: keeps what the core reports, per kind.
// - Turn(): what the server's loop does at the end of a turn (submit the
//   batch, collect storage reports), repeated until nothing moves.
#ifndef HERMOD_TESTS_UNIT_BROKER_CORE_CORE_HARNESS_H_
#define HERMOD_TESTS_UNIT_BROKER_CORE_CORE_HARNESS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "broker.h"
#include "clock.h"
#include "committer.h"
#include "envelope.h"
#include "mem_env.h"
#include "service.h"
#include "store.h"

namespace hermod::core::testing {

class FakeClock final : public Clock {
 public:
  uint64_t MonotonicMs() override { return mono_ms_; }
  uint64_t WallMs() override { return kWallBase + mono_ms_; }
  void Set(uint64_t mono_ms) { mono_ms_ = mono_ms; }
  static constexpr uint64_t kWallBase = 1'700'000'000'000;

 private:
  uint64_t mono_ms_ = 1000;
};

class FakeScheduler final : public Scheduler {
 public:
  explicit FakeScheduler(FakeClock* clock) : clock_(clock) {}

  std::unique_ptr<Timer> NewTimer(std::function<void()> fn, bool /*background*/) override {
    auto timer = std::make_unique<FakeTimer>(this, std::move(fn));
    timers_.push_back(timer.get());
    return timer;
  }

  // Moves time forward by ms, firing every timer that falls due on the way,
  // in time order; after each, calls `turn` (the loop's end of turn).
  void Advance(uint64_t ms, const std::function<void()>& turn) {
    uint64_t end = clock_->MonotonicMs() + ms;
    for (;;) {
      FakeTimer* next = nullptr;
      for (FakeTimer* t : timers_) {
        if (t->armed && t->due <= end && (next == nullptr || t->due < next->due)) next = t;
      }
      if (next == nullptr) break;
      clock_->Set(std::max(clock_->MonotonicMs(), next->due));
      if (next->repeat != 0) {
        next->due = clock_->MonotonicMs() + next->repeat;
      } else {
        next->armed = false;
      }
      next->fn();
      turn();
    }
    clock_->Set(end);
    turn();
  }

 private:
  struct FakeTimer final : Timer {
    FakeTimer(FakeScheduler* s, std::function<void()> f) : scheduler(s), fn(std::move(f)) {}
    ~FakeTimer() override {
      auto& list = scheduler->timers_;
      list.erase(std::remove(list.begin(), list.end(), this), list.end());
    }
    void Start(uint64_t timeout_ms, uint64_t repeat_ms) override {
      due = scheduler->clock_->MonotonicMs() + timeout_ms;
      repeat = repeat_ms;
      armed = true;
    }
    void Stop() override { armed = false; }
    void Close() override { armed = false; }
    FakeScheduler* scheduler;
    std::function<void()> fn;
    uint64_t due = 0;
    uint64_t repeat = 0;
    bool armed = false;
  };

  FakeClock* clock_;
  std::vector<FakeTimer*> timers_;
};

class InlineCommitter final : public store::Committer {
 public:
  explicit InlineCommitter(store::Store* store) : store_(store) {}

  bool two_stage() const override { return false; }
  void Submit(std::unique_ptr<store::WriteBatch> batch) override {
    held_.push_back(std::move(batch));
    if (!hold_) Release();
  }
  void RequestSync() override {}
  std::vector<Report> TakeDone() override {
    std::vector<Report> done;
    done.swap(done_);
    return done;
  }

  // Batches submitted from now on wait for Release().
  void Hold() { hold_ = true; }
  // Commits the batches held, and stops holding.
  void Release() {
    hold_ = false;
    while (!held_.empty()) {
      std::unique_ptr<store::WriteBatch> batch = std::move(held_.front());
      held_.pop_front();
      batch->status = store_->Commit(*batch);
      if (batch->status.ok() && on_commit_) on_commit_(*batch);
      store::BatchNo batch_no = batch->batch_no;
      done_.push_back(Report{Report::kDurable, batch_no, std::move(batch)});
    }
  }
  size_t held() const { return held_.size(); }
  const store::WriteBatch& held_batch(size_t i) const { return *held_[i]; }
  // Called with every batch that commits (a leader's shipping, in tests).
  void set_on_commit(std::function<void(const store::WriteBatch&)> fn) {
    on_commit_ = std::move(fn);
  }

 private:
  store::Store* store_;
  bool hold_ = false;
  std::function<void(const store::WriteBatch&)> on_commit_;
  std::deque<std::unique_ptr<store::WriteBatch>> held_;
  std::vector<Report> done_;
};

// What the core reported.
struct Confirm {
  uint64_t correlation_id = 0;
  MsgId msg_id = 0;
  Seq seq = 0;
  bool duplicate = false;
  Status status;  // not OK: the publish failed
};
struct Delivered {
  SubscriptionId subscription_id = 0;
  Seq seq = 0;
  MsgId msg_id = 0;
  uint32_t delivery_count = 0;
  std::string payload;
  std::map<std::string, std::string> headers;
  uint64_t expires_ms = 0;
};
struct Reply {
  uint64_t correlation_id = 0;
  std::string kind;  // "subscribed", "configured", "group", "purged", "redriven", "error"
  uint64_t count = 0;
  Status status;
  uint64_t remaining = 0;  // "redriven"
};

class RecordingOutput final : public Output {
 public:
  void PublishConfirmed(ClientId client, uint64_t correlation_id, MsgId msg_id, Seq seq,
                        bool duplicate) override {
    confirms[client].push_back(Confirm{correlation_id, msg_id, seq, duplicate, Status::OK()});
  }
  void PublishFailed(ClientId client, uint64_t correlation_id, const Status& status) override {
    confirms[client].push_back(Confirm{correlation_id, 0, 0, false, status});
  }
  void Subscribed(ClientId client, uint64_t correlation_id, SubscriptionId) override {
    replies[client].push_back(Reply{correlation_id, "subscribed", 0, Status::OK()});
  }
  // The port each connected client delivers to.
  ClientPort* PortOf(ClientId client) {
    auto& port = ports_[client];
    if (!port) port = std::make_unique<Port>(this, client);
    return port.get();
  }
  void Deliver(ClientId client, const Delivery& d) {
    store::EnvelopeView envelope;
    EXPECT_TRUE(envelope.Parse(d.envelope));
    Delivered out{d.subscription_id,
                  d.seq,
                  d.msg_id,
                  d.delivery_count,
                  std::string(envelope.payload()),
                  {},
                  envelope.expires_ms()};
    envelope.ForEachHeader([&](std::string_view k, std::string_view v) {
      out.headers[std::string(k)] = std::string(v);
    });
    deliveries[client].push_back(std::move(out));
  }
  void QueueConfigured(ClientId client, uint64_t correlation_id) override {
    replies[client].push_back(Reply{correlation_id, "configured", 0, Status::OK()});
  }
  void GroupChanged(ClientId client, uint64_t correlation_id, uint64_t changed) override {
    replies[client].push_back(Reply{correlation_id, "group", changed, Status::OK()});
  }
  void QueuePurged(ClientId client, uint64_t correlation_id, uint64_t removed) override {
    replies[client].push_back(Reply{correlation_id, "purged", removed, Status::OK()});
  }
  void QueueRedriven(ClientId client, uint64_t correlation_id, uint64_t moved,
                     uint64_t remaining) override {
    replies[client].push_back(Reply{correlation_id, "redriven", moved, Status::OK(), remaining});
  }
  void Error(ClientId client, const Status& status, uint64_t correlation_id, bool) override {
    replies[client].push_back(Reply{correlation_id, "error", 0, status});
  }
  bool CanDeliver(ClientId client) { return !blocked.count(client); }
  void PauseReading(ClientId client) override { paused[client] = true; }
  void ResumeReading(ClientId client) override { paused[client] = false; }

  std::map<ClientId, std::vector<Confirm>> confirms;
  std::map<ClientId, std::vector<Delivered>> deliveries;
  std::map<ClientId, std::vector<Reply>> replies;
  std::map<ClientId, bool> paused;
  std::map<ClientId, bool> blocked;  // CanDeliver answers false

 private:
  struct Port final : ClientPort {
    Port(RecordingOutput* out, ClientId client) : out(out), client(client) {}
    void Deliver(const Delivery& d) override { out->Deliver(client, d); }
    bool CanDeliver() override { return out->CanDeliver(client); }
    RecordingOutput* out;
    ClientId client;
  };
  std::map<ClientId, std::unique_ptr<Port>> ports_;
};

// The core, its store and its fake world. Construct, adjust config() if
// needed, then Start().
// A queue as a store holds it: its counters and its entries (seq, message
// id, delivery count), to compare two stores.
struct StoredQueue {
  uint64_t depth = 0, bytes = 0, last_seq = 0;
  std::vector<std::tuple<store::Seq, store::MsgId, uint32_t>> entries;
  bool operator==(const StoredQueue&) const = default;
};
inline StoredQueue ReadStoredQueue(store::Store& store, std::string_view name) {
  StoredQueue q;
  Result<std::optional<store::QueueInfo>> info = store.FindQueue(name);
  EXPECT_TRUE(info.ok());
  if (!info.ok() || !info->has_value()) return q;
  q.depth = (*info)->state.depth;
  q.bytes = (*info)->state.bytes;
  q.last_seq = (*info)->state.last_seq;
  std::vector<store::StoredEntry> entries;
  EXPECT_TRUE(store.ReadEntries((*info)->queue_id, 1, q.last_seq + 1, 1000, &entries).ok());
  for (const store::StoredEntry& e : entries) {
    q.entries.emplace_back(e.seq, e.value.msg_id, e.value.delivery_count);
  }
  return q;
}

class CoreHarness {
 public:
  CoreHarness() : scheduler_(&clock_), store_(&env_), committer_(&store_) {
    config_.apply.lag_ms = 1000;
    config_.queue_defaults.ack_wait_ms = 30000;
  }
  ~CoreHarness() {
    if (broker_) broker_->Close();
  }

  BrokerConfig& config() { return config_; }
  void Start() {
    if (!opened_) {
      ASSERT_TRUE(store_.Open().ok());
      opened_ = true;
    }
    broker_ = std::make_unique<Broker>(&clock_, &scheduler_, &store_, &committer_, &out_, config_);
    Result<store::Recovery> recovery = store_.Recover(
        [this](const store::LogOp& op) { broker_->ApplyCommitted(op); }, config_.id_prefix);
    ASSERT_TRUE(recovery.ok());
    ASSERT_TRUE(broker_->Recover(*recovery).ok());
    broker_->Start();
  }

  // A restart without a clean stop: the core and its memory go, the store
  // stays as the last commit left it (with its unapplied log tail), and a
  // new core recovers from it.
  void Restart() {
    broker_->Close();
    broker_.reset();
    committed_ = 0;
    Start();
  }

  Broker& broker() { return *broker_; }
  RecordingOutput& out() { return out_; }
  InlineCommitter& committer() { return committer_; }
  store::Store& store() { return store_; }
  FakeClock& clock() { return clock_; }

  // The loop's end of turn, until nothing moves.
  void Turn() {
    for (int i = 0; i < 1000; ++i) {
      broker_->EndOfTurn();
      BatchNo before = committed_;
      broker_->OnStorageWake();
      committed_ = broker_->committed_through();
      if (committed_ == before) return;
    }
    FAIL() << "the core did not settle";
  }
  // Makes this core the leader of every partition (a cluster's core serves
  // none until then), and waits until it serves them.
  void LeadAll(uint64_t epoch = 1) {
    for (store::PartitionId p = 0; p < config_.partitions; ++p) {
      ASSERT_TRUE(broker_->Promote(p, epoch).ok());
    }
    Turn();
    for (int i = 0; i < 100; ++i) {
      bool all = true;
      for (store::PartitionId p = 0; p < config_.partitions; ++p) all = all && broker_->serves(p);
      if (all) return;
      Advance(10);
    }
    FAIL() << "the core did not take its partitions over";
  }
  // Moves time on (firing timers, each followed by a turn).
  void Advance(uint64_t ms) {
    scheduler_.Advance(ms, [this] { Turn(); });
  }

  // Shorthands.
  ClientId Connect() {
    ClientId id = next_client_++;
    broker_->Connect(id, out_.PortOf(id));
    return id;
  }
  void Publish(ClientId client, std::string_view queue, std::string_view payload,
               uint64_t ttl_ms = 0, std::string_view dedup_id = {}) {
    PublishRequest p;
    p.correlation_id = ++correlation_;
    p.queue = queue;
    p.payload = payload;
    p.ttl_ms = ttl_ms;
    p.dedup_id = dedup_id;
    broker_->Publish(client, p);
  }
  void PublishToGroup(ClientId client, std::string_view group, std::string_view payload) {
    PublishRequest p;
    p.correlation_id = ++correlation_;
    p.group = group;
    p.payload = payload;
    broker_->Publish(client, p);
  }
  void Subscribe(ClientId client, SubscriptionId sub, std::string_view queue, uint32_t credit,
                 uint32_t ack_wait_ms = 0) {
    SubscribeRequest s;
    s.correlation_id = ++correlation_;
    s.subscription_id = sub;
    s.queue = queue;
    s.credit = credit;
    s.ack_wait_ms = ack_wait_ms;
    broker_->Subscribe(client, s);
  }
  // Creates a group with these members (replies: "group" twice).
  void CreateGroup(ClientId client, std::string_view group,
                   const std::vector<std::string>& members) {
    GroupChangeRequest create;
    create.correlation_id = ++correlation_;
    create.group = group;
    broker_->ChangeGroup(client, create);
    std::vector<std::string_view> views(members.begin(), members.end());
    GroupChangeRequest add;
    add.correlation_id = ++correlation_;
    add.op = GroupOp::kAdd;
    add.group = group;
    add.members = views;
    broker_->ChangeGroup(client, add);
  }
  void Configure(ClientId client, std::string_view queue, const QueueOverrides& changes) {
    ConfigureRequest c;
    c.correlation_id = ++correlation_;
    c.queue = queue;
    c.changes = changes;
    broker_->ConfigureQueue(client, c);
  }
  // The value of one statistic.
  double Stat(std::string_view name) {
    for (const StatValue& v : broker_->Stats()) {
      if (name == v.name) return v.value;
    }
    ADD_FAILURE() << "no statistic " << name;
    return -1;
  }
  uint64_t Depth(std::string_view queue) {
    Result<QueueDetail> detail = broker_->ShowQueue(queue);
    return detail.ok() ? detail->row.depth : 0;
  }

 private:
  FakeClock clock_;
  FakeScheduler scheduler_;
  store::MemEnv env_;
  store::Store store_;
  InlineCommitter committer_;
  RecordingOutput out_;
  BrokerConfig config_;
  std::unique_ptr<Broker> broker_;
  BatchNo committed_ = 0;
  bool opened_ = false;
  ClientId next_client_ = 1;
  uint64_t correlation_ = 0;
};

// A cluster's leader (id prefix 1, leading every partition) and a follower
// (prefix 2), each a core on a store of its own.
inline void StartLeaderAndFollower(CoreHarness& leader, CoreHarness& follower,
                                   uint32_t partitions) {
  leader.config().cluster = true;
  leader.config().partitions = partitions;
  leader.config().id_prefix = 1;
  follower.config().cluster = true;
  follower.config().partitions = partitions;
  follower.config().id_prefix = 2;
  leader.Start();
  leader.LeadAll();
  follower.Start();
}

}  // namespace hermod::core::testing

#endif  // HERMOD_TESTS_UNIT_BROKER_CORE_CORE_HARNESS_H_
