// A partition rebuilt from a snapshot: a follower whose copy diverged
// empties it (kDropPartition), takes the leader's rows slice by slice
// (kPutRows), logs the leader's records not yet applied and ends the
// rebuild (kRebuiltPartition); once both have applied their logs, the
// follower holds exactly the leader's rows of that partition, and its other
// partitions are untouched.
#include "partition_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "envelope.h"
#include "log_record.h"
#include "mem_env.h"
#include "store.h"

namespace hermod::store {
namespace {

// Names starting with 'a' are partition 1, all others partition 0.
PartitionId PartitionOfName(std::string_view name) { return name.starts_with("a") ? 1 : 0; }
bool InOne(std::string_view name) { return PartitionOfName(name) == 1; }

std::string Envelope(std::string_view payload, uint64_t expires_ms = 0) {
  std::string out;
  EnvelopeWriter w(&out, 1000, expires_ms, 0);
  w.Payload(payload);
  return out;
}

using Row = std::tuple<int, std::string, std::string>;

struct Node {
  MemEnv env;
  Store store{&env};
  BatchNo batch_no = 0;

  Node() {
    EXPECT_TRUE(store.Open().ok());
    store.set_partition_of(PartitionOfName);
  }
  // Commits one batch: `fill` writes its operations; `apply` names older
  // batches whose records it applies.
  void Commit(const std::function<void(LogWriter&)>& fill, std::vector<BatchNo> apply = {}) {
    WriteBatch b;
    b.batch_no = ++batch_no;
    b.ids = IdCounters{batch_no + 1, 1000, 1000, 1000, 1000};
    for (BatchNo n : apply) b.apply.push_back(ApplyStep{n, {}});
    fill(b.log);
    Status s = store.Commit(b);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Every row of partition 1.
  std::set<Row> Rows() {
    std::set<Row> out;
    Result<std::unique_ptr<KvTxn>> txn = env.BeginRead();
    EXPECT_TRUE(txn.ok());
    PartitionScan scan(txn->get(), InOne, 1);
    bool done = false;
    while (!done) {
      std::string rows;
      EXPECT_TRUE(scan.Next(1 << 20, &rows, &done).ok());
      EXPECT_TRUE(ForEachRow(rows, [&](Table t, std::string_view k, std::string_view v) {
                    out.emplace(static_cast<int>(t), std::string(k), std::string(v));
                  }).ok());
    }
    return out;
  }
};

TEST(PartitionRows, AFollowerRebuiltFromASnapshotHoldsTheLeadersRows) {
  Node leader;
  // Batch 1: two queues of partition 1 (entries, settings, a dedup id, an
  // expiring entry) and one of partition 0.
  leader.Commit([](LogWriter& log) {
    log.In(1).CreateQueue(1, 10, "a1");
    log.PublishEncoded(1, 1, 101, Envelope("one"));
    log.PublishEncoded(1, 2, 102, Envelope("two", 99999));
    log.Configure(1, "settings");
    log.Dedup(1, 2, 102, 10, "dedup-two");
    log.Dedup(ForwardDedupTarget(1), 0, 120, 10, "fwd:9:9:0");  // a forward stored here
    log.In(0).CreateQueue(2, 10, "b1");
    log.PublishEncoded(2, 1, 103, Envelope("other"));
    log.In(kNodeLocalPartition).PartitionEnd(1, 1, 1);
  });
  // Batch 2: a group of partition 1 with a member, and a fan-out.
  leader.Commit([](LogWriter& log) {
    log.In(1).ChangeGroup(GroupChange{GroupChange::kCreate, "ag", "", 0, 7, 10});
    log.ChangeGroup(GroupChange{GroupChange::kAdd, "ag", "a1", 1, 0, 0});
    log.StartFanout(FanoutStart{5, 110, 7, 10, Envelope("fan"), {1}});
    // Forwards to other partitions' members: one from partition 1's log
    // (its group's), one from partition 0's.
    log.ForwardFanout(FanoutForward{5, 0, 0, 110, 7, EncodeNames({"b-member"})});
    log.In(0).ForwardFanout(FanoutForward{6, 1, 0, 110, 8, EncodeNames({"a-member"})});
    log.In(kNodeLocalPartition).PartitionEnd(1, 1, 2);
  });
  // Batch 3 applies batch 1; its own record (the fan-out's entry, another
  // publish of partition 0) stays in the log: the snapshot's tail.
  leader.Commit(
      [](LogWriter& log) {
        log.In(1).Entry(1, 3, 110, 30, 0);
        log.AdvanceFanout(FanoutProgress{5, 110, 1, 1, true});
        log.In(0).PublishEncoded(2, 2, 104, Envelope("tail of 0"));
        log.In(kNodeLocalPartition).PartitionEnd(1, 2, 3);
      },
      {1});

  Node follower;
  // The follower's copy of partition 1 diverged (a queue the leader never
  // had); its partition 0 matches the leader's first batch.
  follower.Commit([](LogWriter& log) {
    log.In(1).CreateQueue(50, 10, "a-stale");
    log.PublishEncoded(50, 1, 150, Envelope("stale"));
    log.In(0).CreateQueue(2, 10, "b1");
    log.PublishEncoded(2, 1, 103, Envelope("other"));
  });
  follower.Commit([](LogWriter& log) { log.In(kNodeLocalPartition).DropPartition(1); }, {1});
  Result<PartitionLogState> dropped = follower.store.ReadPartitionLog(1);
  ASSERT_TRUE(dropped.ok());
  EXPECT_TRUE(dropped->rebuilding);
  ASSERT_TRUE(follower.Rows().empty());

  Result<std::unique_ptr<PartitionSnapshot>> snapshot =
      PartitionSnapshot::Begin(&leader.env, 1, InOne);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ((*snapshot)->log().end_offset, 3u);
  // Slices of about 64 bytes: many chunks, none splitting a row.
  int chunks = 0;
  for (bool done = false; !done;) {
    std::string rows;
    ASSERT_TRUE((*snapshot)->NextRows(64, &rows, &done).ok());
    if (rows.empty()) continue;
    ++chunks;
    follower.Commit([&](LogWriter& log) { log.In(kNodeLocalPartition).PutRows(1, rows); });
  }
  EXPECT_GT(chunks, 5);
  std::vector<std::string> tail = (*snapshot)->TakeLogTail();
  ASSERT_EQ(tail.size(), 1u);  // batch 2 held only operations applied at commit
  const PartitionLogState at = (*snapshot)->log();
  follower.Commit([&](LogWriter& log) {
    for (const std::string& record : tail) {
      LogReader reader(record, 1);
      LogOp op;
      while (reader.Next(&op)) log.Copy(op);
      ASSERT_TRUE(reader.status().ok());
    }
    log.In(kNodeLocalPartition)
        .RebuiltPartition(1, at.epoch, at.end_offset, EncodeEpochs(at.epochs));
  });

  // Both apply what their logs still hold.
  ASSERT_TRUE(leader.store.Recover().ok());
  ASSERT_TRUE(follower.store.Recover().ok());
  const std::set<Row> want = leader.Rows();
  EXPECT_EQ(follower.Rows(), want);
  EXPECT_GT(want.size(), 10u);
  auto has = [&](Table table, const std::string& key) {
    return std::any_of(want.begin(), want.end(), [&](const Row& r) {
      return std::get<0>(r) == static_cast<int>(table) && std::get<1>(r) == key;
    });
  };
  EXPECT_TRUE(has(Table::kFanout, FanoutForwardKey(5, 0, 0)));
  EXPECT_FALSE(has(Table::kFanout, FanoutForwardKey(6, 1, 0)));  // partition 0's
  EXPECT_TRUE(has(Table::kDedup, DedupKey(ForwardDedupTarget(1), "fwd:9:9:0")));

  Result<PartitionLogState> log = follower.store.ReadPartitionLog(1);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE(log->rebuilding);
  EXPECT_EQ(log->end_offset, 3u);
  EXPECT_EQ(log->unstaged_through, 3u);
  EXPECT_EQ(log->epoch, 2u);
  EXPECT_EQ(log->epochs, at.epochs);
  // The stale queue went; the fan-out entry (from the tail) and its
  // message (from the rows) are there; partition 0 is the follower's own.
  EXPECT_FALSE(follower.store.FindQueue("a-stale")->has_value());
  std::vector<StoredEntry> entries;
  ASSERT_TRUE(follower.store.ReadEntries(1, 1, 10, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2].value.msg_id, 110u);
  EXPECT_FALSE(entries[2].envelope.empty());
  Result<std::optional<QueueInfo>> a1 = follower.store.FindQueue("a1");
  ASSERT_TRUE(a1.ok() && a1->has_value());
  EXPECT_EQ((*a1)->state.depth, 3u);
  EXPECT_EQ((*a1)->config, "settings");
  Result<std::optional<QueueInfo>> b1 = follower.store.FindQueue("b1");
  ASSERT_TRUE(b1.ok() && b1->has_value());
  EXPECT_EQ((*b1)->state.depth, 1u);  // not the leader's 2: partition 0 is not rebuilt
}

TEST(PartitionRows, RowsOfTablesASnapshotNeverCarriesAreRefused) {
  std::string rows;
  AppendRow(&rows, Table::kQueues, "a1", "12345678");
  AppendRow(&rows, Table::kMeta, "ids", "x");
  int seen = 0;
  Status s = ForEachRow(rows, [&](Table, std::string_view, std::string_view) { ++seen; });
  EXPECT_EQ(s.code(), ErrorCode::kCorruption);
  EXPECT_EQ(seen, 1);
  std::string cut;
  AppendRow(&cut, Table::kQueues, "a1", "12345678");
  cut.pop_back();
  EXPECT_EQ(ForEachRow(cut, [](Table, std::string_view, std::string_view) {}).code(),
            ErrorCode::kCorruption);
}

TEST(PartitionRows, EpochsRoundTrip) {
  std::vector<std::pair<uint64_t, uint64_t>> epochs = {{1, 1}, {3, 40}, {9, 41}};
  Result<std::vector<std::pair<uint64_t, uint64_t>>> back = DecodeEpochs(EncodeEpochs(epochs));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, epochs);
  EXPECT_FALSE(DecodeEpochs("short").ok());
}

}  // namespace
}  // namespace hermod::store
