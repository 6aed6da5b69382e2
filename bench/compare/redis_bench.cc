// hermod_redis_bench: the standard workloads W1-W4 of bench/run-suite.sh,
// run against Redis Streams over hiredis, so that bench/compare/redis.sh can
// print hermod/Redis ratios from one session. Each recipient is a stream
// with one consumer group "g"; publishing is XADD, consuming XREADGROUP and
// XACK; a fan-out is one XADD per member, sent in one pipeline.
//
//   hermod_redis_bench --port P publish --queues 1000 --count 100000 --size 256 --inflight 1000
//   hermod_redis_bench --port P consume --queues 1000 --credit 1000
//   hermod_redis_bench --port P fanout --members 100 --count 10000 --size 256 --inflight 1000
//   hermod_redis_bench --port P latency --rate 5000 --duration 10 --size 256
//
// Each prints one JSON object shaped like `hermod bench ... --json`
// (results carry the same keys). Latencies use tools/bench/histogram.h.
// Each workload thread owns its own redisContext (hiredis contexts are not
// thread-safe); threads meet only in atomics.
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "json.h"

namespace {

using hermod::bench::Histogram;
using Clock = std::chrono::steady_clock;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "hermod_redis_bench: %s\n", message.c_str());
  std::exit(1);
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// One connection. Thread-compatible: one thread per Redis.
class Redis {
 public:
  Redis(const std::string& host, int port) {
    timeval tv{5, 0};
    c_ = redisConnectWithTimeout(host.c_str(), port, tv);
    if (c_ == nullptr || c_->err) {
      Die("cannot connect to redis: " + std::string(c_ ? c_->errstr : "out of memory"));
    }
  }
  ~Redis() { redisFree(c_); }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Queues a command (pipelined); its reply comes from GetReply().
  void Append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      Die("append: " + std::string(c_->errstr));
    }
  }
  // Blocks for the next reply, writing queued commands first. An error
  // reply ends the program unless allow_error.
  Reply GetReply(bool allow_error = false) {
    void* r = nullptr;
    if (redisGetReply(c_, &r) != REDIS_OK || r == nullptr) {
      Die("reply: " + std::string(c_->errstr));
    }
    return Check(Reply(static_cast<redisReply*>(r)), allow_error);
  }
  Reply Command(const std::vector<std::string>& args) {
    Append(args);
    return GetReply();
  }
  // Writes every queued command now, without waiting for replies.
  void Flush() {
    int done = 0;
    while (!done) {
      if (redisBufferWrite(c_, &done) != REDIS_OK) Die("write: " + std::string(c_->errstr));
    }
  }
  // A reply that already arrived, without blocking; null when none has.
  Reply TryGetReply() {
    void* r = nullptr;
    if (redisGetReplyFromReader(c_, &r) != REDIS_OK) Die("reader: " + std::string(c_->errstr));
    if (r == nullptr) {
      pollfd p{c_->fd, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) return nullptr;
      if (redisBufferRead(c_) != REDIS_OK) Die("read: " + std::string(c_->errstr));
      if (redisGetReplyFromReader(c_, &r) != REDIS_OK) Die("reader: " + std::string(c_->errstr));
      if (r == nullptr) return nullptr;
    }
    return Check(Reply(static_cast<redisReply*>(r)), false);
  }

 private:
  static Reply Check(Reply reply, bool allow_error) {
    if (reply->type == REDIS_REPLY_ERROR && !allow_error) {
      Die("redis error: " + std::string(reply->str, reply->len));
    }
    return reply;
  }
  redisContext* c_ = nullptr;
};

struct Global {
  std::string host = "127.0.0.1";
  int port = 6379;
};

std::string Payload(size_t size) {
  std::string p(size, 'a');
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<char>('a' + i % 26);
  return p;
}
// The first 8 bytes of a payload carry a steady-clock time in nanoseconds.
void Stamp(std::string* payload, int64_t nanos) { std::memcpy(payload->data(), &nanos, 8); }
int64_t ReadStamp(const char* data, size_t size) {
  int64_t nanos = 0;
  if (data != nullptr && size >= 8) std::memcpy(&nanos, data, 8);
  return nanos;
}

bool WaitFor(const std::atomic<uint64_t>& value, uint64_t target, Clock::time_point deadline) {
  while (value.load() < target) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A JSON object, fields in order, written by the one JSON writer the CLI
// uses (tools/json.h), so `hermod bench` and this report read alike.
class Json {
 public:
  Json& Num(const std::string& key, double v) { return Set(key, hermod::JsonNumber(v)); }
  Json& Bool(const std::string& key, bool v) { return Set(key, hermod::Json(v)); }
  Json& Str(const std::string& key, const std::string& v) { return Set(key, hermod::Json(v)); }
  Json& Obj(const std::string& key, const Json& v) { return Set(key, v.j_); }
  std::string ToString() const { return hermod::DumpJson(j_); }

 private:
  Json& Set(const std::string& key, hermod::Json v) {
    j_[key] = std::move(v);
    return *this;
  }
  hermod::Json j_ = hermod::Json::object();
};

double Micros(uint64_t nanos) { return std::round(static_cast<double>(nanos) / 10.0) / 100.0; }
Json LatencyJson(const Histogram& h) {
  Json j;
  j.Num("count", static_cast<double>(h.count()))
      .Num("mean_us", std::round(h.mean() / 10.0) / 100.0)
      .Num("p50_us", Micros(h.ValueAtPercentile(50)))
      .Num("p99_us", Micros(h.ValueAtPercentile(99)))
      .Num("p999_us", Micros(h.ValueAtPercentile(99.9)))
      .Num("max_us", Micros(h.max()));
  return j;
}

// The server's version and persistence settings, for the report.
Json BrokerJson(Redis& r) {
  Reply info = r.Command({"INFO", "server"});
  const std::string text(info->str, info->len);
  std::string version;
  const size_t at = text.find("redis_version:");
  if (at != std::string::npos) version = text.substr(at + 14, text.find('\r', at) - at - 14);
  auto config = [&](const std::string& name) {
    Reply c = r.Command({"CONFIG", "GET", name});
    return c->elements == 2 ? std::string(c->element[1]->str, c->element[1]->len) : "";
  };
  Json j;
  j.Str("name", "redis")
      .Str("version", version)
      .Str("appendonly", config("appendonly"))
      .Str("appendfsync", config("appendfsync"));
  return j;
}

int Print(Redis& r, const std::string& workload, const Json& params, const Json& results) {
  Json all;
  all.Str("workload", workload)
      .Obj("broker", BrokerJson(r))
      .Obj("params", params)
      .Obj("results", results);
  std::printf("%s\n", all.ToString().c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

// Creates consumer group "g", reading from the start, on each stream.
void CreateGroups(Redis& r, const std::vector<std::string>& streams) {
  for (const std::string& s : streams) r.Append({"XGROUP", "CREATE", s, "g", "0", "MKSTREAM"});
  for (size_t i = 0; i < streams.size(); ++i) {
    Reply reply = r.GetReply(/*allow_error=*/true);
    // BUSYGROUP: the group exists (a second run on the same server).
    if (reply->type == REDIS_REPLY_ERROR &&
        std::string(reply->str, reply->len).rfind("BUSYGROUP", 0) != 0) {
      Die("XGROUP CREATE: " + std::string(reply->str, reply->len));
    }
  }
}

// Calls fn(stream, id, payload data, payload size) for every entry of an
// XREADGROUP reply.
template <typename Fn>
void ForEachEntry(const redisReply* reply, Fn&& fn) {
  if (reply->type != REDIS_REPLY_ARRAY) return;  // nil: nothing new
  for (size_t s = 0; s < reply->elements; ++s) {
    const redisReply* stream = reply->element[s];
    const std::string name(stream->element[0]->str, stream->element[0]->len);
    const redisReply* entries = stream->element[1];
    for (size_t e = 0; e < entries->elements; ++e) {
      const redisReply* entry = entries->element[e];
      const std::string id(entry->element[0]->str, entry->element[0]->len);
      const redisReply* fields = entry->element[1];
      const redisReply* value =
          fields != nullptr && fields->elements >= 2 ? fields->element[1] : nullptr;
      fn(name, id, value ? value->str : nullptr, value ? value->len : 0);
    }
  }
}

// One consumer: reads its streams through group "g" with COUNT credit
// (per stream), acks each batch with one XACK per stream, until `total`
// reaches `expected` or the deadline. Records end-to-end latency from the
// payload stamps when `latency` is set.
void ConsumeLoop(const Global& g, const std::vector<std::string>& streams, const std::string& name,
                 uint32_t credit, std::atomic<uint64_t>* total, uint64_t expected,
                 Clock::time_point deadline, std::atomic<int64_t>* last_ns, Histogram* latency) {
  Redis r(g.host, g.port);
  std::vector<std::string> read = {"XREADGROUP",           "GROUP", "g",   name,     "COUNT",
                                   std::to_string(credit), "BLOCK", "100", "STREAMS"};
  for (const std::string& s : streams) read.push_back(s);
  for (size_t i = 0; i < streams.size(); ++i) read.push_back(">");
  std::vector<std::vector<std::string>> acks;
  while (total->load() < expected && Clock::now() < deadline) {
    Reply reply = r.Command(read);
    const int64_t now = NowNanos();
    acks.clear();
    std::string current;
    uint64_t n = 0;
    ForEachEntry(reply.get(), [&](const std::string& stream, const std::string& id,
                                  const char* data, size_t size) {
      if (stream != current) {
        acks.push_back({"XACK", stream, "g"});
        current = stream;
      }
      acks.back().push_back(id);
      if (latency != nullptr) latency->Record(static_cast<uint64_t>(now - ReadStamp(data, size)));
      ++n;
    });
    if (n == 0) continue;
    for (const auto& ack : acks) r.Append(ack);
    r.Flush();
    last_ns->store(NowNanos());
    total->fetch_add(n);
    for (size_t i = 0; i < acks.size(); ++i) r.GetReply();
  }
}

// --- W1: publish ----------------------------------------------------------

struct PublishOptions {
  uint32_t queues = 1000;
  uint64_t count = 100000;
  uint32_t size = 256;
  uint32_t inflight = 1000;
  std::string prefix = "bench";
  double duration = 300;
};

int Publish(const Global& g, const PublishOptions& o) {
  Redis r(g.host, g.port);
  std::vector<std::string> streams;
  for (uint32_t q = 0; q < o.queues; ++q) streams.push_back(o.prefix + "." + std::to_string(q));
  const std::string payload = Payload(o.size);
  Histogram latency;
  std::deque<int64_t> sent_at;
  const int64_t start = NowNanos();
  const int64_t deadline = start + static_cast<int64_t>(o.duration * 1e9);
  int64_t last = start;
  uint64_t sent = 0;
  auto receive_one = [&] {
    r.GetReply();
    last = NowNanos();
    latency.Record(static_cast<uint64_t>(last - sent_at.front()));
    sent_at.pop_front();
  };
  for (; sent < o.count && NowNanos() < deadline; ++sent) {
    if (sent_at.size() == o.inflight) receive_one();
    r.Append({"XADD", streams[sent % o.queues], "*", "d", payload});
    sent_at.push_back(NowNanos());
  }
  while (!sent_at.empty()) receive_one();
  const double seconds = (last - start) / 1e9;
  const double rate = seconds > 0 ? sent / seconds : 0;
  Json params;
  params.Num("queues", o.queues)
      .Num("count", static_cast<double>(o.count))
      .Num("size", o.size)
      .Num("publishers", 1)
      .Num("inflight", o.inflight)
      .Str("prefix", o.prefix);
  Json results;
  results.Num("confirmed", static_cast<double>(sent))
      .Num("seconds", seconds)
      .Num("msgs_per_s", std::round(rate))
      .Num("mb_per_s", std::round(rate * o.size / 1e4) / 100)
      .Obj("confirm_latency", LatencyJson(latency));
  return Print(r, "publish", params, results);
}

// --- W2: consume ----------------------------------------------------------

struct ConsumeOptions {
  uint32_t queues = 1000;
  uint32_t consumers = 1;
  uint32_t credit = 1000;
  std::string prefix = "bench";
  double duration = 300;
};

int Consume(const Global& g, const ConsumeOptions& o) {
  Redis r(g.host, g.port);
  std::vector<std::string> streams;
  for (uint32_t q = 0; q < o.queues; ++q) streams.push_back(o.prefix + "." + std::to_string(q));
  // What is there: the streams' lengths (W1 left them unread).
  uint64_t expected = 0;
  for (const std::string& s : streams) r.Append({"XLEN", s});
  for (size_t i = 0; i < streams.size(); ++i) expected += r.GetReply()->integer;
  if (expected == 0) Die("the streams " + o.prefix + ".* hold nothing");
  CreateGroups(r, streams);

  std::atomic<uint64_t> delivered{0};
  std::atomic<int64_t> last_ns{0};
  const int64_t start = NowNanos();
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(int64_t(o.duration * 1e3));
  std::vector<std::thread> consumers;
  for (uint32_t c = 0; c < o.consumers; ++c) {
    std::vector<std::string> mine;
    for (uint32_t q = c; q < o.queues; q += o.consumers) mine.push_back(streams[q]);
    consumers.emplace_back([&, mine, c] {
      ConsumeLoop(g, mine, "c" + std::to_string(c), o.credit, &delivered, expected, deadline,
                  &last_ns, nullptr);
    });
  }
  for (std::thread& t : consumers) t.join();
  const double seconds = (last_ns.load() - start) / 1e9;
  Json params;
  params.Num("queues", o.queues)
      .Num("consumers", o.consumers)
      .Num("credit", o.credit)
      .Str("prefix", o.prefix);
  Json results;
  results.Num("expected", static_cast<double>(expected))
      .Num("delivered", static_cast<double>(delivered.load()))
      .Bool("complete", delivered.load() >= expected)
      .Num("seconds", seconds)
      .Num("deliveries_per_s", std::round(seconds > 0 ? delivered.load() / seconds : 0));
  return Print(r, "consume", params, results);
}

// --- W3: fanout -----------------------------------------------------------

struct FanoutOptions {
  uint32_t members = 100;
  uint64_t count = 10000;
  uint32_t size = 256;
  uint32_t inflight = 1000;
  uint32_t credit = 1000;
  std::string prefix = "bench";
  double duration = 300;
};

int Fanout(const Global& g, const FanoutOptions& o) {
  Redis r(g.host, g.port);
  const std::string group = o.prefix + ".fanout." + std::to_string(getpid());
  std::vector<std::string> streams;
  for (uint32_t m = 0; m < o.members; ++m) streams.push_back(group + "." + std::to_string(m));
  CreateGroups(r, streams);

  const uint64_t expected = o.count * o.members;
  std::atomic<uint64_t> delivered{0};
  std::atomic<int64_t> last_delivery{0};
  const int64_t start = NowNanos();
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(int64_t(o.duration * 1e3));
  std::vector<Histogram> latencies(o.members);
  std::vector<std::thread> consumers;
  for (uint32_t m = 0; m < o.members; ++m) {
    consumers.emplace_back([&, m] {
      ConsumeLoop(g, {streams[m]}, "c", o.credit, &delivered, expected,
                  deadline + std::chrono::seconds(60), &last_delivery, &latencies[m]);
    });
  }
  // One message = one XADD per member, in one pipeline; it is "confirmed"
  // when every member's reply came back.
  std::string payload = Payload(o.size);
  std::deque<int64_t> pending;
  uint64_t sent = 0;
  int64_t last_confirm = start;
  auto confirm_one = [&] {
    for (uint32_t m = 0; m < o.members; ++m) r.GetReply();
    last_confirm = NowNanos();
    pending.pop_front();
  };
  for (; sent < o.count && Clock::now() < deadline; ++sent) {
    if (pending.size() == o.inflight) confirm_one();
    Stamp(&payload, NowNanos());
    for (const std::string& s : streams) r.Append({"XADD", s, "*", "d", payload});
    pending.push_back(NowNanos());
  }
  while (!pending.empty()) confirm_one();
  for (std::thread& t : consumers) t.join();
  Histogram end_to_end;
  for (const Histogram& h : latencies) end_to_end.Merge(h);
  const double publish_seconds = (last_confirm - start) / 1e9;
  const double deliver_seconds = (last_delivery.load() - start) / 1e9;
  Json params;
  params.Num("members", o.members)
      .Num("count", static_cast<double>(o.count))
      .Num("size", o.size)
      .Num("inflight", o.inflight)
      .Num("credit", o.credit)
      .Str("group", group);
  Json results;
  results.Num("published", static_cast<double>(sent))
      .Num("publish_seconds", publish_seconds)
      .Num("publishes_per_s", std::round(sent / publish_seconds))
      .Num("expected_deliveries", static_cast<double>(sent * o.members))
      .Num("delivered", static_cast<double>(delivered.load()))
      .Bool("complete", delivered.load() >= sent * o.members)
      .Num("deliver_seconds", deliver_seconds)
      .Num("deliveries_per_s", std::round(delivered.load() / deliver_seconds))
      .Obj("end_to_end", LatencyJson(end_to_end));
  return Print(r, "fanout", params, results);
}

// --- W4: latency ----------------------------------------------------------

struct LatencyOptions {
  uint32_t rate = 5000;
  double duration = 10;
  uint32_t size = 256;
  uint32_t credit = 1000;
  std::string prefix = "bench";
};

int Latency(const Global& g, const LatencyOptions& o) {
  Redis r(g.host, g.port);
  const std::string stream = o.prefix + ".latency." + std::to_string(getpid());
  CreateGroups(r, {stream});
  const uint64_t count = static_cast<uint64_t>(std::ceil(o.rate * o.duration));
  std::atomic<uint64_t> received{0};
  std::atomic<int64_t> last_delivery{0};
  Histogram end_to_end;
  const Clock::time_point start = Clock::now();
  const int64_t start_ns = NowNanos();
  const Clock::time_point deadline = start + std::chrono::milliseconds(int64_t(o.duration * 1e3));
  std::thread consumer([&] {
    ConsumeLoop(g, {stream}, "c", o.credit, &received, count, deadline + std::chrono::seconds(31),
                &last_delivery, &end_to_end);
  });
  // The publisher never waits for a reply before its next send: it writes
  // each XADD at its intended time and collects replies as they come, so a
  // slow fsync shows in the latency instead of slowing the schedule.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::string payload = Payload(o.size);
  Histogram confirm;
  std::deque<int64_t> pending;  // intended times of unanswered XADDs
  const int64_t interval = static_cast<int64_t>(1e9 / o.rate);
  uint64_t sent = 0, late = 0;
  int64_t worst_lag = 0;
  auto collect = [&](bool block) {
    for (;;) {
      Reply reply = block ? r.GetReply() : r.TryGetReply();
      if (!reply) return;
      confirm.Record(static_cast<uint64_t>(NowNanos() - pending.front()));
      pending.pop_front();
      if (block) return;
    }
  };
  for (; sent < count; ++sent) {
    const int64_t intended = start_ns + static_cast<int64_t>(sent) * interval;
    std::this_thread::sleep_until(start + std::chrono::nanoseconds(intended - start_ns));
    const int64_t now = NowNanos();
    if (now - intended > 1000000) ++late;
    worst_lag = std::max(worst_lag, now - intended);
    if (Clock::now() >= deadline + std::chrono::seconds(1)) break;
    Stamp(&payload, intended);
    r.Append({"XADD", stream, "*", "d", payload});
    r.Flush();
    pending.push_back(intended);
    collect(false);
  }
  while (!pending.empty()) collect(true);
  const bool complete = WaitFor(received, sent, Clock::now() + std::chrono::seconds(30));
  consumer.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Json params;
  params.Num("rate", o.rate)
      .Num("duration", o.duration)
      .Num("count", static_cast<double>(count))
      .Num("size", o.size)
      .Num("credit", o.credit)
      .Str("queue", stream);
  Json results;
  results.Num("sent", static_cast<double>(sent))
      .Num("received", static_cast<double>(received.load()))
      .Bool("complete", complete)
      .Num("seconds", seconds)
      .Num("achieved_rate", std::round(sent / seconds))
      .Num("late_sends", static_cast<double>(late))
      .Num("worst_send_lag_us", std::round(worst_lag / 1e3))
      .Obj("end_to_end", LatencyJson(end_to_end))
      .Obj("confirm", LatencyJson(confirm));
  return Print(r, "latency", params, results);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hermod_redis_bench: W1-W4 against Redis Streams (bench/compare/redis.sh)"};
  app.require_subcommand(1);
  Global g;
  app.add_option("--host", g.host, "Redis host")->capture_default_str();
  app.add_option("--port", g.port, "Redis port")->capture_default_str();
  app.fallthrough();

  PublishOptions p;
  CLI::App* publish = app.add_subcommand("publish", "W1: XADD round robin over Q streams");
  publish->add_option("--queues", p.queues)->capture_default_str();
  publish->add_option("--count", p.count)->capture_default_str();
  publish->add_option("--size", p.size)->capture_default_str();
  publish->add_option("--inflight", p.inflight)->capture_default_str();
  publish->add_option("--prefix", p.prefix)->capture_default_str();
  publish->add_option("--duration", p.duration, "Seconds at most")->capture_default_str();

  ConsumeOptions c;
  CLI::App* consume = app.add_subcommand("consume", "W2: drain the streams with XREADGROUP/XACK");
  consume->add_option("--queues", c.queues)->capture_default_str();
  consume->add_option("--consumers", c.consumers)->capture_default_str();
  consume->add_option("--credit", c.credit, "COUNT per stream and read")->capture_default_str();
  consume->add_option("--prefix", c.prefix)->capture_default_str();
  consume->add_option("--duration", c.duration, "Seconds at most")->capture_default_str();

  FanoutOptions f;
  CLI::App* fanout = app.add_subcommand("fanout", "W3: one XADD per member in one pipeline");
  fanout->add_option("--members", f.members)->capture_default_str();
  fanout->add_option("--count", f.count)->capture_default_str();
  fanout->add_option("--size", f.size)->capture_default_str();
  fanout->add_option("--inflight", f.inflight, "Messages (of M XADDs) unanswered at most")
      ->capture_default_str();
  fanout->add_option("--credit", f.credit)->capture_default_str();
  fanout->add_option("--prefix", f.prefix)->capture_default_str();
  fanout->add_option("--duration", f.duration, "Seconds at most")->capture_default_str();

  LatencyOptions l;
  CLI::App* latency = app.add_subcommand("latency", "W4: fixed-rate XADD, one live consumer");
  latency->add_option("--rate", l.rate)->capture_default_str();
  latency->add_option("--duration", l.duration, "Seconds")->capture_default_str();
  latency->add_option("--size", l.size)->capture_default_str();
  latency->add_option("--credit", l.credit)->capture_default_str();
  latency->add_option("--prefix", l.prefix)->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (p.inflight == 0 || f.inflight == 0 || c.consumers == 0 || l.rate == 0 || f.members == 0) {
    Die("--inflight, --consumers, --members and --rate must be at least 1");
  }
  if (f.size < 8 || l.size < 8) Die("--size must be at least 8 (the send time)");
  if (*publish) return Publish(g, p);
  if (*consume) return Consume(g, c);
  if (*fanout) return Fanout(g, f);
  return Latency(g, l);
}
