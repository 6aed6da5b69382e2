// Outbox: the commands that application threads hand to a Client's loop
// thread (publishes, acks, nacks, credit changes), in call order.
//
// Frequent calls go through here rather than one Loop::Post closure each:
// a command is a plain struct moved into a vector, so queueing one costs no
// allocation once the vectors are warm, and one loop wakeup takes a whole
// batch. Push() tells its caller when the loop needs waking (the first
// command since the loop last took the batch); the caller then posts one
// drain. After Close() every Push() is refused, and the caller completes the
// command itself.
//
// Push() from any thread; TakeAll() and Close() from the loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_OUTBOX_H_
#define HERMOD_CLIENT_LIB_SRC_OUTBOX_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "hermod/client.h"

namespace hermod::client_internal {

struct PublishCommand {
  std::string queue;  // the target queue, unless to_group
  std::string group;  // the target group when to_group
  bool to_group = false;
  std::string payload;
  std::vector<Header> headers;
  uint64_t ttl_ms = 0;
  std::string dedup_id;  // the application's; empty: none given
  // When dedup_id is empty and this is non-zero, the publish is sent with
  // the client's own dedup id "~<client_id>-<auto_dedup>" (dedup_resends).
  // Kept as a number so that publishing allocates no string for it.
  uint64_t auto_dedup = 0;
  uint64_t delay_ms = 0;
  uint64_t deliver_at_ms = 0;
  std::string receipt_to;
  std::string receipt;
  ConfirmCallback done;
};

struct AckCommand {
  SubscriptionId subscription;
  uint64_t first_seq;
  uint64_t last_seq;
};

struct NackCommand {
  SubscriptionId subscription;
  uint64_t seq;
  uint32_t delay_ms;
};

struct CreditCommand {
  SubscriptionId subscription;
  uint32_t credit;
};

using Command = std::variant<PublishCommand, AckCommand, NackCommand, CreditCommand>;

class Outbox {
 public:
  enum class PushResult {
    kQueued,      // the loop will take it with the batch it was told about
    kQueuedWake,  // queued; the caller must wake the loop (post one drain)
    kClosed,      // refused: *cmd is untouched and the caller completes it
  };

  Outbox() = default;
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Moves *cmd into the outbox unless it is closed. Any thread.
  PushResult Push(Command* cmd) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return PushResult::kClosed;
    commands_.push_back(std::move(*cmd));
    if (wake_pending_) return PushResult::kQueued;
    wake_pending_ = true;
    return PushResult::kQueuedWake;
  }

  // Swaps every queued command into *out, which must be empty (its capacity
  // is kept for the next batch). Loop thread only.
  void TakeAll(std::vector<Command>* out) {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.swap(*out);
    wake_pending_ = false;
  }

  // Refuses later pushes and returns the commands still queued. Loop thread
  // only; idempotent.
  std::vector<Command> Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    wake_pending_ = false;
    std::vector<Command> left;
    left.swap(commands_);
    return left;
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::vector<Command> commands_;
  bool wake_pending_ = false;
  bool closed_ = false;
};

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_OUTBOX_H_
