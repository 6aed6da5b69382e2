// `hermod bench latency`: one publisher sends at a fixed --rate to one queue
// that a live consumer drains with acks; reports end-to-end latency
// percentiles measured from each message's *intended* send time (start +
// i / rate), which travels in the payload. A sender held up by a stalled
// broker (or by anything else) therefore cannot hide the stall: the
// messages it sends late carry the time they should have left at
// (coordinated omission, as in HdrHistogram's and wrk2's load generators).
//
// Threads: the main thread sends; confirms and deliveries run on the two
// clients' threads, each recording into its own histogram.
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "bench/bench_common.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint32_t rate = 5000;  // messages per second
  uint32_t size = 256;
  uint64_t count = 0;  // 0: rate x duration
  uint32_t credit = 1000;
  std::string queue;  // empty: PREFIX.latency.<pid>, fresh for every run
};

// How long the last deliveries may take once sending stopped.
constexpr auto kDeliveryGrace = std::chrono::seconds(30);
// A send this far behind its intended time counts as late.
constexpr int64_t kLateNanos = 1000 * 1000;

struct Shared {
  Histogram end_to_end;  // consumer's client thread only
  Histogram confirm;     // publisher's client thread only
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> answered{0};  // confirmed + failed
};

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.rate == 0) return cli::Fail("--rate must be at least 1");
  if (o.size < kStampBytes) return cli::Fail("--size must be at least 8 (the send time)");
  const auto duration = cli::DurationValue(o.common.duration);
  const uint64_t count =
      o.count != 0 ? o.count
                   : static_cast<uint64_t>(std::ceil(o.rate * (duration.count() / 1000.0)));
  if (count == 0) return cli::Fail("nothing to send: give --duration or --count");
  const std::string queue =
      o.queue.empty() ? o.common.prefix + ".latency." + std::to_string(getpid()) : o.queue;

  std::unique_ptr<Client> publisher = Connect(global, "hermod bench latency");
  if (!publisher) return cli::kExitError;
  std::unique_ptr<Client> consumer = Connect(global, "hermod bench latency");
  if (!consumer) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*publisher);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());

  Shared shared;
  Shared* s = &shared;
  Client* c = consumer.get();
  SubscribeOptions sub;
  sub.credit = o.credit;
  Result<SubscriptionId> subscription = consumer->Subscribe(queue, sub, [s, c](const Delivery& d) {
    s->end_to_end.Record(std::chrono::nanoseconds(NowNanos() - ReadStamp(d.payload)));
    (void)c->Ack(d.subscription, d.seq);
    s->received.fetch_add(1);
  });
  if (!subscription.ok()) return cli::Fail("subscribe: " + subscription.status().ToString());

  // The default timer slack (50 µs) would make every send late by that much.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::string payload = MakePayload(o.size);
  const PublishOptions options;
  const int64_t interval_ns = static_cast<int64_t>(1e9 / o.rate);
  const Clock::time_point start = Clock::now();
  const int64_t start_ns = NowNanos();
  const Clock::time_point deadline = start + duration + std::chrono::seconds(1);
  uint64_t sent = 0;
  uint64_t late = 0;
  int64_t worst_lag_ns = 0;
  bool all_received = false;
  {
    Progress progress("latency", count, &shared.received, start + duration);
    for (; sent < count; ++sent) {
      const int64_t intended = start_ns + static_cast<int64_t>(sent) * interval_ns;
      std::this_thread::sleep_until(start + std::chrono::nanoseconds(intended - start_ns));
      const int64_t now = NowNanos();
      if (now - intended > kLateNanos) ++late;
      worst_lag_ns = std::max(worst_lag_ns, now - intended);
      // --duration bounds the run even if sending fell behind schedule.
      if (Clock::now() >= deadline) break;
      StampNanos(&payload, intended);
      publisher->PublishAsync(queue, payload, options, [s, intended](const PublishResult& r) {
        if (r.status.ok()) {
          s->confirm.Record(std::chrono::nanoseconds(NowNanos() - intended));
          s->confirmed.fetch_add(1);
        } else {
          s->failed.fetch_add(1);
        }
        s->answered.fetch_add(1);
      });
    }
    all_received = WaitFor(shared.received, sent, Clock::now() + kDeliveryGrace);
    // A delivery can arrive before its confirm (the broker delivers before
    // the commit): closing the publisher now would fail the confirms still
    // on their way.
    (void)WaitFor(shared.answered, sent, Clock::now() + kDeliveryGrace);
  }
  const double seconds = SecondsSince(start);
  (void)consumer->Unsubscribe(*subscription);
  consumer->Close();
  publisher->Close();
  std::unique_ptr<Client> admin = Connect(global, "hermod bench latency");
  if (!admin) return cli::kExitError;
  Result<BrokerStats> after = FetchStats(*admin);
  if (!after.ok()) return cli::Fail("stats: " + after.status().ToString());
  if (shared.failed.load() > 0) {
    return cli::Fail(std::to_string(shared.failed.load()) + " publishes failed");
  }

  JsonObject params;
  params.Add("server", global.server)
      .Add("rate", o.rate)
      .Add("duration", o.common.duration)
      .Add("count", count)
      .Add("size", o.size)
      .Add("credit", o.credit)
      .Add("queue", queue)
      .Add("dedup_resends", ClientOptions{}.dedup_resends);
  JsonObject results;
  results.Add("sent", sent)
      .Add("received", shared.received.load())
      .Add("complete", all_received)
      .Add("seconds", seconds)
      .Add("achieved_rate", std::round(sent / std::max(1e-9, seconds)))
      .Add("late_sends", late)
      .Add("worst_send_lag_us", std::round(worst_lag_ns / 1e3))
      .Add("end_to_end", LatencyJson(shared.end_to_end))
      .Add("confirm", LatencyJson(shared.confirm))
      .Add("broker_commit_latency_p50_ms", after->value("commit_latency_p50_ms"))
      .Add("broker_commit_latency_p99_ms", after->value("commit_latency_p99_ms"));
  char line[1024];
  std::snprintf(line, sizeof(line),
                "  %s messages of %u bytes at %u/s to %s, one consumer (credit %u)\n"
                "  received      %s of %s%s; %s sends more than 1 ms late\n",
                Thousands(static_cast<double>(sent)).c_str(), o.size, o.rate, queue.c_str(),
                o.credit, Thousands(static_cast<double>(shared.received.load())).c_str(),
                Thousands(static_cast<double>(sent)).c_str(),
                all_received ? "" : " (the rest did not arrive within 30 s)",
                Thousands(static_cast<double>(late)).c_str());
  std::string text = line;
  text +=
      "  end to end    " + LatencyText(shared.end_to_end) + "   (from the intended send time)\n";
  text += "  confirm       " + LatencyText(shared.confirm) + "\n";
  const int rc = PrintReport(o.common, "latency", *after, params, results, text);
  return all_received ? rc : cli::kExitError;
}

}  // namespace

void AddLatencyBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c = bench.add_subcommand(
      "latency", "End-to-end latency at a fixed publish rate (from intended send times)");
  c->add_option("--rate", o->rate, "Messages per second")->capture_default_str();
  c->add_option("--size", o->size, "Payload bytes (at least 8)")->capture_default_str();
  c->add_option("--count", o->count, "Messages in all (default: rate x duration)");
  c->add_option("--credit", o->credit, "The consumer's credit")->capture_default_str();
  c->add_option("--queue", o->queue, "Queue (default: PREFIX.latency.<pid>, new every run)");
  AddCommonOptions(c, &o->common, "10s");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
