#include "lease_keeper.h"

#include <algorithm>

#include "check.h"

namespace hermod::cluster {

LeaseKeeper::LeaseKeeper(net::Loop& loop, EtcdClient& etcd) : loop_(loop), etcd_(etcd) {}

LeaseKeeper::~LeaseKeeper() = default;  // the timers check that they were closed

void LeaseKeeper::Start(Lease lease, std::function<void(Status)> on_lost) {
  HERMOD_CHECK(!running_);
  HERMOD_CHECK(lease.ttl_s >= 1);
  if (!initialized_) {
    refresh_timer_.Init(loop_, [this] { Refresh(); });
    expiry_timer_.Init(loop_, [this] {
      Lose(Status::Timeout("etcd lease " + std::to_string(lease_.lease_id) +
                           ": no refresh confirmed within its TTL of " +
                           std::to_string(lease_.ttl_s) + " s"));
    });
    initialized_ = true;
  }
  lease_ = lease;
  on_lost_ = std::move(on_lost);
  running_ = true;
  refreshes_ = 0;
  const uint64_t ttl_ms = static_cast<uint64_t>(lease_.ttl_s) * 1000;
  const uint64_t interval_ms = std::max<uint64_t>(ttl_ms / 3, 1);
  refresh_timer_.Start(interval_ms, interval_ms);
  expiry_timer_.Start(ttl_ms);
}

void LeaseKeeper::Refresh() {
  // One refresh at a time: a slow etcd gets no pile of keepalives, and the
  // expiry timer still runs out if none comes back.
  if (in_flight_ != 0) return;
  const uint64_t sent_ms = loop_.now_ms();
  in_flight_ = etcd_.KeepAliveOnce(lease_.lease_id, [this, sent_ms](Result<int64_t> ttl_s) {
    in_flight_ = 0;
    if (ttl_s.ok()) {
      ++refreshes_;
      // etcd restarted the TTL when it received the request, which was
      // after sent_ms: counting from sent_ms errs on the safe side.
      const uint64_t expires_ms = sent_ms + static_cast<uint64_t>(*ttl_s) * 1000;
      const uint64_t now = loop_.now_ms();
      expiry_timer_.Start(expires_ms > now ? expires_ms - now : 0);
      return;
    }
    if (ttl_s.status().IsNotFound()) return Lose(ttl_s.status());
    // Anything else (timeout, endpoint down) may pass: the next tick tries
    // again, possibly on another endpoint, until the expiry timer decides.
  });
}

void LeaseKeeper::Lose(Status status) {
  if (!running_) return;
  Stop();
  auto on_lost = std::move(on_lost_);
  on_lost(std::move(status));
}

void LeaseKeeper::Stop() {
  if (!running_) return;
  running_ = false;
  refresh_timer_.Stop();
  expiry_timer_.Stop();
  if (in_flight_ != 0) etcd_.Cancel(in_flight_);
  in_flight_ = 0;
}

void LeaseKeeper::Close() {
  Stop();
  refresh_timer_.Close();
  expiry_timer_.Close();
}

}  // namespace hermod::cluster
