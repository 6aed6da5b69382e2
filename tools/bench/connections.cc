// `hermod bench connections`: opens --count idle connections, each
// subscribed (credit 1) to a queue of its own, and reports the broker's RSS
// per connection (its own rss_bytes from Stats(), before and after, once the
// connections sat idle for --settle) and the rate at which connections got
// through connect, handshake and subscribe. The connections are raw
// sockets on one epoll thread (raw_connections.h says why).
//
// Main thread only (plus the progress thread).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/bench_common.h"
#include "bench/raw_connections.h"
#include "bench/workloads.h"

namespace hermod::bench {

namespace {

struct Options {
  CommonOptions common;
  uint64_t count = 10000;
  uint32_t source_addresses = 0;  // 0: as many as the port range needs
  uint32_t parallel = 64;
  std::string settle = "2s";
};

// Loopback source addresses needed so that each gets at most half of the
// ephemeral port range (the other half stays free for everyone else).
uint32_t SourceAddressesFor(uint64_t count) {
  uint64_t low = 32768, high = 60999;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low >> high;
  const uint64_t per_address = std::max<uint64_t>(1, (high - low + 1) / 2);
  return static_cast<uint32_t>(std::min<uint64_t>(254, (count + per_address - 1) / per_address));
}

int Run(const Options& o, const cli::GlobalOptions& global) {
  if (o.count == 0 || o.parallel == 0)
    return cli::Fail("--count and --parallel must be at least 1");
  const size_t colon = global.server.rfind(':');
  if (colon == std::string::npos) return cli::Fail("--server must be HOST:PORT");
  // One descriptor per connection, plus the admin client and some spare.
  if (Status s = RaiseFdLimit(o.count + 64); !s.ok()) return cli::Fail(s.message());

  std::unique_ptr<Client> admin = Connect(global, "hermod bench connections");
  if (!admin) return cli::kExitError;
  Result<BrokerStats> before = FetchStats(*admin);
  if (!before.ok()) return cli::Fail("stats: " + before.status().ToString());

  RawConnections::Options raw;
  raw.host = global.server.substr(0, colon);
  if (raw.host == "localhost") raw.host = "127.0.0.1";
  raw.port = static_cast<uint16_t>(std::stoul(global.server.substr(colon + 1)));
  Result<std::string> token = cli::AuthToken(global);  // Connect() above checked it
  raw.auth_token = token.ok() ? *token : std::string();
  raw.principal = global.user;
  raw.queue_prefix = o.common.prefix + ".conn." + std::to_string(getpid()) + ".";
  raw.source_addresses = o.source_addresses != 0 ? o.source_addresses : SourceAddressesFor(o.count);
  raw.parallel = o.parallel;
  RawConnections conns(raw);

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + cli::DurationValue(o.common.duration);
  Status opened;
  double seconds = 0;
  {
    Progress progress("connections", o.count, conns.subscribed_counter(), deadline);
    opened = conns.Open(o.count, deadline);
    seconds = SecondsSince(start);
  }
  if (!opened.ok()) {
    return cli::Fail("after " + std::to_string(conns.subscribed()) +
                     " connections: " + opened.ToString());
  }
  if (Status s = conns.Idle(cli::DurationValue(o.settle)); !s.ok()) return cli::Fail(s.ToString());
  Result<BrokerStats> after = FetchStats(*admin);
  if (!after.ok()) return cli::Fail("stats: " + after.status().ToString());
  conns.CloseAll();

  const double rss_growth = after->value("rss_bytes") - before->value("rss_bytes");
  const double per_connection = rss_growth / static_cast<double>(o.count);
  const double rate = seconds > 0 ? static_cast<double>(o.count) / seconds : 0;
  JsonObject params;
  params.Add("server", global.server)
      .Add("count", o.count)
      .Add("source_addresses", raw.source_addresses)
      .Add("parallel", o.parallel)
      .Add("settle", o.settle)
      .Add("duration", o.common.duration)
      .Add("credit", 1)
      .Add("client", "raw sockets, one epoll thread, the shared frame codec");
  JsonObject results;
  results.Add("connections", o.count)
      .Add("seconds", seconds)
      .Add("connects_per_s", std::round(rate))
      .Add("rss_before_bytes", before->value("rss_bytes"))
      .Add("rss_after_bytes", after->value("rss_bytes"))
      .Add("rss_per_connection_bytes", std::round(per_connection))
      .Add("broker_connections", after->value("connections"))
      .Add("broker_subscriptions", after->value("subscriptions"))
      .Add("closed_by_broker", conns.closed_by_broker());
  char text[1024];
  std::snprintf(text, sizeof(text),
                "  %s idle connections, each subscribed to its own queue (credit 1), from %u "
                "source address(es)\n"
                "  connected    %s in %.2f s: %s connections/s (connect, Hello, Subscribe)\n"
                "  broker RSS   %s -> %s: %s per connection (after %s idle)\n",
                Thousands(static_cast<double>(o.count)).c_str(), raw.source_addresses,
                Thousands(static_cast<double>(o.count)).c_str(), seconds, Thousands(rate).c_str(),
                Bytes(before->value("rss_bytes")).c_str(), Bytes(after->value("rss_bytes")).c_str(),
                Bytes(per_connection).c_str(), o.settle.c_str());
  return PrintReport(o.common, "connections", *after, params, results, text);
}

}  // namespace

void AddConnectionsBench(CLI::App& bench, cli::GlobalOptions& global) {
  auto o = std::make_shared<Options>();
  CLI::App* c = bench.add_subcommand(
      "connections", "Idle subscribed connections: broker RSS per connection, connect rate");
  c->add_option("--count", o->count, "Connections to open")->capture_default_str();
  c->add_option("--source-addresses", o->source_addresses,
                "Spread over 127.0.0.1 ... 127.0.0.K (default: as the port range needs)");
  c->add_option("--parallel", o->parallel, "Handshakes in progress at once at most")
      ->capture_default_str();
  c->add_option("--settle", o->settle, "Idle time before the broker's RSS is read")
      ->type_name("DURATION")
      ->check(cli::DurationValidator())
      ->capture_default_str();
  AddCommonOptions(c, &o->common, "5m");
  c->callback([o, &global] { global.run = [o, &global] { return Run(*o, global); }; });
}

}  // namespace hermod::bench
