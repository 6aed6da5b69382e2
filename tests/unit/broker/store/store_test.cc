// Store contract tests, run on every KvEnv: LMDB and the in-memory twin.
#include "store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "envelope.h"
#include "lmdb_env.h"
#include "mem_env.h"

namespace hermod::store {
namespace {

std::string Envelope(std::string_view payload) {
  std::string out;
  EnvelopeWriter w(&out, 1000, 0, 0);
  w.Payload(payload);
  return out;
}

// Adds a publish of `payload` to a batch's log record.
void AddPublish(WriteBatch& b, QueueId q, Seq seq, MsgId msg_id, std::string_view payload) {
  std::string env = Envelope(payload);
  b.log.PublishEncoded(q, seq, msg_id, env);
}

struct LmdbFactory {
  static constexpr bool kDurable = true;
  std::string dir;
  LmdbFactory() {
    dir = testing::TempDir() + "store_test." + std::to_string(getpid()) + "." +
          testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~LmdbFactory() { std::filesystem::remove_all(dir); }
  std::unique_ptr<KvEnv> Open(LmdbOptions options = {}) {
    auto env = LmdbEnv::Open(dir, options);
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return std::move(*env);
  }
};

struct MemFactory {
  static constexpr bool kDurable = false;
  std::unique_ptr<KvEnv> Open() { return std::make_unique<MemEnv>(); }
};

template <typename Factory>
class StoreTest : public testing::Test {
 protected:
  void SetUp() override {
    env_ = factory_.Open();
    store_ = std::make_unique<Store>(env_.get());
    ASSERT_TRUE(store_->Open().ok());
  }

  // A batch that creates queue 1 ("q") and publishes n messages to it.
  WriteBatch CreateAndPublish(BatchNo batch_no, int n, Seq first_seq = 1, MsgId first_msg = 1) {
    WriteBatch b;
    b.batch_no = batch_no;
    if (first_seq == 1) b.log.CreateQueue(1, 42, "q");
    for (int i = 0; i < n; ++i) {
      AddPublish(b, 1, first_seq + i, first_msg + i, "payload-" + std::to_string(first_seq + i));
    }
    b.ids = IdCounters{batch_no + 1, first_msg + n, 2};
    return b;
  }

  Factory factory_;
  std::unique_ptr<KvEnv> env_;
  std::unique_ptr<Store> store_;
};

using Factories = testing::Types<LmdbFactory, MemFactory>;
TYPED_TEST_SUITE(StoreTest, Factories);

TYPED_TEST(StoreTest, RecoveryAppliesTheLogTail) {
  WriteBatch b = this->CreateAndPublish(1, 3);
  ASSERT_TRUE(this->store_->Commit(b).ok());
  // A later record acks seq 2 while it was only in the log, and records a
  // second delivery of seq 3.
  WriteBatch later;
  later.batch_no = 2;
  later.log.Ack(1, 2);
  later.log.Delivered(1, 3, 2);
  later.ids = IdCounters{3, 4, 2};
  ASSERT_TRUE(this->store_->Commit(later).ok());

  auto rec = this->store_->Recover();
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->records_applied, 2u);
  EXPECT_EQ(rec->ids.next_batch_no, 3u);
  EXPECT_EQ(rec->ids.next_msg_id, 4u);
  EXPECT_EQ(rec->ids.next_queue_id, 2u);
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 0u);

  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].seq, 1u);
  EXPECT_EQ(entries[0].value.delivery_count, 0u);
  EXPECT_EQ(entries[1].seq, 3u);
  EXPECT_EQ(entries[1].value.delivery_count, 2u);
  auto q = this->store_->FindQueue("q");
  EXPECT_EQ((*q)->state.depth, 2u);
  EXPECT_EQ((*q)->state.last_seq, 3u);

  // Recovering again finds nothing to do.
  auto again = this->store_->Recover();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->records_applied, 0u);
}

TYPED_TEST(StoreTest, LargeRecordsAreChunkedAndReassembled) {
  WriteBatch b;
  b.batch_no = 1;
  b.log.CreateQueue(1, 0, "q");
  std::string big(5 * Store::kLogChunkBytes + 17, 'z');
  AddPublish(b, 1, 1, 1, big);
  b.ids = IdCounters{2, 2, 2};
  ASSERT_TRUE(this->store_->Commit(b).ok());
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 6u);
  ASSERT_TRUE(this->store_->Recover().ok());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EnvelopeView v;
  ASSERT_TRUE(v.Parse(entries[0].envelope));
  EXPECT_EQ(v.payload(), big);
}

TYPED_TEST(StoreTest, ApplyMovesRecordIntoIndex) {
  ASSERT_TRUE(this->store_->Commit(this->CreateAndPublish(1, 3)).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 4, 2};
  ASSERT_TRUE(this->store_->Commit(apply).ok());

  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 0u);

  auto q = this->store_->FindQueue("q");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->has_value());
  EXPECT_EQ((*q)->queue_id, 1u);
  EXPECT_EQ((*q)->state.last_seq, 3u);
  EXPECT_EQ((*q)->state.depth, 3u);
  EXPECT_EQ((*q)->state.created_ms, 42u);
  EXPECT_EQ((*q)->state.name, "q");

  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(entries[i].seq, static_cast<Seq>(i + 1));
    EXPECT_EQ(entries[i].value.msg_id, static_cast<MsgId>(i + 1));
    EnvelopeView v;
    ASSERT_TRUE(v.Parse(entries[i].envelope));
    EXPECT_EQ(v.payload(), "payload-" + std::to_string(i + 1));
  }
  // Bounds: from, end and max_entries.
  entries.clear();
  ASSERT_TRUE(this->store_->ReadEntries(1, 2, 3, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].seq, 2u);
}

TYPED_TEST(StoreTest, CanceledEntriesNeverReachTheIndex) {
  ASSERT_TRUE(this->store_->Commit(this->CreateAndPublish(1, 3)).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {{1, 1}, {1, 3}}});
  apply.ids = IdCounters{3, 4, 2};
  ASSERT_TRUE(this->store_->Commit(apply).ok());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].seq, 2u);
  auto q = this->store_->FindQueue("q");
  EXPECT_EQ((*q)->state.depth, 1u);
  // The last seq counts canceled entries too: seqs are never reused.
  EXPECT_EQ((*q)->state.last_seq, 3u);
  KvStats stats = this->env_->Stats();
  EXPECT_EQ(stats.entries[static_cast<int>(Table::kMessages)], 1u);
}

TYPED_TEST(StoreTest, IndexAckDeletesEntryAndMessage) {
  ASSERT_TRUE(this->store_->Commit(this->CreateAndPublish(1, 2)).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 3, 2};
  ASSERT_TRUE(this->store_->Commit(apply).ok());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);

  WriteBatch ack;
  ack.batch_no = 3;
  ack.log.IndexAck(1, 1, entries[0].value.msg_id, entries[0].value.bytes, 0);
  ack.ids = IdCounters{4, 3, 2};
  ASSERT_TRUE(this->store_->Commit(ack).ok());

  entries.clear();
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].seq, 2u);
  auto q = this->store_->FindQueue("q");
  EXPECT_EQ((*q)->state.depth, 1u);
  EXPECT_EQ((*q)->state.bytes, entries[0].value.bytes);
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kMessages)], 1u);
  // The ack's record held nothing for an apply step: it is not kept.
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 0u);
}

// A purge is a log operation applied by the commit that logs it; the batch
// reports what it removed, and replaying the log after a restart does not
// apply it again.
TYPED_TEST(StoreTest, PurgeRemovesTheIndexRangeAndReportsIt) {
  ASSERT_TRUE(this->store_->Commit(this->CreateAndPublish(1, 3)).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 4, 2};
  ASSERT_TRUE(this->store_->Commit(apply).ok());

  WriteBatch purge;
  purge.batch_no = 3;
  purge.log.Purge(1, 1, 3);      // seqs 1 and 2
  purge.log.Delivered(1, 3, 1);  // and something for the apply step
  purge.ids = IdCounters{4, 4, 2};
  ASSERT_TRUE(this->store_->Commit(purge).ok());
  ASSERT_EQ(purge.purged.size(), 1u);
  EXPECT_EQ(purge.purged[0].queue_id, 1u);
  EXPECT_EQ(purge.purged[0].removed, 2u);
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 1u);

  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].seq, 3u);
  auto q = this->store_->FindQueue("q");
  EXPECT_EQ((*q)->state.depth, 1u);

  // Applying the record later (as recovery or the apply step does) leaves
  // the purge alone: the depth stays 1.
  WriteBatch later;
  later.batch_no = 4;
  later.apply.push_back(ApplyStep{3, {}});
  later.ids = IdCounters{5, 4, 2};
  ASSERT_TRUE(this->store_->Commit(later).ok());
  q = this->store_->FindQueue("q");
  EXPECT_EQ((*q)->state.depth, 1u);
  entries.clear();
  ASSERT_TRUE(this->store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].value.delivery_count, 1u);
}

TYPED_TEST(StoreTest, FailedCommitIsSticky) {
  this->store_->TEST_FailNextCommit(Status::StorageError("injected EIO"));
  Status s = this->store_->Commit(this->CreateAndPublish(1, 1));
  EXPECT_EQ(s.code(), ErrorCode::kStorageError);
  // Every later batch is refused with the same status, and nothing is written.
  Status again = this->store_->Commit(this->CreateAndPublish(2, 1));
  EXPECT_EQ(again.ToString(), s.ToString());
  EXPECT_EQ(this->env_->Stats().entries[static_cast<int>(Table::kLog)], 0u);
}

TYPED_TEST(StoreTest, ListsQueuesWithAndWithoutAPrefix) {
  WriteBatch b;
  b.batch_no = 1;
  b.log.CreateQueue(1, 0, "b.one");
  b.log.CreateQueue(2, 0, "a.two");
  b.log.CreateQueue(3, 0, "b.three");
  b.ids = IdCounters{2, 1, 4};
  ASSERT_TRUE(this->store_->Commit(b).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 1, 4};
  ASSERT_TRUE(this->store_->Commit(apply).ok());
  // An empty prefix and no `after` start at the first key (LMDB refuses a
  // zero-length seek key).
  std::vector<QueueInfo> all;
  ASSERT_TRUE(this->store_->ListQueues("", "", 10, &all).ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].state.name, "a.two");
  std::vector<QueueInfo> b_only;
  ASSERT_TRUE(this->store_->ListQueues("b.", "b.one", 10, &b_only).ok());
  ASSERT_EQ(b_only.size(), 1u);
  EXPECT_EQ(b_only[0].state.name, "b.three");
  size_t seen = 0;
  ASSERT_TRUE(
      this->store_->ForEachQueue([&](QueueId, const QueueState&) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2u);
}

TYPED_TEST(StoreTest, UnknownQueueIsNotFound) {
  auto q = this->store_->FindQueue("nobody");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->has_value());
  auto by_id = this->store_->FindQueueById(99);
  ASSERT_TRUE(by_id.ok());
  EXPECT_FALSE(by_id->has_value());
}

// LMDB only: what survives closing and reopening the environment.

class LmdbStoreTest : public testing::Test {
 protected:
  LmdbFactory factory_;
};

TEST_F(LmdbStoreTest, BatchCommitSurvivesReopen) {
  {
    auto env = factory_.Open();
    Store store(env.get());
    ASSERT_TRUE(store.Open().ok());
    WriteBatch b;
    b.batch_no = 1;
    b.log.CreateQueue(1, 0, "q");
    AddPublish(b, 1, 1, 1, "durable");
    b.ids = IdCounters{2, 2, 2};
    ASSERT_TRUE(store.Commit(b).ok());
  }
  auto env = factory_.Open();
  Store store(env.get());
  ASSERT_TRUE(store.Open().ok());
  auto rec = store.Recover();
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->records_applied, 1u);
  EXPECT_EQ(rec->ids.next_msg_id, 2u);
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(store.ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EnvelopeView v;
  ASSERT_TRUE(v.Parse(entries[0].envelope));
  EXPECT_EQ(v.payload(), "durable");
}

TEST_F(LmdbStoreTest, SeqContinuesAfterReopen) {
  {
    auto env = factory_.Open();
    Store store(env.get());
    ASSERT_TRUE(store.Open().ok());
    WriteBatch b;
    b.batch_no = 1;
    b.log.CreateQueue(1, 0, "q");
    for (Seq s = 1; s <= 5; ++s) AddPublish(b, 1, s, s, "m");
    b.ids = IdCounters{2, 6, 2};
    ASSERT_TRUE(store.Commit(b).ok());
    // Apply with every entry acked: the index keeps no entry, yet the
    // queue's last seq must survive, or seqs would be reused.
    WriteBatch apply;
    apply.batch_no = 2;
    apply.apply.push_back(ApplyStep{1, {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}}});
    apply.ids = IdCounters{3, 6, 2};
    ASSERT_TRUE(store.Commit(apply).ok());
  }
  auto env = factory_.Open();
  Store store(env.get());
  ASSERT_TRUE(store.Open().ok());
  auto q = store.FindQueue("q");
  ASSERT_TRUE(q.ok() && q->has_value());
  EXPECT_EQ((*q)->state.last_seq, 5u);
  EXPECT_EQ((*q)->state.depth, 0u);
}

TEST_F(LmdbStoreTest, MapGrowsWhenFull) {
  LmdbOptions options;
  options.map_bytes = 256 << 10;
  auto env = factory_.Open(options);
  Store store(env.get());
  ASSERT_TRUE(store.Open().ok());
  WriteBatch b;
  b.batch_no = 1;
  b.log.CreateQueue(1, 0, "q");
  for (Seq s = 1; s <= 100; ++s) AddPublish(b, 1, s, s, std::string(10000, 'x'));
  b.ids = IdCounters{2, 101, 2};
  ASSERT_TRUE(store.Commit(b).ok());
  EXPECT_GT(env->Stats().map_bytes, 256u << 10);
}

TEST_F(LmdbStoreTest, StoreLimitRefusesWithoutStickiness) {
  LmdbOptions options;
  options.map_bytes = 256 << 10;
  options.max_map_bytes = 512 << 10;
  auto env = factory_.Open(options);
  Store store(env.get());
  ASSERT_TRUE(store.Open().ok());
  WriteBatch big;
  big.batch_no = 1;
  big.log.CreateQueue(1, 0, "q");
  for (Seq s = 1; s <= 100; ++s) AddPublish(big, 1, s, s, std::string(10000, 'x'));
  big.ids = IdCounters{2, 101, 2};
  EXPECT_EQ(store.Commit(big).code(), ErrorCode::kStorageFull);
  // A full store is pressure, not a broken disk: small batches still commit.
  WriteBatch small;
  small.batch_no = 2;
  small.log.CreateQueue(1, 0, "q");
  AddPublish(small, 1, 1, 1, "fits");
  small.ids = IdCounters{3, 2, 2};
  EXPECT_TRUE(store.Commit(small).ok());
}

}  // namespace
}  // namespace hermod::store

namespace hermod::store {
namespace {

template <typename Factory>
class GroupStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    env_ = factory_.Open();
    store_ = std::make_unique<Store>(env_.get());
    ASSERT_TRUE(store_->Open().ok());
  }
  Status Commit(WriteBatch& b) {
    b.batch_no = next_batch_++;
    b.ids = IdCounters{next_batch_, 100, 100, 10, 10};
    return store_->Commit(b);
  }
  uint64_t Count(Table t) { return env_->Stats().entries[static_cast<int>(t)]; }

  Factory factory_;
  std::unique_ptr<KvEnv> env_;
  std::unique_ptr<Store> store_;
  BatchNo next_batch_ = 1;
};

using GroupFactories = testing::Types<LmdbFactory, MemFactory>;
TYPED_TEST_SUITE(GroupStoreTest, GroupFactories);

TYPED_TEST(GroupStoreTest, MembershipChangesAndPaging) {
  WriteBatch b;
  b.log.ChangeGroup(GroupChange{GroupChange::kCreate, "chat", "", 0, 7, 1234});
  for (int i = 0; i < 5; ++i) {
    b.log.ChangeGroup(
        GroupChange{GroupChange::kAdd, "chat", "user:" + std::to_string(i), QueueId(i + 1), 0, 0});
  }
  b.log.ChangeGroup(GroupChange{GroupChange::kAdd, "chat", "user:1", 2, 0, 0});  // again
  b.log.ChangeGroup(GroupChange{GroupChange::kRemove, "chat", "user:3", 0, 0, 0});
  b.log.ChangeGroup(GroupChange{GroupChange::kCreate, "chatter", "", 0, 8, 1});
  ASSERT_TRUE(this->Commit(b).ok());

  auto info = this->store_->FindGroup("chat");
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->group_id, 7u);
  EXPECT_EQ((*info)->members, 4u);
  std::vector<std::pair<std::string, QueueId>> members;
  ASSERT_TRUE(this->store_->ReadGroupMembers("chat", "", 2, &members).ok());
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].first, "user:0");
  EXPECT_EQ(members[1].second, 2u);
  ASSERT_TRUE(this->store_->ReadGroupMembers("chat", "user:1", 10, &members).ok());
  ASSERT_EQ(members.size(), 4u);  // user:2, user:4 after the first page
  EXPECT_EQ(members[2].first, "user:2");
  EXPECT_EQ(members[3].first, "user:4");

  std::vector<GroupSummary> groups;
  ASSERT_TRUE(this->store_->ListGroups("chat", "", 10, &groups).ok());
  ASSERT_EQ(groups.size(), 2u);
  groups.clear();
  ASSERT_TRUE(this->store_->ListGroups("chat", "chat", 10, &groups).ok());
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].name, "chatter");

  WriteBatch d;
  d.log.ChangeGroup(GroupChange{GroupChange::kDelete, "chat", "", 0, 0, 0});
  ASSERT_TRUE(this->Commit(d).ok());
  EXPECT_FALSE(this->store_->FindGroup("chat")->has_value());
  EXPECT_EQ(this->Count(Table::kGroups), 0u);
}

TYPED_TEST(GroupStoreTest, SharedMessageLivesUntilItsLastEntryGoes) {
  // A fan-out to three members in one chunk.
  WriteBatch b;
  b.log.CreateQueue(1, 0, "a");
  b.log.CreateQueue(2, 0, "b");
  b.log.CreateQueue(3, 0, "c");
  std::string env = Envelope("shared");
  b.log.StartFanout(FanoutStart{5, 50, 7, 0, env, {1, 2, 3}});
  for (QueueId q = 1; q <= 3; ++q) b.log.Entry(q, 1, 50, static_cast<uint32_t>(env.size()), 0);
  b.log.AdvanceFanout(FanoutProgress{5, 50, 3, 3, true});
  ASSERT_TRUE(this->Commit(b).ok());
  EXPECT_EQ(this->Count(Table::kMessages), 1u);
  EXPECT_EQ(this->Count(Table::kFanout), 0u);  // done: the job is gone

  // Apply: a's entry was acked inside the lag, b and c reach the index.
  WriteBatch apply;
  apply.apply.push_back(ApplyStep{1, {{1, 1}}});
  ASSERT_TRUE(this->Commit(apply).ok());
  EXPECT_EQ(this->Count(Table::kEntries), 2u);
  EXPECT_EQ(this->Count(Table::kMessages), 1u);

  WriteBatch ack_b;
  ack_b.log.IndexAck(2, 1, 50, static_cast<uint32_t>(env.size()), 0);
  ASSERT_TRUE(this->Commit(ack_b).ok());
  EXPECT_EQ(this->Count(Table::kMessages), 1u);  // c still holds it
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(this->store_->ReadEntries(3, 1, 10, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EnvelopeView v;
  ASSERT_TRUE(v.Parse(entries[0].envelope));
  EXPECT_EQ(v.payload(), "shared");

  WriteBatch ack_c;
  ack_c.log.IndexAck(3, 1, 50, static_cast<uint32_t>(env.size()), 0);
  ASSERT_TRUE(this->Commit(ack_c).ok());
  EXPECT_EQ(this->Count(Table::kMessages), 0u);
  EXPECT_EQ(this->Count(Table::kRefs), 0u);
}

TYPED_TEST(GroupStoreTest, UnfinishedFanoutIsRecoveredAtItsCursor) {
  WriteBatch b;
  b.log.StartFanout(FanoutStart{9, 90, 7, 0, Envelope("big"), {11, 12, 13, 14}});
  b.log.AdvanceFanout(FanoutProgress{9, 90, 2, 2, false});
  ASSERT_TRUE(this->Commit(b).ok());
  auto rec = this->store_->Recover();
  ASSERT_TRUE(rec.ok());
  ASSERT_EQ(rec->fanout_jobs.size(), 1u);
  const RecoveredFanout& job = rec->fanout_jobs[0];
  EXPECT_EQ(job.job_id, 9u);
  EXPECT_EQ(job.header.msg_id, 90u);
  EXPECT_EQ(job.header.cursor, 2u);
  EXPECT_EQ(job.members, (std::vector<QueueId>{11, 12, 13, 14}));
  EnvelopeView v;
  ASSERT_TRUE(v.Parse(job.envelope));
  EXPECT_EQ(v.payload(), "big");
}

}  // namespace
}  // namespace hermod::store

namespace hermod::store {
namespace {

// Schema 1 stores had member rows only; opening one indexes them (schema 2)
// so that a deleted queue can leave its groups.
TYPED_TEST(StoreTest, OpeningASchemaOneStoreIndexesGroupMembership) {
  {
    Result<std::unique_ptr<KvTxn>> txn = this->env_->BeginWrite();
    ASSERT_TRUE(txn.ok());
    std::string v1;
    AppendFixed32(&v1, 1);
    (*txn)->Put(Table::kMeta, "schema_version", v1);  // store.cc, kMetaSchemaVersion
    (*txn)->Put(Table::kGroupInfo, "g", GroupInfoValue{1, 0, 2}.Encode());
    (*txn)->Put(Table::kGroups, GroupMemberKey("g", "a"), U64Key(5).view());
    (*txn)->Put(Table::kGroups, GroupMemberKey("g", "b"), U64Key(6).view());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  Store reopened(this->env_.get());
  ASSERT_TRUE(reopened.Open().ok());
  Result<std::unique_ptr<KvTxn>> txn = this->env_->BeginRead();
  ASSERT_TRUE(txn.ok());
  Result<uint32_t> version = ReadSchemaVersion(**txn);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kSchemaVersion);
  std::string_view value;
  EXPECT_TRUE((*txn)->Get(Table::kGroups, MemberOfKey(5, "g"), &value));
  EXPECT_TRUE((*txn)->Get(Table::kGroups, MemberOfKey(6, "g"), &value));
}

}  // namespace
}  // namespace hermod::store
