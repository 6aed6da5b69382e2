// hermod_peer_bench: the throughput of one peer link. Two PeerLinks, each
// on its own loop thread, over 127.0.0.1: node-a sends --bytes of Replicate
// frames of --frame-bytes each (checksummed as a leader would), honouring
// Send()'s bound and on_writable; node-b decodes and verifies every frame.
// Prints one JSON object: MB/s and frames/s, measured at the receiver from
// the first frame to the last.
//
//   hermod_peer_bench --bytes 1073741824 --frame-bytes 65536
//
// Bounded: gives up (exit 1) after --timeout-s.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "net/loop.h"
#include "peer_links.h"

namespace {

using hermod::Status;
using hermod::net::Loop;
using hermod::peer::PeerLinks;
using Clock = std::chrono::steady_clock;

// Runs `loop` until stop is set, then closes `links` and the loop. `tick`
// runs every 10 ms on the loop thread.
void RunLoop(Loop& loop, PeerLinks& links, std::atomic<bool>& stop,
             const std::function<void()>& tick) {
  uv_timer_t timer;
  uv_timer_init(loop.uv(), &timer);
  struct Ctx {
    const std::function<void()>* tick;
  } ctx{&tick};
  timer.data = &ctx;
  uv_timer_start(
      &timer, [](uv_timer_t* t) noexcept { (*static_cast<Ctx*>(t->data)->tick)(); }, 10, 10);
  while (!stop.load()) uv_run(loop.uv(), UV_RUN_ONCE);
  links.Close();
  while (!links.closed()) uv_run(loop.uv(), UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  loop.Close();
}

PeerLinks::Options NodeOptions(const std::string& node_id) {
  PeerLinks::Options options;
  options.cluster = "bench";
  options.node_id = node_id;
  options.incarnation = 1;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hermod_peer_bench: Replicate frames over one peer link"};
  uint64_t total_bytes = 1ull << 30;
  uint32_t frame_bytes = 64u << 10;
  double timeout_s = 120;
  app.add_option("--bytes", total_bytes, "Record bytes to send")->capture_default_str();
  app.add_option("--frame-bytes", frame_bytes, "Record bytes per Replicate frame")
      ->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "Give up after this many seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  const uint64_t frames = (total_bytes + frame_bytes - 1) / frame_bytes;
  const std::string record(frame_bytes, 'r');
  std::atomic<bool> stop{false};
  std::atomic<bool> timed_out{false};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> bad{0};
  Clock::time_point first{}, last{};
  std::promise<std::string> b_address;
  const auto started = Clock::now();

  // The receiver: node-b accepts (the larger id).
  std::thread receiver([&] {
    Loop loop;
    if (!loop.Init().ok()) std::abort();
    PeerLinks::Callbacks cb;
    uint64_t expected_offset = 1;
    cb.on_replicate = [&](const std::string&, const hermod::proto::ReplicateFrame& part) {
      if (received.load() == 0) first = Clock::now();
      if (part.offset != expected_offset++ || part.record.size() != frame_bytes) ++bad;
      if (received.fetch_add(1) + 1 == frames) {
        last = Clock::now();
        stop = true;
      }
    };
    cb.on_corrupt_replicate = [&](const std::string&, uint32_t, uint64_t, const Status&) { ++bad; };
    PeerLinks links(loop, NodeOptions("node-b"), cb);
    if (!links.Start().ok()) std::abort();
    b_address.set_value(links.address());
    links.SetPeers({{"node-a", "127.0.0.1:1"}});  // never dialed: node-a dials
    RunLoop(loop, links, stop, [] {});
  });

  std::string address = b_address.get_future().get();
  std::thread sender([&] {
    Loop loop;
    if (!loop.Init().ok()) std::abort();
    hermod::proto::FrameEncoder encoder;
    uint64_t sent = 0;
    PeerLinks* self = nullptr;
    // Sends until the link refuses (its bound) or everything is sent.
    auto pump = [&] {
      while (sent < frames) {
        hermod::proto::ReplicateFrame part{0, 1, sent, sent + 1, sent, record, ""};
        if (!self->Send("node-b", hermod::proto::EncodeReplicate(encoder, part))) return;
        ++sent;
      }
    };
    PeerLinks::Callbacks cb;
    cb.on_up = [&](const std::string&, const hermod::proto::PeerIdentity&) { pump(); };
    cb.on_writable = [&](const std::string&) { pump(); };
    PeerLinks links(loop, NodeOptions("node-a"), cb);
    self = &links;
    if (!links.Start().ok()) std::abort();
    links.SetPeers({{"node-b", address}});
    RunLoop(loop, links, stop, [&] {
      if (Clock::now() - started > std::chrono::duration<double>(timeout_s)) {
        timed_out = true;
        stop = true;
      }
    });
  });
  sender.join();
  receiver.join();

  if (timed_out.load()) {
    std::fprintf(stderr, "timed out after %.0f s: %llu of %llu frames received\n", timeout_s,
                 static_cast<unsigned long long>(received.load()),
                 static_cast<unsigned long long>(frames));
    return 1;
  }
  double seconds = std::chrono::duration<double>(last - first).count();
  double mb = static_cast<double>(frames) * frame_bytes / 1e6;
  std::printf(
      "{\"frames\": %llu, \"frame_bytes\": %u, \"seconds\": %.3f, \"mb_per_s\": %.1f, "
      "\"frames_per_s\": %.0f, \"bad\": %llu}\n",
      static_cast<unsigned long long>(frames), frame_bytes, seconds, mb / seconds,
      static_cast<double>(frames) / seconds, static_cast<unsigned long long>(bad.load()));
  return bad.load() == 0 ? 0 : 1;
}
