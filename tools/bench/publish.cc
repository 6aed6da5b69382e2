// `hermod bench publish`: P publishers (one Client and one sending thread
// each) publish --count messages round robin over --queues queues, each
// publisher keeping at most --inflight unconfirmed. Reports confirmed
// messages/s, MB/s and the confirm latency (publish call to confirm).
//
// Threads: one sender thread per publisher; each publisher's confirms run on
// its client's thread and touch only that publisher's histogram and the
// shared atomics.
#include <atomic>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint32_t queues = 1000;
  uint64_t count = 100000;
  uint32_t size = 256;
  uint32_t publishers = 1;
  uint32_t inflight = 1000;
  std::string receipt_to;  // every message asks for receipts to this queue
};

// How long the last confirms may take once sending stopped.
constexpr auto kConfirmGrace = std::chrono::seconds(60);

struct Shared {
  std::atomic<uint64_t> confirmed{0};
  std::atomic<int64_t> last_confirm_ns{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;  // guarded by mu
};

struct Publisher {
  Publisher(uint32_t inflight, Shared* s) : slots(inflight), shared(s) {}
  std::unique_ptr<Client> client;
  std::counting_semaphore<> slots;  // one per publish allowed in flight
  Shared* shared;
  Histogram confirm_latency;  // client thread only
  uint64_t sent = 0;          // sender thread only
};

void OnConfirm(Publisher* pub, int64_t sent_ns, const PublishResult& result) {
  const int64_t now = NowNanos();
  Shared* s = pub->shared;
  if (result.status.ok()) {
    pub->confirm_latency.Record(std::chrono::nanoseconds(now - sent_ns));
    s->confirmed.fetch_add(1);
    s->last_confirm_ns.store(now);
  } else if (!s->failed.exchange(true)) {
    std::lock_guard<std::mutex> lock(s->mu);
    s->first_error = result.status;
  }
  pub->slots.release();
}

// Publishes messages p, p + P, p + 2P, ... until --count, --duration or a
// refused publish stops it.
void Send(const Options& o, Publisher* pub, uint32_t p, const std::string& payload,
          Clock::time_point deadline) {
  PublishOptions options;
  options.receipt_to = o.receipt_to;
  std::string queue = o.common.prefix + ".";
  const size_t prefix = queue.size();
  for (uint64_t i = p; i < o.count; i += o.publishers) {
    pub->slots.acquire();
    if (pub->shared->failed.load() || Clock::now() >= deadline) {
      pub->slots.release();
      return;
    }
    queue.resize(prefix);
    queue += std::to_string(i % o.queues);
    const int64_t sent_ns = NowNanos();
    // Two words of capture: std::function keeps them inline, no allocation.
    pub->client->PublishAsync(queue, payload, options, [pub, sent_ns](const PublishResult& r) {
      OnConfirm(pub, sent_ns, r);
    });
    ++pub->sent;
  }
}

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.queues == 0 || o.publishers == 0 || o.inflight == 0) {
    return cli::Fail("--queues, --publishers and --inflight must be at least 1");
  }
  std::unique_ptr<Client> admin = Connect(global, "hermod bench publish");
  if (!admin) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*admin);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());

  Shared shared;
  std::vector<std::unique_ptr<Publisher>> publishers;
  for (uint32_t p = 0; p < o.publishers; ++p) {
    auto publisher = std::make_unique<Publisher>(o.inflight, &shared);
    publisher->client = Connect(global, "hermod bench publish");
    if (!publisher->client) return cli::kExitError;
    publishers.push_back(std::move(publisher));
  }

  const std::string payload = MakePayload(o.size);
  const Clock::time_point start = Clock::now();
  const int64_t start_ns = NowNanos();
  const Clock::time_point deadline = start + cli::DurationValue(o.common.duration);
  uint64_t sent = 0;
  bool all_confirmed = true;
  {
    Progress progress("publish", o.count, &shared.confirmed, deadline);
    std::vector<std::thread> senders;
    for (uint32_t p = 0; p < o.publishers; ++p) {
      senders.emplace_back([&, p] { Send(o, publishers[p].get(), p, payload, deadline); });
    }
    for (std::thread& t : senders) t.join();
    // Every publish completes (confirmed, refused, or failed with the
    // connection): taking back every slot waits for the last one.
    const Clock::time_point grace = Clock::now() + kConfirmGrace;
    for (auto& pub : publishers) {
      sent += pub->sent;
      for (uint32_t i = 0; i < o.inflight; ++i) {
        if (!pub->slots.try_acquire_until(grace)) {
          all_confirmed = false;
          break;
        }
      }
    }
  }
  if (shared.failed.load()) {
    std::lock_guard<std::mutex> lock(shared.mu);
    return cli::Fail("publish failed: " + shared.first_error.ToString());
  }
  if (!all_confirmed) {
    return cli::Fail("publishes still unconfirmed 60 s after the last was sent");
  }
  const uint64_t confirmed = shared.confirmed.load();
  const double seconds =
      confirmed == 0 ? SecondsSince(start) : (shared.last_confirm_ns.load() - start_ns) / 1e9;
  Histogram latency;
  for (auto& pub : publishers) {
    pub->client->Close();  // no confirm callback runs after this
    latency.Merge(pub->confirm_latency);
  }
  Result<BrokerStats> after = FetchStats(*admin);
  if (!after.ok()) return cli::Fail("stats: " + after.status().ToString());

  const double rate = seconds > 0 ? static_cast<double>(confirmed) / seconds : 0;
  const double mb_per_s = rate * o.size / 1e6;
  JsonObject params;
  params.Add("server", global.server)
      .Add("queues", o.queues)
      .Add("count", o.count)
      .Add("size", o.size)
      .Add("publishers", o.publishers)
      .Add("inflight", o.inflight)
      .Add("receipt_to", o.receipt_to)
      .Add("duration", o.common.duration)
      .Add("prefix", o.common.prefix)
      .Add("dedup_resends", ClientOptions{}.dedup_resends);
  JsonObject broker_after;
  broker_after.Add("batches", after->value("batches_total") - before->value("batches_total"))
      .Add("batch_messages_avg", after->value("batch_messages_avg"))
      .Add("commit_latency_p50_ms", after->value("commit_latency_p50_ms"))
      .Add("commit_latency_p99_ms", after->value("commit_latency_p99_ms"))
      .Add("rss_bytes", after->value("rss_bytes"));
  JsonObject results;
  results.Add("sent", sent)
      .Add("confirmed", confirmed)
      .Add("seconds", seconds)
      .Add("msgs_per_s", std::round(rate))
      .Add("mb_per_s", std::round(mb_per_s * 100) / 100)
      .Add("confirm_latency", LatencyJson(latency))
      .Add("broker_after", broker_after);
  char line[1024];
  std::snprintf(line, sizeof(line),
                "  %s messages of %u bytes to %u queues, %u publisher(s), %u in flight each\n"
                "  confirmed        %s in %.2f s: %s msg/s, %.1f MB/s\n",
                Thousands(static_cast<double>(confirmed)).c_str(), o.size, o.queues, o.publishers,
                o.inflight, Thousands(static_cast<double>(confirmed)).c_str(), seconds,
                Thousands(rate).c_str(), mb_per_s);
  std::string text = line;
  text += "  confirm latency  " + LatencyText(latency) + "\n";
  std::snprintf(line, sizeof(line),
                "  broker           %.0f batches, %.0f messages per batch on average, commit p50 "
                "%.2f ms p99 %.2f ms\n",
                after->value("batches_total") - before->value("batches_total"),
                after->value("batch_messages_avg"), after->value("commit_latency_p50_ms"),
                after->value("commit_latency_p99_ms"));
  text += line;
  return PrintReport(o.common, "publish", *after, params, results, text);
}

}  // namespace

void AddPublishBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c = bench.add_subcommand("publish", "Confirmed publish throughput and latency");
  c->add_option("--queues", o->queues, "Spread messages round robin over Q queues")
      ->capture_default_str();
  c->add_option("--count", o->count, "Messages in all")->capture_default_str();
  c->add_option("--size", o->size, "Payload bytes")->capture_default_str();
  c->add_option("--publishers", o->publishers, "Publishing connections")->capture_default_str();
  c->add_option("--receipt-to", o->receipt_to,
                "Every message asks for delivery receipts to this queue (the cost of receipts, "
                "with a consume run after it)");
  c->add_option("--inflight", o->inflight, "Unconfirmed publishes per publisher at most")
      ->capture_default_str();
  AddCommonOptions(c, &o->common, "5m");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
