// LoopHarness: a net::Loop for the cluster tests, with EtcdClients and
// LeaseKeepers on it, and a way to run it until a condition holds (bounded).
#ifndef HERMOD_TESTS_CLUSTER_LOOP_HARNESS_H_
#define HERMOD_TESTS_CLUSTER_LOOP_HARNESS_H_

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "check.h"
#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::cluster {

using namespace std::chrono_literals;

class LoopHarness {
 public:
  LoopHarness() { HERMOD_CHECK(loop_.Init().ok()); }
  ~LoopHarness() {
    for (auto& keeper : keepers_) keeper->Close();
    for (auto& client : clients_) client->Close();
    loop_.Close();  // runs the close callbacks
  }

  net::Loop& loop() { return loop_; }

  EtcdClient& NewClient(std::vector<std::string> endpoints,
                        std::chrono::milliseconds request_timeout = 2s) {
    EtcdClient::Options options;
    options.endpoints = std::move(endpoints);
    options.request_timeout = request_timeout;
    clients_.push_back(std::make_unique<EtcdClient>(loop_, options));
    HERMOD_CHECK(clients_.back()->Init().ok());
    return *clients_.back();
  }
  LeaseKeeper& NewKeeper(EtcdClient& etcd) {
    keepers_.push_back(std::make_unique<LeaseKeeper>(loop_, etcd));
    return *keepers_.back();
  }

  // Runs the loop until cond() holds or `timeout` passed; false then.
  bool RunUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 5s) {
    struct Wait {
      const std::function<bool()>* cond;
      bool expired = false;
    } wait{&cond};
    // cond() is checked before the loop would block for I/O: a callback run
    // by a timer may have made it true, and uv_run would otherwise sleep
    // until the next event.
    uv_prepare_t check;
    uv_prepare_init(loop_.uv(), &check);
    check.data = &wait;
    uv_prepare_start(&check, [](uv_prepare_t* p) noexcept {
      auto* w = static_cast<Wait*>(p->data);
      if (w->expired || (*w->cond)()) uv_stop(p->loop);
    });
    net::Timer deadline;
    deadline.Init(loop_, [&wait] { wait.expired = true; });
    deadline.Start(static_cast<uint64_t>(timeout.count()));
    while (!cond() && !wait.expired) uv_run(loop_.uv(), UV_RUN_DEFAULT);
    deadline.Close();
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_run(loop_.uv(), UV_RUN_NOWAIT);  // the close callbacks
    return cond();
  }

  // Starts a call with a callback that stores its answer, and runs the loop
  // until it came. At the deadline the call is cancelled and a test Timeout
  // returned, so no callback outlives the wait.
  template <typename R>
  R Await(EtcdClient& etcd, const std::function<CallId(std::function<void(R)>)>& start,
          std::chrono::milliseconds timeout = 5s) {
    std::optional<R> out;
    const CallId call = start([&out](R r) { out.emplace(std::move(r)); });
    if (!RunUntil([&out] { return out.has_value(); }, timeout)) {
      etcd.Cancel(call);
      return R(
          Status::Timeout("test: no answer within " + std::to_string(timeout.count()) + " ms"));
    }
    return std::move(*out);
  }

  Result<RangeResult> Get(EtcdClient& etcd, const std::string& key) {
    return Await<Result<RangeResult>>(etcd, [&](auto cb) { return etcd.Get(key, cb); });
  }
  Result<int64_t> Put(EtcdClient& etcd, const std::string& key, const std::string& value,
                      LeaseId lease_id = 0) {
    return Await<Result<int64_t>>(etcd,
                                  [&](auto cb) { return etcd.Put(key, value, lease_id, cb); });
  }
  Result<Lease> Grant(EtcdClient& etcd, int64_t ttl_s) {
    return Await<Result<Lease>>(etcd, [&](auto cb) { return etcd.GrantLease(ttl_s, cb); });
  }

 private:
  net::Loop loop_;
  std::vector<std::unique_ptr<EtcdClient>> clients_;
  std::vector<std::unique_ptr<LeaseKeeper>> keepers_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_TESTS_CLUSTER_LOOP_HARNESS_H_
