// Queue settings: the broker-wide defaults (flags), a queue's overrides
// (set with ConfigureQueue, stored in the queue_config table), and the
// effective limits that result. Pure values; any thread.
#ifndef HERMOD_BROKER_CORE_SETTINGS_H_
#define HERMOD_BROKER_CORE_SETTINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermod/status.h"

namespace hermod::core {

enum class Overflow : uint8_t { kReject = 0, kDropOldest = 1 };
const char* OverflowName(Overflow overflow);
Result<Overflow> ParseOverflow(std::string_view text);

// Redelivery backoff (docs/semantics.md, "Redelivery backoff"): how long an
// entry waits before it is delivered again after a nack without a delay or
// an ack-wait expiry. Either a list of delays ("1s,5s,30s,2m": the Nth
// redelivery waits the Nth, the last repeats) or exponential with jitter
// ("exp:1s:5m": min(cap, base * 2^(n-1)), uniformly random in [half, all]
// of it). Empty: redeliver at once.
struct RedeliveryBackoff {
  std::vector<uint64_t> delays_ms;  // the list form; empty for the exponential one
  uint64_t base_ms = 0;             // the exponential form: base_ms != 0
  uint64_t cap_ms = 0;
  std::string text = "none";  // the spec it was parsed from

  bool empty() const { return delays_ms.empty() && base_ms == 0; }
  // The wait before the redelivery of an entry delivered `delivery_count`
  // times so far (at least 1). `random` is any uniformly random 64-bit
  // number: the jitter of the exponential form comes from it.
  uint64_t DelayMs(uint32_t delivery_count, uint64_t random) const;
};

// Parses a backoff spec: "" or "none" (redeliver at once), "D1,D2,...", or
// "exp:BASE:CAP", where
// each duration is digits with a unit ms, s, m or h (bare digits: seconds,
// as the CLI reads durations). InvalidArgument, saying what is wrong,
// otherwise.
Result<RedeliveryBackoff> ParseBackoff(std::string_view text);

// Broker-wide defaults; every field is a hermodd flag.
struct QueueDefaults {
  uint64_t max_messages = 0;  // 0: unlimited
  uint64_t max_bytes = 0;     // 0: unlimited
  Overflow overflow = Overflow::kReject;
  uint64_t max_age_ms = 0;       // 0: entries never age out
  uint32_t max_deliveries = 10;  // 0: unlimited
  std::string dead_letter_suffix = ".dlq";
  uint32_t ack_wait_ms = 30000;
  RedeliveryBackoff backoff;  // --redelivery-backoff; empty: at once
};

// What one queue overrides; unset fields follow the defaults.
struct QueueOverrides {
  std::optional<uint64_t> max_messages;
  std::optional<uint64_t> max_bytes;
  std::optional<Overflow> overflow;
  std::optional<uint64_t> max_age_ms;
  std::optional<uint32_t> max_deliveries;
  std::optional<std::string> dead_letter_queue;  // "" means the default name
  std::optional<uint32_t> ack_wait_ms;
  // A backoff spec (ParseBackoff), checked when set; never empty here: an
  // empty spec in ConfigureQueue resets the queue to the broker's default.
  std::optional<std::string> backoff;

  bool empty() const;
  // Sets every field that `other` sets.
  void Merge(const QueueOverrides& other);
  // A tagged, length-prefixed encoding, so fields can be added later and
  // older records still read.
  std::string Encode() const;
  bool Decode(std::string_view bytes);
};

// The settings in force for one queue.
struct QueueLimits {
  uint64_t max_messages = 0;
  uint64_t max_bytes = 0;
  Overflow overflow = Overflow::kReject;
  uint64_t max_age_ms = 0;
  uint32_t max_deliveries = 0;
  std::string dead_letter_queue;
  uint32_t ack_wait_ms = 0;
  RedeliveryBackoff backoff;
};

// Dead-letter queues themselves do not dead-letter by default (a poison
// message would otherwise walk q.dlq, q.dlq.dlq, ...); an override still can.
QueueLimits EffectiveLimits(const QueueDefaults& defaults, const QueueOverrides& overrides,
                            std::string_view queue_name);

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_SETTINGS_H_
