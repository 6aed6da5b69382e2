// `hermod bench queues`: creates --count queues holding one message each
// (one publisher, --inflight unconfirmed) and reports the time it took, the
// broker's RSS growth and store size (from Stats()), and the latency of the
// first `queue ls` page (ListQueues by name, --list-prefix). With --restart-cmd it then
// restarts the broker through that shell command and reports how long the broker took to accept
// connections again, its RSS afterwards, and `queue ls` once more.
//
// The restart command protocol: it runs with /bin/sh -c; it returns once the
// new broker was started. Lines it prints on stdout are read as they come:
// "stopped" marks when the old broker was gone (restart-to-accepting counts
// from there; without it, from the command's start), and "listening on
// HOST:PORT" gives the new broker's address when it changed.
// bench/restart-broker.sh is such a command. With --idle it waits instead
// until the broker holds none of the queues in memory and reports its RSS
// then, beside the RSS before the run (issue 11: idle memory given back
// without a restart).
//
// Threads: the main thread; confirms run on the client's thread and only
// release slots and count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <semaphore>
#include <string>
#include <thread>

#include "bench/bench_common.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint64_t count = 1000000;
  uint32_t size = 256;
  uint32_t inflight = 1000;
  uint32_t list_limit = 100;
  std::string list_prefix;  // "" lists every queue, as `hermod queue ls` does
  std::string restart_cmd;
  // --idle: after creating them, wait until the broker holds none of the
  // queues in memory (their log applied, nothing in flight) and report RSS
  // then, without a restart.
  bool idle = false;
};

// How long --idle waits for the queues to leave memory, and then for RSS
// to settle (the broker returns memory on its sweep timer).
constexpr auto kIdleWait = std::chrono::seconds(120);
constexpr auto kIdleSettle = std::chrono::seconds(5);

constexpr auto kAcceptTimeout = std::chrono::seconds(60);
// How long `queue ls` may take to list the new queues.
constexpr auto kListWait = std::chrono::seconds(30);

struct Listed {
  double seconds = 0;
  size_t rows = 0;
};

Result<Listed> TimeFirstPage(Client& client, const std::string& prefix, uint32_t limit) {
  QueueListOptions list;
  list.prefix = prefix;
  list.limit = limit;
  const Clock::time_point start = Clock::now();
  Result<QueuePage> page = client.ListQueues(list);
  if (!page.ok()) return page.status();
  return Listed{SecondsSince(start), page->queues.size()};
}

struct Restart {
  double command_seconds = 0;    // the command's whole run
  double accepting_seconds = 0;  // "stopped" (or the command's start) to a completed handshake
  bool saw_stopped = false;
  std::string server;
};

// Runs the restart command, then connects (with auth_token) until the
// broker accepts.
Result<Restart> RunRestart(const std::string& command, std::string server,
                           const std::string& auth_token, std::unique_ptr<Client>* client) {
  Restart r;
  const Clock::time_point start = Clock::now();
  Clock::time_point from = start;
  std::fflush(nullptr);
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return Status::IoError("cannot run --restart-cmd");
  char line[1024];
  while (std::fgets(line, sizeof(line), out) != nullptr) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text == "stopped") {
      from = Clock::now();
      r.saw_stopped = true;
    } else if (text.rfind("listening on ", 0) == 0) {
      server = text.substr(13);
    }
  }
  const int rc = pclose(out);
  r.command_seconds = SecondsSince(start);
  if (rc != 0) return Status::IoError("--restart-cmd exited with status " + std::to_string(rc));
  ClientOptions options = cli::CommandClientOptions("hermod bench queues");
  options.server = server;
  options.auth_token = auth_token;
  options.reconnect = false;
  options.connect_timeout = std::chrono::milliseconds(1000);
  const Clock::time_point give_up = Clock::now() + kAcceptTimeout;
  for (;;) {
    Result<std::unique_ptr<Client>> connected = Client::Connect(options);
    if (connected.ok()) {
      r.accepting_seconds = SecondsSince(from);
      *client = std::move(*connected);
      break;
    }
    if (Clock::now() >= give_up) {
      return Status::Timeout("the broker did not accept connections within 60 s: " +
                             connected.status().ToString());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.server = server;
  return r;
}

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.count == 0 || o.inflight == 0)
    return cli::Fail("--count and --inflight must be at least 1");
  std::unique_ptr<Client> client = Connect(global, "hermod bench queues");
  if (!client) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*client);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());

  struct Shared {
    explicit Shared(uint32_t inflight) : slots(inflight) {}
    std::counting_semaphore<> slots;
    std::atomic<uint64_t> confirmed{0};
    std::atomic<uint64_t> refused{0};
  } shared(o.inflight);
  Shared* s = &shared;
  const std::string payload = MakePayload(o.size);
  const PublishOptions options;
  std::string queue = o.common.prefix + ".q.";
  const size_t prefix = queue.size();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + cli::DurationValue(o.common.duration);
  uint64_t sent = 0;
  bool all_confirmed = true;
  {
    Progress progress("queues", o.count, &shared.confirmed, deadline);
    for (; sent < o.count; ++sent) {
      shared.slots.acquire();
      if (Clock::now() >= deadline || shared.refused.load() > 0) {
        shared.slots.release();
        break;
      }
      queue.resize(prefix);
      queue += std::to_string(sent);
      client->PublishAsync(queue, payload, options, [s](const PublishResult& r) {
        (r.status.ok() ? s->confirmed : s->refused).fetch_add(1);
        s->slots.release();
      });
    }
    const Clock::time_point grace = Clock::now() + std::chrono::seconds(60);
    for (uint32_t i = 0; i < o.inflight && all_confirmed; ++i) {
      all_confirmed = shared.slots.try_acquire_until(grace);
    }
  }
  const double seconds = SecondsSince(start);
  if (shared.refused.load() > 0 || !all_confirmed) {
    return cli::Fail("publishes refused or unconfirmed: " + std::to_string(shared.refused.load()) +
                     " refused");
  }
  const uint64_t confirmed = shared.confirmed.load();
  Result<BrokerStats> loaded = FetchStats(*client);
  if (!loaded.ok()) return cli::Fail("stats: " + loaded.status().ToString());
  // New queues reach the name index that `queue ls` pages through only
  // when their log record is applied (after the broker's apply lag), so
  // the page is timed once it is full: the first call, and again until the
  // rows are there.
  const size_t want_rows = static_cast<size_t>(std::min<uint64_t>(o.list_limit, confirmed));
  const Clock::time_point list_start = Clock::now();
  Result<Listed> listed = TimeFirstPage(*client, o.list_prefix, o.list_limit);
  if (!listed.ok()) return cli::Fail("queue list: " + listed.status().ToString());
  const Listed first_call = *listed;
  while (listed.ok() && listed->rows < want_rows && Clock::now() < list_start + kListWait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    listed = TimeFirstPage(*client, o.list_prefix, o.list_limit);
  }
  if (!listed.ok()) return cli::Fail("queue list: " + listed.status().ToString());
  const double visible_after = listed->rows >= want_rows ? SecondsSince(list_start) : -1;

  const double rss_growth = loaded->value("rss_bytes") - before->value("rss_bytes");
  JsonObject params;
  params.Add("server", global.server)
      .Add("count", o.count)
      .Add("size", o.size)
      .Add("inflight", o.inflight)
      .Add("list_limit", o.list_limit)
      .Add("list_prefix", o.list_prefix)
      .Add("duration", o.common.duration)
      .Add("restart_cmd", o.restart_cmd)
      .Add("dedup_resends", ClientOptions{}.dedup_resends);
  JsonObject results;
  results.Add("queues_created", confirmed)
      .Add("seconds", seconds)
      .Add("queues_per_s", std::round(confirmed / std::max(1e-9, seconds)))
      .Add("rss_before_bytes", before->value("rss_bytes"))
      .Add("rss_loaded_bytes", loaded->value("rss_bytes"))
      .Add("rss_growth_bytes", rss_growth)
      .Add("broker_queues", loaded->value("queues"))
      .Add("broker_queues_in_memory", loaded->value("queues_in_memory"))
      .Add("store_used_bytes", loaded->value("store_used_bytes"))
      .Add("store_map_bytes", loaded->value("store_map_bytes"))
      .Add("first_call_seconds", first_call.seconds)
      .Add("first_call_rows", static_cast<uint64_t>(first_call.rows))
      .Add("listed_after_seconds", visible_after)
      .Add("first_page_seconds", listed->seconds)
      .Add("first_page_rows", static_cast<uint64_t>(listed->rows));
  char line[1024];
  std::snprintf(line, sizeof(line),
                "  %s queues holding one message of %u bytes each, %u in flight\n"
                "  created        %s in %.2f s: %s queues/s\n"
                "  broker RSS     %s -> %s (+%s); %.0f queues in memory\n"
                "  store          %s used (map %s)\n"
                "  queue ls       first page (%zu rows) in %.2f ms; the first call, %.3f s "
                "earlier, listed %zu\n",
                Thousands(static_cast<double>(o.count)).c_str(), o.size, o.inflight,
                Thousands(static_cast<double>(confirmed)).c_str(), seconds,
                Thousands(confirmed / std::max(1e-9, seconds)).c_str(),
                Bytes(before->value("rss_bytes")).c_str(),
                Bytes(loaded->value("rss_bytes")).c_str(), Bytes(rss_growth).c_str(),
                loaded->value("queues_in_memory"), Bytes(loaded->value("store_used_bytes")).c_str(),
                Bytes(loaded->value("store_map_bytes")).c_str(), listed->rows,
                listed->seconds * 1e3, visible_after, first_call.rows);
  std::string text = line;
  BrokerStats broker = *loaded;

  if (o.idle) {
    // Idle: every queue evicted and the log applied; then RSS is read for
    // a few seconds more and the lowest kept (memory goes back on the
    // broker's own timer, not at the moment the last queue leaves).
    const Clock::time_point idle_start = Clock::now();
    Result<BrokerStats> now = FetchStats(*client);
    while (now.ok() &&
           (now->value("queues_in_memory") > 0 || now->value("log_unapplied_bytes") > 0) &&
           Clock::now() < idle_start + kIdleWait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      now = FetchStats(*client);
    }
    if (!now.ok()) return cli::Fail("stats: " + now.status().ToString());
    const double idle_seconds = SecondsSince(idle_start);
    const bool idle = now->value("queues_in_memory") == 0;
    double rss_idle = now->value("rss_bytes");
    const Clock::time_point settle_end = Clock::now() + kIdleSettle;
    while (Clock::now() < settle_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      Result<BrokerStats> later = FetchStats(*client);
      if (!later.ok()) return cli::Fail("stats: " + later.status().ToString());
      rss_idle = std::min(rss_idle, later->value("rss_bytes"));
    }
    const double over_start = rss_idle - before->value("rss_bytes");
    JsonObject r;
    r.Add("idle", idle)
        .Add("seconds_to_idle", idle_seconds)
        .Add("rss_start_bytes", before->value("rss_bytes"))
        .Add("rss_idle_bytes", rss_idle)
        .Add("rss_idle_over_start_bytes", over_start);
    results.Add("idle", r);
    std::snprintf(line, sizeof(line),
                  "  idle           %s after %.1f s; broker RSS %s (%s%s over the start's %s)\n",
                  idle ? "every queue left memory" : "queues still in memory", idle_seconds,
                  Bytes(rss_idle).c_str(), over_start < 0 ? "-" : "+",
                  Bytes(std::fabs(over_start)).c_str(), Bytes(before->value("rss_bytes")).c_str());
    text += line;
  }

  if (!o.restart_cmd.empty()) {
    client.reset();  // closed before the broker goes away: no reconnect attempts
    Result<std::string> token = cli::AuthToken(global);  // connecting above checked it
    Result<Restart> restart =
        RunRestart(o.restart_cmd, global.server, token.ok() ? *token : std::string(), &client);
    if (!restart.ok()) return cli::Fail("restart: " + restart.status().ToString());
    Result<BrokerStats> restarted = FetchStats(*client);
    if (!restarted.ok()) return cli::Fail("stats: " + restarted.status().ToString());
    Result<Listed> relisted = TimeFirstPage(*client, o.list_prefix, o.list_limit);
    if (!relisted.ok()) return cli::Fail("queue list: " + relisted.status().ToString());
    Result<BrokerStats> listed_stats = FetchStats(*client);
    if (!listed_stats.ok()) return cli::Fail("stats: " + listed_stats.status().ToString());
    const double growth = restarted->value("rss_bytes") - before->value("rss_bytes");
    JsonObject r;
    r.Add("server", restart->server)
        .Add("command_seconds", restart->command_seconds)
        .Add("saw_stopped", restart->saw_stopped)
        .Add("accepting_seconds", restart->accepting_seconds)
        .Add("rss_bytes", restarted->value("rss_bytes"))
        .Add("rss_growth_bytes", growth)
        .Add("rss_after_first_page_bytes", listed_stats->value("rss_bytes"))
        .Add("broker_queues", restarted->value("queues"))
        .Add("first_page_seconds", relisted->seconds);
    results.Add("restart", r);
    std::snprintf(line, sizeof(line),
                  "  restart        accepting %.3f s after the old broker %s (command: %.2f s)\n"
                  "  broker RSS     %s after the restart (+%s over the fresh broker's)\n"
                  "  queue ls       first page in %.2f ms after the restart\n",
                  restart->accepting_seconds, restart->saw_stopped ? "stopped" : "began stopping",
                  restart->command_seconds, Bytes(restarted->value("rss_bytes")).c_str(),
                  Bytes(growth).c_str(), relisted->seconds * 1e3);
    text += line;
    broker = *restarted;
  }
  return PrintReport(o.common, "queues", broker, params, results, text);
}

}  // namespace

void AddQueuesBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c = bench.add_subcommand(
      "queues", "Many queues of one message: RSS, store size, queue ls, restart time");
  c->add_option("--count", o->count, "Queues to create (one message each)")->capture_default_str();
  c->add_option("--size", o->size, "Payload bytes")->capture_default_str();
  c->add_option("--inflight", o->inflight, "Unconfirmed publishes at most")->capture_default_str();
  c->add_option("--list-limit", o->list_limit, "Rows of the queue ls page timed")
      ->capture_default_str();
  c->add_option("--list-prefix", o->list_prefix, "List only queues starting with this")
      ->capture_default_str();
  c->add_option("--restart-cmd", o->restart_cmd,
                "Shell command that restarts the broker (see docs/cli.md; e.g. "
                "bench/restart-broker.sh)");
  c->add_flag("--idle", o->idle,
              "Then wait until the broker holds none of them in memory and report its RSS");
  AddCommonOptions(c, &o->common, "10m");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
