// The shared pieces of `hermod bench` (bench_common.h).
#include "bench/bench_common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "json.h"

namespace hermod::bench {

void AddCommonOptions(CLI::App* command, CommonOptions* options, const char* default_duration) {
  options->duration = default_duration;
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command
      ->add_option("--duration", options->duration,
                   "Stop sending after this long, whatever --count says")
      ->type_name("DURATION")
      ->check(cli::DurationValidator())
      ->capture_default_str();
  command->add_option("--prefix", options->prefix, "Queue (and group) names start with PREFIX")
      ->capture_default_str();
}

Result<BrokerStats> FetchStats(Client& client) {
  Result<std::vector<ServerStat>> stats = client.Stats();
  if (!stats.ok()) return stats.status();
  BrokerStats out;
  for (const ServerStat& stat : *stats) {
    if (stat.name == "version") {
      out.version = stat.text;
    } else if (stat.name == "sync_mode") {
      out.sync_mode = stat.text;
    } else if (stat.text.empty()) {
      out.values[stat.name] = stat.value;
    }
  }
  return out;
}

std::unique_ptr<Client> Connect(const cli::GlobalOptions& global, std::string_view name) {
  return cli::ConnectOrReport(global, cli::CommandClientOptions(name));
}

Progress::Progress(std::string label, uint64_t total, const std::atomic<uint64_t>* done,
                   Clock::time_point deadline)
    : label_(std::move(label)),
      total_(total),
      done_(done),
      start_(Clock::now()),
      deadline_(deadline) {
  // Nothing extra when stderr is a file or a pipe: scripts read stdout only.
  if (isatty(STDERR_FILENO)) thread_ = std::thread([this] { Run(); });
}

Progress::~Progress() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
    std::fputs("\r\033[K", stderr);
  }
}

void Progress::Run() {
  uint64_t last_done = 0;
  Clock::time_point last = start_;
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const Clock::time_point now = Clock::now();
    const uint64_t done = done_->load();
    const double interval = std::chrono::duration<double>(now - last).count();
    const double rate = interval > 0 ? static_cast<double>(done - last_done) / interval : 0;
    last = now;
    last_done = done;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    double remaining = std::max(0.0, std::chrono::duration<double>(deadline_ - now).count());
    if (rate > 0 && total_ > done) {
      remaining = std::min(remaining, static_cast<double>(total_ - done) / rate);
    }
    std::fprintf(stderr, "\r\033[K%s: %s/%s  %s/s  elapsed %.1f s  remaining %.1f s",
                 label_.c_str(), Thousands(static_cast<double>(done)).c_str(),
                 Thousands(static_cast<double>(total_)).c_str(), Thousands(rate).c_str(), elapsed,
                 remaining);
    std::fflush(stderr);
  }
}

namespace {
double Micros(uint64_t nanos) { return std::round(static_cast<double>(nanos) / 10.0) / 100.0; }

std::string Duration(uint64_t nanos) {
  char buf[32];
  if (nanos < 1000 * 1000) {
    std::snprintf(buf, sizeof(buf), "%.0f µs", static_cast<double>(nanos) / 1e3);
  } else if (nanos < uint64_t{1000} * 1000 * 1000) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", static_cast<double>(nanos) / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(nanos) / 1e9);
  }
  return buf;
}
}  // namespace

JsonObject LatencyJson(const Histogram& h) {
  JsonObject o;
  o.Add("count", h.count())
      .Add("mean_us", std::round(h.mean() / 10.0) / 100.0)
      .Add("p50_us", Micros(h.ValueAtPercentile(50)))
      .Add("p99_us", Micros(h.ValueAtPercentile(99)))
      .Add("p999_us", Micros(h.ValueAtPercentile(99.9)))
      .Add("max_us", Micros(h.max()));
  return o;
}

std::string LatencyText(const Histogram& h) {
  if (h.count() == 0) return "(none)";
  return "p50 " + Duration(h.ValueAtPercentile(50)) + "  p99 " + Duration(h.ValueAtPercentile(99)) +
         "  p99.9 " + Duration(h.ValueAtPercentile(99.9)) + "  max " + Duration(h.max());
}

std::string Thousands(double value) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%.0f", std::round(value));
  std::string s = digits;
  const size_t start = s[0] == '-' ? 1 : 0;
  for (int i = static_cast<int>(s.size()) - 3; i > static_cast<int>(start); i -= 3) {
    s.insert(static_cast<size_t>(i), ",");
  }
  return s;
}

std::string Bytes(double bytes) {
  char buf[32];
  if (std::fabs(bytes) >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024));
  } else if (std::fabs(bytes) >= 1024.0) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  }
  return buf;
}

int PrintReport(const CommonOptions& common, const std::string& workload, const BrokerStats& broker,
                const JsonObject& params, const JsonObject& results, const std::string& text) {
  std::string out;
  if (common.json) {
    JsonObject b;
    b.Add("version", broker.version).Add("sync_mode", broker.sync_mode);
    JsonObject all;
    all.Add("workload", workload).Add("broker", b).Add("params", params).Add("results", results);
    out = all.ToString() + "\n";
  } else {
    out = "bench " + workload + " (hermodd " + broker.version + ", --sync " + broker.sync_mode +
          ")\n" + text;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? cli::kExitOk : cli::Fail("cannot write to stdout");
}

std::string MakePayload(size_t size) {
  std::string payload(size, 'a');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
  return payload;
}

void StampNanos(std::string* payload, int64_t nanos) {
  std::memcpy(payload->data(), &nanos, kStampBytes);
}

int64_t ReadStamp(std::string_view payload) {
  int64_t nanos = 0;
  if (payload.size() >= kStampBytes) std::memcpy(&nanos, payload.data(), kStampBytes);
  return nanos;
}

Status RaiseFdLimit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return Status::IoError("getrlimit failed");
  if (limit.rlim_cur >= needed) return Status::OK();
  if (limit.rlim_max < needed) {
    return Status::InvalidArgument("needs " + std::to_string(needed) +
                                   " open files, but the hard limit is " +
                                   std::to_string(limit.rlim_max));
  }
  limit.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return Status::IoError(std::string("setrlimit failed: ") + std::strerror(errno));
  }
  return Status::OK();
}

bool WaitFor(const std::atomic<uint64_t>& value, uint64_t target, Clock::time_point deadline) {
  while (value.load() < target) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace hermod::bench
