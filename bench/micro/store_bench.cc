// Micro-benchmark of a storage batch (broker/store/store.h) without fsync:
// in steady state every transaction appends a new log record of N publishes
// (256-byte payloads, round robin over 1,000 queues) and applies the record
// of the transaction before it to the index, as the storage thread does
// once the apply lag has passed. Run on LmdbEnv with --sync none and on the
// in-memory MemEnv; N is the entries per transaction. Reports entries/s.
#include <benchmark/benchmark.h>
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

constexpr QueueId kQueues = 1000;

class BatchSource {
 public:
  // Batch 1 creates the queues; every later one carries n publishes and
  // applies the batch before it.
  WriteBatch Next(int n) {
    WriteBatch b;
    b.batch_no = next_batch_++;
    b.now_ms = 1700000000000;
    if (b.batch_no == 1) {
      for (QueueId q = 1; q <= kQueues; ++q) {
        b.log.CreateQueue(q, b.now_ms, "bench." + std::to_string(q - 1));
      }
    } else {
      for (int i = 0; i < n; ++i) {
        const QueueId q = next_msg_ % kQueues + 1;
        b.log.PublishEncoded(q, ++seqs_[q], next_msg_, envelope_);
        ++next_msg_;
      }
      b.apply.push_back(ApplyStep{b.batch_no - 1, {}});
    }
    b.ids = IdCounters{next_batch_, next_msg_, kQueues + 1, 1, 1};
    return b;
  }

 private:
  static std::string MakeEnvelope() {
    std::string out;
    EnvelopeWriter w(&out, 1700000000000, 0, 0);
    w.Payload(std::string(256, 'x'));
    return out;
  }
  BatchNo next_batch_ = 1;
  MsgId next_msg_ = 1;
  uint64_t seqs_[kQueues + 1] = {};
  std::string envelope_ = MakeEnvelope();
};

void RunBatches(benchmark::State& state, KvEnv* env) {
  Store store(env);
  if (!store.Open().ok()) {
    state.SkipWithError("Store::Open failed");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  BatchSource source;
  if (!store.Commit(source.Next(n)).ok()) {
    state.SkipWithError("create queues failed");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();  // building the batch is the loop's work, not storage's
    WriteBatch batch = source.Next(n);
    state.ResumeTiming();
    Status s = store.Commit(batch);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_LmdbSyncNone(benchmark::State& state) {
  const std::string dir = "/tmp/hermod-store-bench." + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    LmdbOptions options;
    options.sync = SyncMode::kNone;
    options.map_bytes = uint64_t{8} << 30;  // sparse; no growth during the run
    Result<std::unique_ptr<LmdbEnv>> env = LmdbEnv::Open(dir, options);
    if (!env.ok()) {
      state.SkipWithError(env.status().ToString().c_str());
    } else {
      RunBatches(state, env->get());
    }
  }
  std::filesystem::remove_all(dir);
}

void BM_MemEnv(benchmark::State& state) {
  MemEnv env;
  RunBatches(state, &env);
}

BENCHMARK(BM_LmdbSyncNone)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MemEnv)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hermod::store

BENCHMARK_MAIN();
