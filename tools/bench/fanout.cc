// `hermod bench fanout`: a group of --members member queues, each drained
// by its own online consumer (one Client each, acking every delivery); one
// publisher publishes --count messages to the group with at most --inflight
// unconfirmed. Reports the publish (confirm) rate, deliveries+acks per
// second over all members, and end-to-end latency from send to delivery
// (the send time travels in the payload).
//
// Threads: the main thread publishes; confirms run on the publisher's client
// thread, deliveries on each consumer's, each recording into its own
// histogram; they meet only in atomics.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <semaphore>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint32_t members = 100;
  uint64_t count = 10000;
  uint32_t size = 256;
  uint32_t inflight = 1000;
  uint32_t credit = 1000;
};

constexpr auto kGrace = std::chrono::seconds(60);

struct Shared {
  explicit Shared(uint32_t inflight) : slots(inflight) {}
  std::counting_semaphore<> slots;
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<int64_t> last_confirm_ns{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> redelivered{0};
  std::atomic<int64_t> last_delivery_ns{0};
};

struct Member {
  std::unique_ptr<Client> client;
  SubscriptionId subscription = 0;
  Histogram end_to_end;  // this member's client thread only
};

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.members == 0 || o.inflight == 0 || o.credit == 0) {
    return cli::Fail("--members, --inflight and --credit must be at least 1");
  }
  if (o.size < kStampBytes) return cli::Fail("--size must be at least 8 (the send time)");
  std::unique_ptr<Client> publisher = Connect(global, "hermod bench fanout");
  if (!publisher) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*publisher);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());

  // Names new for every run, so that a second run on the same broker starts
  // from empty member queues.
  const std::string group = o.common.prefix + ".fanout." + std::to_string(getpid());
  std::vector<std::string> names;
  for (uint32_t m = 0; m < o.members; ++m) names.push_back(group + "." + std::to_string(m));
  if (Status created = publisher->CreateGroup(group); !created.ok()) {
    return cli::Fail("create group " + group + ": " + created.ToString());
  }
  if (Result<uint64_t> added = publisher->AddMembers(group, names); !added.ok()) {
    return cli::Fail("add members to " + group + ": " + added.status().ToString());
  }

  Shared shared(o.inflight);
  Shared* s = &shared;
  std::vector<std::unique_ptr<Member>> members;
  SubscribeOptions sub;
  sub.credit = o.credit;
  for (uint32_t m = 0; m < o.members; ++m) {
    auto member = std::make_unique<Member>();
    member->client = Connect(global, "hermod bench fanout");
    if (!member->client) return cli::kExitError;
    Member* me = member.get();
    Result<SubscriptionId> id = me->client->Subscribe(names[m], sub, [me, s](const Delivery& d) {
      const int64_t now = NowNanos();
      me->end_to_end.Record(std::chrono::nanoseconds(now - ReadStamp(d.payload)));
      (void)me->client->Ack(d.subscription, d.seq);
      if (d.delivery_count > 1) s->redelivered.fetch_add(1);
      s->last_delivery_ns.store(now);
      s->delivered.fetch_add(1);
    });
    if (!id.ok()) return cli::Fail("subscribe " + names[m] + ": " + id.status().ToString());
    member->subscription = *id;
    members.push_back(std::move(member));
  }

  std::string payload = MakePayload(o.size);
  const PublishOptions options;
  const Clock::time_point start = Clock::now();
  const int64_t start_ns = NowNanos();
  const Clock::time_point deadline = start + cli::DurationValue(o.common.duration);
  uint64_t sent = 0;
  bool confirmed_all = true;
  bool delivered_all = false;
  {
    Progress progress("fanout deliveries", o.count * o.members, &shared.delivered, deadline);
    for (; sent < o.count; ++sent) {
      shared.slots.acquire();
      if (Clock::now() >= deadline || shared.refused.load() > 0) {
        shared.slots.release();
        break;
      }
      StampNanos(&payload, NowNanos());
      publisher->PublishToGroupAsync(group, payload, options, [s](const PublishResult& r) {
        if (r.status.ok()) {
          s->confirmed.fetch_add(1);
          s->last_confirm_ns.store(NowNanos());
        } else {
          s->refused.fetch_add(1);
        }
        s->slots.release();
      });
    }
    const Clock::time_point grace = Clock::now() + kGrace;
    for (uint32_t i = 0; i < o.inflight && confirmed_all; ++i) {
      confirmed_all = shared.slots.try_acquire_until(grace);
    }
    delivered_all = WaitFor(shared.delivered, shared.confirmed.load() * o.members, grace);
  }
  for (auto& m : members) (void)m->client->Unsubscribe(m->subscription);
  Histogram end_to_end;
  for (auto& m : members) {
    m->client->Close();
    end_to_end.Merge(m->end_to_end);
  }
  Result<BrokerStats> after = FetchStats(*publisher);
  if (!after.ok()) return cli::Fail("stats: " + after.status().ToString());
  if (shared.refused.load() > 0) return cli::Fail("the broker refused a group publish");
  if (!confirmed_all) return cli::Fail("group publishes still unconfirmed 60 s after the last");

  const uint64_t confirmed = shared.confirmed.load();
  const uint64_t delivered = shared.delivered.load();
  const double publish_seconds = (shared.last_confirm_ns.load() - start_ns) / 1e9;
  const double deliver_seconds = (shared.last_delivery_ns.load() - start_ns) / 1e9;
  const double publish_rate = publish_seconds > 0 ? confirmed / publish_seconds : 0;
  const double deliver_rate = deliver_seconds > 0 ? delivered / deliver_seconds : 0;
  const double store_growth = after->value("store_used_bytes") - before->value("store_used_bytes");

  JsonObject params;
  params.Add("server", global.server)
      .Add("members", o.members)
      .Add("count", o.count)
      .Add("size", o.size)
      .Add("inflight", o.inflight)
      .Add("credit", o.credit)
      .Add("duration", o.common.duration)
      .Add("group", group)
      .Add("dedup_resends", ClientOptions{}.dedup_resends);
  JsonObject results;
  results.Add("published", confirmed)
      .Add("publish_seconds", publish_seconds)
      .Add("publishes_per_s", std::round(publish_rate))
      .Add("expected_deliveries", confirmed * o.members)
      .Add("delivered", delivered)
      .Add("redelivered", shared.redelivered.load())
      .Add("complete", delivered_all)
      .Add("deliver_seconds", deliver_seconds)
      .Add("deliveries_per_s", std::round(deliver_rate))
      .Add("end_to_end", LatencyJson(end_to_end))
      .Add("store_used_growth_bytes", store_growth);
  char line[1024];
  std::snprintf(line, sizeof(line),
                "  %s messages of %u bytes to a group of %u online members, %u in flight\n"
                "  published      %s in %.2f s: %s group publishes/s\n"
                "  delivered      %s of %s in %.2f s: %s deliveries+acks/s%s\n"
                "  store growth   %s\n",
                Thousands(static_cast<double>(sent)).c_str(), o.size, o.members, o.inflight,
                Thousands(static_cast<double>(confirmed)).c_str(), publish_seconds,
                Thousands(publish_rate).c_str(), Thousands(static_cast<double>(delivered)).c_str(),
                Thousands(static_cast<double>(confirmed * o.members)).c_str(), deliver_seconds,
                Thousands(deliver_rate).c_str(),
                delivered_all ? "" : " (the rest did not arrive within 60 s)",
                Bytes(store_growth).c_str());
  std::string text = line;
  text += "  end to end     " + LatencyText(end_to_end) + "\n";
  const int rc = PrintReport(o.common, "fanout", *after, params, results, text);
  return delivered_all ? rc : cli::kExitError;
}

}  // namespace

void AddFanoutBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c =
      bench.add_subcommand("fanout", "Group publishes to online members: deliveries+acks/s");
  c->add_option("--members", o->members, "Members of the group, each with its own consumer")
      ->capture_default_str();
  c->add_option("--count", o->count, "Group publishes")->capture_default_str();
  c->add_option("--size", o->size, "Payload bytes (at least 8)")->capture_default_str();
  c->add_option("--inflight", o->inflight, "Unconfirmed group publishes at most")
      ->capture_default_str();
  c->add_option("--credit", o->credit, "Each member consumer's credit")->capture_default_str();
  AddCommonOptions(c, &o->common, "5m");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
