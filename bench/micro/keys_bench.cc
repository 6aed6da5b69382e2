// Micro-benchmarks of the store's key and value encodings
// (broker/store/keys.h): the entry key every publish and ack touches, its
// decoding, and the entry value. Reports keys/s.
#include <benchmark/benchmark.h>

#include <string>

#include "keys.h"

namespace hermod::store {
namespace {

void BM_EntryKeyEncode(benchmark::State& state) {
  uint64_t seq = 0;
  for (auto _ : state) {
    EntryKey key(42, ++seq);
    benchmark::DoNotOptimize(key.bytes);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_EntryKeyDecode(benchmark::State& state) {
  EntryKey key(42, 123456789);
  std::string_view view = key.view();
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    benchmark::DoNotOptimize(EntryKeyQueue(view) + EntryKeySeq(view));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_U64KeyRoundTrip(benchmark::State& state) {
  uint64_t msg_id = 0;
  for (auto _ : state) {
    U64Key key(++msg_id);
    benchmark::DoNotOptimize(DecodeU64Key(key.view()));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_LogKeyEncode(benchmark::State& state) {
  uint64_t batch = 0;
  for (auto _ : state) {
    LogKey key(++batch, 3);
    benchmark::DoNotOptimize(key.bytes);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_EntryValueRoundTrip(benchmark::State& state) {
  EntryValue value{};
  value.msg_id = 12345;
  for (auto _ : state) {
    std::string encoded = value.Encode();
    EntryValue decoded{};
    benchmark::DoNotOptimize(decoded.Decode(encoded));
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_EntryKeyEncode);
BENCHMARK(BM_EntryKeyDecode);
BENCHMARK(BM_U64KeyRoundTrip);
BENCHMARK(BM_LogKeyEncode);
BENCHMARK(BM_EntryValueRoundTrip);

}  // namespace
}  // namespace hermod::store

BENCHMARK_MAIN();
