// Helpers for the tests of groups, queue inspection and stats: connecting a
// client, reading the broker's stats as a map, polling a condition until a
// deadline, draining queues, and `hermod db check` on a stopped broker's
// store. Header-only; each function says which threads may call it.
#ifndef HERMOD_TESTS_INTEGRATION_ADMIN_TEST_UTIL_H_
#define HERMOD_TESTS_INTEGRATION_ADMIN_TEST_UTIL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hermod/client.h"
#include "run_command.h"

namespace hermod::test {

// Runs `hermod db check` on data_dir (the broker stopped) and expects it to
// find the store consistent. Test thread.
inline void ExpectStoreChecksClean(const std::string& data_dir) {
  Result<CommandResult> check = RunCommand({HERMOD_CLI_BIN, "db", "check", "--data-dir", data_dir});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->exit.ok()) << check->out << check->err;
}

// Connects a client with default options to `address`; nullptr (and the
// reason on stderr) on failure. Any thread.
inline std::unique_ptr<Client> ConnectClient(const std::string& address,
                                             ClientOptions options = {}) {
  options.server = address;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "connect to %s: %s\n", address.c_str(),
                 client.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*client);
}

// The broker's numeric stats by name; empty when the request failed. Any
// thread but the client's.
inline std::map<std::string, double> StatsOf(Client& client) {
  std::map<std::string, double> out;
  Result<std::vector<ServerStat>> stats = client.Stats();
  if (!stats.ok()) return out;
  for (const ServerStat& stat : *stats) out[stat.name] = stat.value;
  return out;
}

// One stat, or -1 when the request failed or the broker has no such stat.
inline double StatOf(Client& client, const std::string& name) {
  std::map<std::string, double> stats = StatsOf(client);
  auto it = stats.find(name);
  return it == stats.end() ? -1 : it->second;
}

// Checks `done()` every `interval` until it returns true (then true) or
// `timeout` passed (then false). Polling a broker-side condition that has
// no notification (an expansion, the lagged index) is waiting on the
// condition, with a bound. Any thread.
template <typename Done>
bool PollUntil(Done done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// Value at fraction p (0..1) of sorted samples; 0 for none.
template <typename T>
T Percentile(std::vector<T> samples, double p) {
  if (samples.empty()) return T{};
  std::sort(samples.begin(), samples.end());
  size_t i = std::min(samples.size() - 1, static_cast<size_t>(p * samples.size()));
  return samples[i];
}

// Collects publish confirms, which arrive on client threads: counts, the
// codes of refusals, and, for callbacks made with an index below `slots`,
// each result and when it came. The callbacks share its state, so they
// stay safe after it is destroyed. Thread-safe.
class ConfirmCounter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);

  explicit ConfirmCounter(size_t slots = 0) : state_(std::make_shared<State>(slots)) {}

  ConfirmCallback Callback(size_t index = kNoIndex) {
    return [state = state_, index](const PublishResult& result) {
      std::lock_guard<std::mutex> lock(state->mu);
      ++state->done;
      if (result.status.ok()) {
        ++state->ok;
      } else {
        if (state->first_error.ok()) state->first_error = result.status;
        state->codes.push_back(result.status.code());
      }
      if (index < state->results.size()) {
        state->results[index] = result;
        state->done_at[index] = Clock::now();
      }
      state->changed.notify_all();
    };
  }
  // Waits until n confirms (or refusals) arrived; false on timeout.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->done >= n; });
  }
  size_t done() {
    return Locked([&] { return state_->done; });
  }
  size_t ok() {
    return Locked([&] { return state_->ok; });
  }
  size_t failed() {
    return Locked([&] { return state_->done - state_->ok; });
  }
  Status first_error() {
    return Locked([&] { return state_->first_error; });
  }
  std::vector<ErrorCode> codes() {
    return Locked([&] { return state_->codes; });
  }
  // By index (the callback's): REQUIRES its callback ran.
  PublishResult result(size_t i) {
    return Locked([&] { return state_->results[i]; });
  }
  Clock::time_point done_at(size_t i) {
    return Locked([&] { return state_->done_at[i]; });
  }
  std::vector<PublishResult> results() {
    return Locked([&] { return state_->results; });
  }

 private:
  template <typename F>
  auto Locked(F f) -> decltype(f()) {
    std::lock_guard<std::mutex> lock(state_->mu);
    return f();
  }
  struct State {
    explicit State(size_t slots) : results(slots), done_at(slots) {}
    std::mutex mu;  // guards everything below
    std::condition_variable changed;
    size_t done = 0;
    size_t ok = 0;
    Status first_error;
    std::vector<ErrorCode> codes;
    std::vector<PublishResult> results;
    std::vector<Clock::time_point> done_at;
  };
  std::shared_ptr<State> state_;
};

// Drains queues: subscribes to them over several clients (round robin),
// acks every delivery and records its payload per queue, in arrival order.
// Use from one test thread; the handlers run on the clients' threads and
// share only State.
class QueueDrainer {
 public:
  QueueDrainer(const std::string& address, size_t clients) {
    for (size_t i = 0; i < clients; ++i) clients_.push_back(ConnectClient(address));
  }
  // Destroys the clients (joining their threads) before the state.
  ~QueueDrainer() { clients_.clear(); }

  bool connected() const {
    for (const auto& c : clients_) {
      if (c == nullptr) return false;
    }
    return !clients_.empty();
  }

  // REQUIRES: connected().
  Status Subscribe(const std::vector<std::string>& queues, uint32_t credit) {
    for (size_t i = 0; i < queues.size(); ++i) {
      Client* client = clients_[i % clients_.size()].get();
      Result<SubscriptionId> sub =
          client->Subscribe(queues[i], SubscribeOptions{.credit = credit},
                            [state = state_, client](const Delivery& d) {
                              (void)client->Ack(d.subscription, d.seq);
                              std::lock_guard<std::mutex> lock(state->mu);
                              state->payloads[d.queue].push_back(d.payload);
                              if (d.delivery_count != 1) ++state->redelivered;
                              ++state->total;
                              state->changed.notify_all();
                            });
      if (!sub.ok()) return sub.status();
    }
    return Status::OK();
  }

  // Waits until at least n deliveries arrived in all; false on timeout.
  bool WaitForTotal(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->total >= n; });
  }
  // Waits until done(payloads by queue) holds; false on timeout.
  bool WaitUntil(
      const std::function<bool(const std::map<std::string, std::vector<std::string>>&)>& done,
      std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->changed.wait_for(lock, timeout, [&] { return done(state_->payloads); });
  }
  size_t total() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->total;
  }
  size_t redelivered() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->redelivered;
  }
  std::map<std::string, std::vector<std::string>> Payloads() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->payloads;
  }

 private:
  struct State {
    std::mutex mu;  // guards everything below
    std::condition_variable changed;
    std::map<std::string, std::vector<std::string>> payloads;
    size_t total = 0;
    size_t redelivered = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_ADMIN_TEST_UTIL_H_
