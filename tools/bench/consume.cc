// `hermod bench consume`: C consumers (one Client each) subscribe to the
// queues PREFIX.0 ... PREFIX.<Q-1> (consumer c takes queues c, c + C, ...)
// with --credit each, ack every delivery, and stop once they have drained
// what the queues held when the run began (their depth, from ListQueues, or
// --count when given). Reports deliveries/s.
//
// Threads: deliveries run on each consumer's client thread, which acks and
// counts into the shared atomics; the main thread waits for the total.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint32_t queues = 1000;
  uint32_t consumers = 1;
  uint32_t credit = 1000;
  uint64_t count = 0;  // 0: the queues' depth when the run starts
};

struct Shared {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> redelivered{0};  // delivery_count > 1
  std::atomic<int64_t> last_delivery_ns{0};
};

// The total depth of the queues PREFIX.0 ... PREFIX.<Q-1>, paging through
// ListQueues by name.
Result<uint64_t> TotalDepth(Client& client, const std::string& prefix, uint32_t queues) {
  QueueListOptions list;
  list.prefix = prefix + ".";
  list.limit = 1000;
  uint64_t depth = 0;
  for (;;) {
    Result<QueuePage> page = client.ListQueues(list);
    if (!page.ok()) return page.status();
    for (const QueueInfo& q : page->queues) {
      const std::string index = q.name.substr(list.prefix.size());
      if (index.empty() || !std::all_of(index.begin(), index.end(), ::isdigit)) continue;
      if (std::stoull(index) < queues) depth += q.depth;
    }
    if (page->next.empty()) return depth;
    list.after = page->next;
  }
}

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.queues == 0 || o.consumers == 0 || o.credit == 0) {
    return cli::Fail("--queues, --consumers and --credit must be at least 1");
  }
  std::unique_ptr<Client> admin = Connect(global, "hermod bench consume");
  if (!admin) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*admin);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());
  uint64_t expected = o.count;
  if (expected == 0) {
    Result<uint64_t> depth = TotalDepth(*admin, o.common.prefix, o.queues);
    if (!depth.ok()) return cli::Fail("queue list: " + depth.status().ToString());
    expected = *depth;
  }
  if (expected == 0) return cli::Fail("the queues " + o.common.prefix + ".* hold nothing");

  std::vector<std::unique_ptr<Client>> consumers;
  for (uint32_t c = 0; c < o.consumers; ++c) {
    consumers.push_back(Connect(global, "hermod bench consume"));
    if (!consumers.back()) return cli::kExitError;
  }
  Shared shared;
  Shared* s = &shared;
  const Clock::time_point start = Clock::now();
  const int64_t start_ns = NowNanos();
  const Clock::time_point deadline = start + cli::DurationValue(o.common.duration);
  std::vector<std::vector<SubscriptionId>> subscriptions(o.consumers);
  bool complete = false;
  {
    Progress progress("consume", expected, &shared.delivered, deadline);
    SubscribeOptions sub;
    sub.credit = o.credit;
    for (uint32_t q = 0; q < o.queues; ++q) {
      Client* client = consumers[q % o.consumers].get();
      Result<SubscriptionId> id = client->Subscribe(o.common.prefix + "." + std::to_string(q), sub,
                                                    [client, s](const Delivery& d) {
                                                      // Ack first: the broker refills credit as
                                                      // soon as it sees it.
                                                      (void)client->Ack(d.subscription, d.seq);
                                                      if (d.delivery_count > 1)
                                                        s->redelivered.fetch_add(1);
                                                      s->last_delivery_ns.store(NowNanos());
                                                      s->delivered.fetch_add(1);
                                                    });
      if (!id.ok()) return cli::Fail("subscribe: " + id.status().ToString());
      subscriptions[q % o.consumers].push_back(*id);
    }
    complete = WaitFor(shared.delivered, expected, deadline);
  }
  const uint64_t delivered = shared.delivered.load();
  const double seconds = (shared.last_delivery_ns.load() - start_ns) / 1e9;
  // Unsubscribing returns once the broker handled every ack sent before.
  const Clock::time_point drain = Clock::now();
  for (uint32_t c = 0; c < o.consumers; ++c) {
    for (SubscriptionId id : subscriptions[c]) (void)consumers[c]->Unsubscribe(id);
  }
  const double unsubscribe_seconds = SecondsSince(drain);
  for (auto& c : consumers) c->Close();
  Result<BrokerStats> after = FetchStats(*admin);
  if (!after.ok()) return cli::Fail("stats: " + after.status().ToString());

  const double rate = seconds > 0 ? static_cast<double>(delivered) / seconds : 0;
  JsonObject params;
  params.Add("server", global.server)
      .Add("queues", o.queues)
      .Add("consumers", o.consumers)
      .Add("credit", o.credit)
      .Add("count", o.count)
      .Add("duration", o.common.duration)
      .Add("prefix", o.common.prefix)
      .Add("dedup_resends", ClientOptions{}.dedup_resends);
  JsonObject results;
  results.Add("expected", expected)
      .Add("delivered", delivered)
      .Add("redelivered", shared.redelivered.load())
      .Add("complete", complete)
      .Add("seconds", seconds)
      .Add("deliveries_per_s", std::round(rate))
      .Add("unsubscribe_seconds", unsubscribe_seconds)
      .Add("broker_acked", after->value("acked_total") - before->value("acked_total"));
  char text[1024];
  std::snprintf(text, sizeof(text),
                "  %u queues, %u consumer(s), credit %u per subscription\n"
                "  delivered and acked  %s of %s in %.2f s: %s deliveries/s%s\n"
                "  unsubscribed (broker handled every ack) %.3f s later\n",
                o.queues, o.consumers, o.credit, Thousands(static_cast<double>(delivered)).c_str(),
                Thousands(static_cast<double>(expected)).c_str(), seconds, Thousands(rate).c_str(),
                complete ? "" : " (stopped by --duration)", unsubscribe_seconds);
  const int rc = PrintReport(o.common, "consume", *after, params, results, text);
  return complete ? rc : cli::kExitError;
}

}  // namespace

void AddConsumeBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c = bench.add_subcommand("consume", "Drain queues with acks: deliveries/s");
  c->add_option("--queues", o->queues, "Consume PREFIX.0 ... PREFIX.<Q-1>")->capture_default_str();
  c->add_option("--consumers", o->consumers, "Consuming connections")->capture_default_str();
  c->add_option("--credit", o->credit, "Unacked deliveries per subscription")
      ->capture_default_str();
  c->add_option("--count", o->count, "Stop after N deliveries (default: what the queues hold)");
  AddCommonOptions(c, &o->common, "5m");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
