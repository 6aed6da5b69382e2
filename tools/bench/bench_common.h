// What the `hermod bench` workloads share: run limits, broker facts read
// through Stats(), progress on a terminal, the report (text for people, one
// JSON object with --json), payloads that carry their send time, and the
// file descriptor limit.
//
// Main thread, except where a function says otherwise.
#ifndef HERMOD_TOOLS_BENCH_BENCH_COMMON_H_
#define HERMOD_TOOLS_BENCH_BENCH_COMMON_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "bench/histogram.h"
#include "cli.h"
#include "hermod/client.h"
#include "json.h"

namespace hermod::bench {

using Clock = std::chrono::steady_clock;

// Nanoseconds on the steady clock: comparable within this process only.
inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}
inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Options every workload takes.
struct CommonOptions {
  bool json = false;
  std::string duration = "5m";   // DURATION: the run stops sending after this long
  std::string prefix = "bench";  // queue (and group) names start with it
};
// Adds --json, --duration and --prefix to a workload's subcommand.
void AddCommonOptions(CLI::App* command, CommonOptions* options, const char* default_duration);

// The broker's own figures, from one Stats() call.
struct BrokerStats {
  std::string version;
  std::string sync_mode;
  std::map<std::string, double> values;  // every numeric stat by name
  double value(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? 0 : it->second;
  }
};
Result<BrokerStats> FetchStats(Client& client);

// Connects a client for a workload: libhermod's defaults (dedup_resends on:
// the configuration services run with), the bench's client name, and the
// CLI's bounded reconnect.
std::unique_ptr<Client> Connect(const cli::GlobalOptions& global, std::string_view name);

// Prints "rate, elapsed, remaining" on stderr four times a second while it
// lives, only when stderr is a terminal; clears its line when it stops.
// `done` is read from the progress thread.
class Progress {
 public:
  Progress(std::string label, uint64_t total, const std::atomic<uint64_t>* done,
           Clock::time_point deadline);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void Run();

  std::string label_;
  uint64_t total_;
  const std::atomic<uint64_t>* done_;
  Clock::time_point start_;
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A JSON object built field by field, in order (Json, the one writer:
// whole numbers without a fraction, NaN as null).
class JsonObject {
 public:
  JsonObject& Add(std::string_view key, double value) { return Set(key, JsonNumber(value)); }
  JsonObject& Add(std::string_view key, uint64_t value) { return Set(key, Json(value)); }
  JsonObject& Add(std::string_view key, int value) { return Add(key, uint64_t(value)); }
  JsonObject& Add(std::string_view key, uint32_t value) { return Add(key, uint64_t(value)); }
  JsonObject& Add(std::string_view key, bool value) { return Set(key, Json(value)); }
  JsonObject& Add(std::string_view key, std::string_view value) {
    return Set(key, Json(std::string(value)));
  }
  JsonObject& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, const JsonObject& value) { return Set(key, value.j_); }
  std::string ToString() const { return DumpJson(j_); }

 private:
  JsonObject& Set(std::string_view key, Json value) {
    j_[std::string(key)] = std::move(value);
    return *this;
  }
  Json j_ = Json::object();
};

// {"count","mean_us","p50_us","p99_us","p999_us","max_us"} of a histogram.
JsonObject LatencyJson(const Histogram& h);
// "p50 1.23 ms  p99 4.56 ms  p99.9 7.89 ms  max 10.1 ms".
std::string LatencyText(const Histogram& h);
// 1234567.8 -> "1,234,568".
std::string Thousands(double value);
// Bytes as "12.3 MiB" (or KiB, B).
std::string Bytes(double bytes);

// The report of a run: `broker` from Stats() (version, sync mode) and the
// exact parameters go into every JSON report. Prints json.ToString() with
// --json, else text; returns the exit code (a failed write fails).
int PrintReport(const CommonOptions& common, const std::string& workload, const BrokerStats& broker,
                const JsonObject& params, const JsonObject& results, const std::string& text);

// A payload of `size` lowercase letters.
std::string MakePayload(size_t size);
// The first 8 bytes of a payload carry a steady-clock time (NowNanos()):
// the send time, or for `latency` the intended send time.
inline constexpr size_t kStampBytes = 8;
void StampNanos(std::string* payload, int64_t nanos);
int64_t ReadStamp(std::string_view payload);

// Raises this process's soft limit of open files to at least `needed`
// (up to the hard limit). Fails, naming both, when the hard limit is lower.
Status RaiseFdLimit(uint64_t needed);

// Sleeps until the atomic reaches `target` or the deadline passes; true
// when it reached it. Polls every millisecond (the bench's own waits only).
bool WaitFor(const std::atomic<uint64_t>& value, uint64_t target, Clock::time_point deadline);

}  // namespace hermod::bench

#endif  // HERMOD_TOOLS_BENCH_BENCH_COMMON_H_
