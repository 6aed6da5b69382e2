// Micro-benchmarks of the one frame codec (schemas/frame_codec.h): encoding
// and decoding (verifier included) of each frame type on the hot paths,
// with 256-byte payloads where a frame carries one. Reports frames/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "frame_codec.h"

namespace hermod::proto {
namespace {

const std::vector<uint8_t>& Payload() {
  static const std::vector<uint8_t> payload(256, 'x');
  return payload;
}

// Builders, one per frame type: each starts the encoder and finishes a frame.
std::span<const uint8_t> Publish(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(wire::CreatePublishDirect(fbb, i, "user:42", &Payload(), nullptr, 0,
                                            "~0123456789abcdef-12345"));
}
std::span<const uint8_t> PublishOk(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(wire::CreatePublishOk(fbb, i, i + 1000, i, false));
}
std::span<const uint8_t> Deliver(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(
      wire::CreateDeliverDirect(fbb, 1, i, i + 1000, 1, 1700000000000, nullptr, &Payload()));
}
std::span<const uint8_t> Ack(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(wire::CreateAck(fbb, 1, i, i));
}
std::span<const uint8_t> Subscribe(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(wire::CreateSubscribeDirect(fbb, i, 1, "user:42", 1000, 0));
}
std::span<const uint8_t> Credit(FrameEncoder& e, uint64_t i) {
  auto& fbb = e.Start();
  return e.Finish(wire::CreateCredit(fbb, 1, static_cast<uint32_t>(i)));
}

using Builder = std::span<const uint8_t> (*)(FrameEncoder&, uint64_t);

void BM_Encode(benchmark::State& state, Builder build) {
  FrameEncoder encoder;
  uint64_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    std::span<const uint8_t> frame = build(encoder, ++i);
    benchmark::DoNotOptimize(frame.data());
    bytes += frame.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// Decodes a stream of 1,000 frames per iteration, as one read would carry
// them, from 8-byte aligned memory (as a connection's read buffer is).
void BM_Decode(benchmark::State& state, Builder build) {
  constexpr int kFrames = 1000;
  FrameEncoder encoder;
  std::string stream;
  for (int i = 0; i < kFrames; ++i) {
    std::span<const uint8_t> frame = build(encoder, i);
    stream.append(reinterpret_cast<const char*>(frame.data()), frame.size());
  }
  std::vector<uint64_t> aligned((stream.size() + 7) / 8);
  std::memcpy(aligned.data(), stream.data(), stream.size());
  const uint8_t* data = reinterpret_cast<const uint8_t*>(aligned.data());
  for (auto _ : state) {
    FrameDecoder decoder(kDefaultMaxFrameBytes);
    int seen = 0;
    Status s = decoder.Feed(data, stream.size(), [&](const wire::Frame& f) {
      benchmark::DoNotOptimize(f.body_type());
      ++seen;
      return true;
    });
    if (!s.ok() || seen != kFrames) state.SkipWithError("decode failed");
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}

BENCHMARK_CAPTURE(BM_Encode, Publish, &Publish);
BENCHMARK_CAPTURE(BM_Encode, PublishOk, &PublishOk);
BENCHMARK_CAPTURE(BM_Encode, Deliver, &Deliver);
BENCHMARK_CAPTURE(BM_Encode, Ack, &Ack);
BENCHMARK_CAPTURE(BM_Encode, Subscribe, &Subscribe);
BENCHMARK_CAPTURE(BM_Encode, Credit, &Credit);
BENCHMARK_CAPTURE(BM_Decode, Publish, &Publish);
BENCHMARK_CAPTURE(BM_Decode, PublishOk, &PublishOk);
BENCHMARK_CAPTURE(BM_Decode, Deliver, &Deliver);
BENCHMARK_CAPTURE(BM_Decode, Ack, &Ack);
BENCHMARK_CAPTURE(BM_Decode, Subscribe, &Subscribe);
BENCHMARK_CAPTURE(BM_Decode, Credit, &Credit);

}  // namespace
}  // namespace hermod::proto

BENCHMARK_MAIN();
