// The envelope layout of the index: whole rows in `messages`, large ones in
// `message_chunks` (message_table.h), on LMDB and the in-memory twin.
#include "message_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "envelope.h"
#include "lmdb_env.h"
#include "mem_env.h"
#include "store.h"

namespace hermod::store {
namespace {

std::string Envelope(std::string_view payload) {
  std::string out;
  EnvelopeWriter w(&out, 1000, 0, 0);
  w.Payload(payload);
  return out;
}

// A payload whose bytes differ, so a slice out of place shows.
std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return out;
}

// LMDB's largest node on a 4 KiB page: ((4096 - 16) / 2 & -2) - 2 bytes,
// including its 8-byte header and the key.
constexpr size_t kMaxNodeBytes = 2038;

TEST(PlanChunks, SlicesFitANodeAndCoverTheEnvelope) {
  for (size_t bytes : {kInlineEnvelopeBytes + 1, size_t{3022}, size_t{4000}, size_t{16022},
                       size_t{100000}, size_t{1} << 20}) {
    ChunkPlan plan = PlanChunks(bytes);
    ASSERT_GT(plan.chunks, 0u) << bytes;
    EXPECT_LE(8 + kMessageChunkKeyBytes + plan.chunk_bytes, kMaxNodeBytes) << bytes;
    EXPECT_GE(size_t{plan.chunks} * plan.chunk_bytes, bytes) << bytes;
    EXPECT_LT(size_t{plan.chunks - 1} * plan.chunk_bytes, bytes) << bytes;
  }
}

struct LmdbFactory {
  std::string dir;
  LmdbFactory() {
    dir = testing::TempDir() + "message_table_test." + std::to_string(getpid()) + "." +
          testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~LmdbFactory() { std::filesystem::remove_all(dir); }
  std::unique_ptr<KvEnv> Open() {
    auto env = LmdbEnv::Open(dir, LmdbOptions{});
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return std::move(*env);
  }
};

struct MemFactory {
  std::unique_ptr<KvEnv> Open() { return std::make_unique<MemEnv>(); }
};

template <typename Factory>
class MessageTableTest : public testing::Test {
 protected:
  void SetUp() override { env_ = factory_.Open(); }
  uint64_t Count(Table t) { return env_->Stats().entries[static_cast<int>(t)]; }
  std::unique_ptr<KvTxn> Write() {
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginWrite();
    EXPECT_TRUE(txn.ok());
    return std::move(*txn);
  }
  std::string Read(MsgId msg_id) {
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
    EXPECT_TRUE(txn.ok());
    std::string envelope;
    Result<bool> found = ReadEnvelope(**txn, msg_id, &envelope);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() && *found ? envelope : "(none)";
  }

  Factory factory_;
  std::unique_ptr<KvEnv> env_;
};

using Factories = testing::Types<LmdbFactory, MemFactory>;
TYPED_TEST_SUITE(MessageTableTest, Factories);

TYPED_TEST(MessageTableTest, SmallEnvelopesStayWholeLargeOnesAreChunked) {
  std::string small = Envelope("small");
  std::string large = Envelope(Pattern(9000));
  {
    std::unique_ptr<KvTxn> txn = this->Write();
    EnvelopeTails tails;
    PutEnvelope(*txn, 1, small, &tails);
    PutEnvelope(*txn, 2, large, &tails);
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(this->Count(Table::kMessages), 2u);  // one row per message, stubs included
  EXPECT_EQ(this->Count(Table::kMessageChunks), PlanChunks(large.size()).chunks);
  EXPECT_EQ(this->Read(1), small);
  EXPECT_EQ(this->Read(2), large);
  EXPECT_EQ(this->Read(3), "(none)");

  std::unique_ptr<KvTxn> txn = this->Write();
  EXPECT_TRUE(DeleteEnvelope(*txn, 2));
  EXPECT_FALSE(DeleteEnvelope(*txn, 2));
  EXPECT_TRUE(DeleteEnvelope(*txn, 1));
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(this->Count(Table::kMessages), 0u);
  EXPECT_EQ(this->Count(Table::kMessageChunks), 0u);
}

TYPED_TEST(MessageTableTest, OlderIdsAfterNewerOnesAreNotAppended) {
  // A fan-out stores its message when it starts, a direct publish an apply
  // lag later: a smaller id can follow a larger one, in the same
  // transaction or a later one. Appending it would fail (MDB_KEYEXIST).
  std::string a = Envelope(Pattern(5000));
  std::string b = Envelope(Pattern(7000));
  std::string c = Envelope(Pattern(3000));
  {
    std::unique_ptr<KvTxn> txn = this->Write();
    EnvelopeTails tails;
    PutEnvelope(*txn, 20, a, &tails);
    PutEnvelope(*txn, 10, b, &tails);
    ASSERT_TRUE(txn->Commit().ok()) << txn->status().ToString();
  }
  {
    std::unique_ptr<KvTxn> txn = this->Write();
    EnvelopeTails tails;
    PutEnvelope(*txn, 15, c, &tails);
    PutEnvelope(*txn, 30, c, &tails);
    ASSERT_TRUE(txn->Commit().ok()) << txn->status().ToString();
  }
  EXPECT_EQ(this->Read(20), a);
  EXPECT_EQ(this->Read(10), b);
  EXPECT_EQ(this->Read(15), c);
  EXPECT_EQ(this->Read(30), c);
}

TYPED_TEST(MessageTableTest, AWholeLargeEnvelopeFromAnOlderLayoutIsRead) {
  // Before schema 3 a large envelope was one (overflow) value in messages.
  std::string old = Envelope(Pattern(6000));
  {
    std::unique_ptr<KvTxn> txn = this->Write();
    txn->Put(Table::kMessages, U64Key(7).view(), old);
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(this->Read(7), old);
  std::unique_ptr<KvTxn> txn = this->Write();
  EXPECT_TRUE(DeleteEnvelope(*txn, 7));
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(this->Count(Table::kMessages), 0u);
}

TYPED_TEST(MessageTableTest, AMissingChunkIsReportedNotGuessed) {
  std::string large = Envelope(Pattern(5000));
  {
    std::unique_ptr<KvTxn> txn = this->Write();
    EnvelopeTails tails;
    PutEnvelope(*txn, 4, large, &tails);
    ASSERT_TRUE(txn->Del(Table::kMessageChunks, MessageChunkKey(4, 1).view()));
    ASSERT_TRUE(txn->Commit().ok());
  }
  Result<std::unique_ptr<KvTxn>> txn = this->env_->BeginRead();
  ASSERT_TRUE(txn.ok());
  std::string envelope;
  Result<bool> found = ReadEnvelope(**txn, 4, &envelope);
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find("chunk 1"), std::string::npos)
      << found.status().ToString();
}

// Through the Store, on LMDB: a large envelope published, applied to the
// index, read back after a restart, then acked.
class ChunkedStoreTest : public testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    env_.reset();
    env_ = factory_.Open();
    store_ = std::make_unique<Store>(env_.get());
    ASSERT_TRUE(store_->Open().ok());
  }
  uint64_t Count(Table t) { return env_->Stats().entries[static_cast<int>(t)]; }

  LmdbFactory factory_;
  std::unique_ptr<KvEnv> env_;
  std::unique_ptr<Store> store_;
};

TEST_F(ChunkedStoreTest, LargeEnvelopeSurvivesARestartAndItsAckFreesEveryChunk) {
  std::string payload = Pattern(16000);
  std::string envelope = Envelope(payload);
  WriteBatch publish;
  publish.batch_no = 1;
  publish.log.CreateQueue(1, 0, "q");
  publish.log.PublishEncoded(1, 1, 1, envelope);
  publish.log.PublishEncoded(1, 2, 2, Envelope("small"));
  publish.ids = IdCounters{2, 3, 2};
  ASSERT_TRUE(store_->Commit(publish).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 3, 2};
  ASSERT_TRUE(store_->Commit(apply).ok());
  EXPECT_EQ(Count(Table::kMessages), 2u);
  EXPECT_EQ(Count(Table::kMessageChunks), PlanChunks(envelope.size()).chunks);

  Reopen();
  ASSERT_TRUE(store_->Recover().ok());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EnvelopeView v;
  ASSERT_TRUE(v.Parse(entries[0].envelope));
  EXPECT_EQ(v.payload(), payload);
  EXPECT_EQ(entries[1].envelope, Envelope("small"));

  WriteBatch ack;
  ack.batch_no = 3;
  ack.log.IndexAck(1, 1, 1, static_cast<uint32_t>(envelope.size()), 0);
  ack.ids = IdCounters{4, 3, 2};
  ASSERT_TRUE(store_->Commit(ack).ok());
  EXPECT_EQ(Count(Table::kMessages), 1u);
  EXPECT_EQ(Count(Table::kMessageChunks), 0u);
}

TEST_F(ChunkedStoreTest, RecoveryChunksTheLogTailAndReadsOldLayoutRows) {
  // A row as a schema-2 store left it: a large envelope whole in messages.
  std::string old = Envelope(Pattern(4000));
  {
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginWrite();
    ASSERT_TRUE(txn.ok());
    (*txn)->Put(Table::kMessages, U64Key(1).view(), old);
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  WriteBatch create;
  create.batch_no = 1;
  create.log.CreateQueue(1, 0, "q");
  create.ids = IdCounters{2, 2, 2};
  ASSERT_TRUE(store_->Commit(create).ok());
  // A publish only in the log when the broker stops; the restart applies it.
  std::string fresh = Envelope(Pattern(3000));
  WriteBatch publish;
  publish.batch_no = 2;
  publish.log.PublishEncoded(1, 2, 2, fresh);
  publish.ids = IdCounters{3, 3, 2};
  ASSERT_TRUE(store_->Commit(publish).ok());
  {
    // The old message's entry, as the index held it.
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginWrite();
    ASSERT_TRUE(txn.ok());
    EntryValue entry;
    entry.msg_id = 1;
    entry.bytes = static_cast<uint32_t>(old.size());
    (*txn)->Put(Table::kEntries, EntryKey(1, 1).view(), entry.Encode());
    ASSERT_TRUE((*txn)->Commit().ok());
  }

  Reopen();
  ASSERT_TRUE(store_->Recover().ok());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].envelope, old);
  EXPECT_EQ(entries[1].envelope, fresh);
  EXPECT_EQ(Count(Table::kMessageChunks), PlanChunks(fresh.size()).chunks);
}

TEST_F(ChunkedStoreTest, AFanoutAheadOfAnUnappliedPublishDoesNotBreakTheAppends) {
  // Message 1 waits in the log while the fan-out of message 2 stores its
  // envelope at once; applying message 1 then puts a smaller id.
  std::string direct = Envelope(Pattern(5000));
  std::string shared = Envelope(Pattern(6000));
  WriteBatch publish;
  publish.batch_no = 1;
  publish.log.CreateQueue(1, 0, "q");
  publish.log.PublishEncoded(1, 1, 1, direct);
  publish.log.StartFanout(FanoutStart{5, 2, 7, 0, shared, {1}});
  publish.log.Entry(1, 2, 2, static_cast<uint32_t>(shared.size()), 0);
  publish.log.AdvanceFanout(FanoutProgress{5, 2, 1, 1, true});
  publish.ids = IdCounters{2, 3, 2, 8, 6};
  ASSERT_TRUE(store_->Commit(publish).ok());
  WriteBatch apply;
  apply.batch_no = 2;
  apply.apply.push_back(ApplyStep{1, {}});
  apply.ids = IdCounters{3, 3, 2, 8, 6};
  Status s = store_->Commit(apply);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(store_->ReadEntries(1, 1, 100, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].envelope, direct);
  EXPECT_EQ(entries[1].envelope, shared);
}

}  // namespace
}  // namespace hermod::store
