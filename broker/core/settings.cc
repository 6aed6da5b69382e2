#include "settings.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "keys.h"

namespace hermod::core {

namespace {

enum Tag : uint8_t {
  kMaxMessages = 1,
  kMaxBytes = 2,
  kOverflow = 3,
  kMaxAge = 4,
  kMaxDeliveries = 5,
  kDeadLetterQueue = 6,
  kAckWait = 7,
  kBackoff = 8,
};

void PutField(std::string* out, Tag tag, std::string_view value) {
  out->push_back(static_cast<char>(tag));
  store::AppendFixed16(out, static_cast<uint16_t>(value.size()));
  out->append(value);
}
void PutU64(std::string* out, Tag tag, uint64_t v) {
  std::string value;
  store::AppendFixed64(&value, v);
  PutField(out, tag, value);
}

// The longest delay a backoff may name: 49 days, so that any delay fits the
// 32-bit delays of nacks and ack waits, and sums with a clock never wrap.
constexpr uint64_t kMaxBackoffMs = std::numeric_limits<uint32_t>::max();

Result<uint64_t> ParseBackoffDuration(std::string_view text, std::string_view spec) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("backoff '" + std::string(spec) + "': '" + std::string(text) +
                                   "' " + std::string(why));
  };
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (end == text.data()) return bad("is not a duration (want e.g. 500ms, 5s, 2m, 1h)");
  if (ec != std::errc()) return bad("is too long");
  std::string_view unit(end, text.data() + text.size() - end);
  uint64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s" || unit.empty()) {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else {
    return bad("has an unknown unit (want ms, s, m or h)");
  }
  if (n > kMaxBackoffMs / scale) return bad("is too long (at most 49 days)");
  return n * scale;
}

}  // namespace

uint64_t RedeliveryBackoff::DelayMs(uint32_t delivery_count, uint64_t random) const {
  uint32_t n = std::max<uint32_t>(delivery_count, 1);
  if (!delays_ms.empty()) return delays_ms[std::min<size_t>(n, delays_ms.size()) - 1];
  if (base_ms == 0) return 0;
  // base * 2^(n-1), capped; doubling stops at the cap, so nothing overflows.
  uint64_t delay = base_ms;
  for (uint32_t i = 1; i < n && delay < cap_ms; ++i) delay *= 2;
  delay = std::min(delay, cap_ms);
  // Jitter spreads the retries of entries that failed together (a consumer
  // restart) so that they do not come back together.
  uint64_t low = delay / 2;
  return low + random % (delay - low + 1);
}

Result<RedeliveryBackoff> ParseBackoff(std::string_view text) {
  RedeliveryBackoff backoff;
  backoff.text = text.empty() ? "none" : std::string(text);
  if (text.empty() || text == "none") return backoff;
  if (text.starts_with("exp:")) {
    std::string_view rest = text.substr(4);
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("backoff '" + std::string(text) +
                                     "': the exponential form is exp:BASE:CAP, e.g. exp:1s:5m");
    }
    Result<uint64_t> base = ParseBackoffDuration(rest.substr(0, colon), text);
    if (!base.ok()) return base.status();
    Result<uint64_t> cap = ParseBackoffDuration(rest.substr(colon + 1), text);
    if (!cap.ok()) return cap.status();
    if (*base == 0) {
      return Status::InvalidArgument("backoff '" + std::string(text) + "': BASE must be above 0");
    }
    if (*cap < *base) {
      return Status::InvalidArgument("backoff '" + std::string(text) +
                                     "': CAP must be at least BASE");
    }
    backoff.base_ms = *base;
    backoff.cap_ms = *cap;
    return backoff;
  }
  // Bounded so that a spec stays a small setting (it is stored per queue).
  constexpr size_t kMaxDelays = 32;
  std::string_view rest = text;
  for (;;) {
    size_t comma = rest.find(',');
    Result<uint64_t> delay = ParseBackoffDuration(rest.substr(0, comma), text);
    if (!delay.ok()) return delay.status();
    backoff.delays_ms.push_back(*delay);
    if (backoff.delays_ms.size() > kMaxDelays) {
      return Status::InvalidArgument("backoff '" + std::string(text) + "': at most " +
                                     std::to_string(kMaxDelays) + " delays");
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return backoff;
}

const char* OverflowName(Overflow overflow) {
  return overflow == Overflow::kDropOldest ? "drop-oldest" : "reject";
}

Result<Overflow> ParseOverflow(std::string_view text) {
  if (text == "reject") return Overflow::kReject;
  if (text == "drop-oldest") return Overflow::kDropOldest;
  return Status::InvalidArgument("overflow must be reject or drop-oldest, not '" +
                                 std::string(text) + "'");
}

bool QueueOverrides::empty() const {
  return !max_messages && !max_bytes && !overflow && !max_age_ms && !max_deliveries &&
         !dead_letter_queue && !ack_wait_ms && !backoff;
}

void QueueOverrides::Merge(const QueueOverrides& o) {
  if (o.max_messages) max_messages = o.max_messages;
  if (o.max_bytes) max_bytes = o.max_bytes;
  if (o.overflow) overflow = o.overflow;
  if (o.max_age_ms) max_age_ms = o.max_age_ms;
  if (o.max_deliveries) max_deliveries = o.max_deliveries;
  if (o.dead_letter_queue) dead_letter_queue = o.dead_letter_queue;
  if (o.ack_wait_ms) ack_wait_ms = o.ack_wait_ms;
  if (o.backoff) backoff = o.backoff;
}

std::string QueueOverrides::Encode() const {
  std::string out;
  if (max_messages) PutU64(&out, kMaxMessages, *max_messages);
  if (max_bytes) PutU64(&out, kMaxBytes, *max_bytes);
  if (overflow) PutU64(&out, kOverflow, static_cast<uint64_t>(*overflow));
  if (max_age_ms) PutU64(&out, kMaxAge, *max_age_ms);
  if (max_deliveries) PutU64(&out, kMaxDeliveries, *max_deliveries);
  if (dead_letter_queue) PutField(&out, kDeadLetterQueue, *dead_letter_queue);
  if (ack_wait_ms) PutU64(&out, kAckWait, *ack_wait_ms);
  if (backoff) PutField(&out, kBackoff, *backoff);
  return out;
}

bool QueueOverrides::Decode(std::string_view bytes) {
  *this = QueueOverrides();
  while (!bytes.empty()) {
    if (bytes.size() < 3) return false;
    auto tag = static_cast<uint8_t>(bytes[0]);
    uint16_t len = store::DecodeFixed16(bytes.data() + 1);
    if (bytes.size() < 3u + len) return false;
    std::string_view value = bytes.substr(3, len);
    bytes.remove_prefix(3 + len);
    auto u64 = [&]() -> std::optional<uint64_t> {
      if (value.size() != 8) return std::nullopt;
      return store::DecodeFixed64(value.data());
    };
    switch (tag) {
      case kMaxMessages:
        max_messages = u64();
        break;
      case kMaxBytes:
        max_bytes = u64();
        break;
      case kOverflow:
        if (auto v = u64()) overflow = static_cast<Overflow>(*v);
        break;
      case kMaxAge:
        max_age_ms = u64();
        break;
      case kMaxDeliveries:
        if (auto v = u64()) max_deliveries = static_cast<uint32_t>(*v);
        break;
      case kDeadLetterQueue:
        dead_letter_queue = std::string(value);
        break;
      case kAckWait:
        if (auto v = u64()) ack_wait_ms = static_cast<uint32_t>(*v);
        break;
      case kBackoff:
        backoff = std::string(value);
        break;
      default:
        break;  // a field from a newer version: ignore it
    }
  }
  return true;
}

QueueLimits EffectiveLimits(const QueueDefaults& d, const QueueOverrides& o,
                            std::string_view queue_name) {
  QueueLimits limits;
  limits.max_messages = o.max_messages.value_or(d.max_messages);
  limits.max_bytes = o.max_bytes.value_or(d.max_bytes);
  limits.overflow = o.overflow.value_or(d.overflow);
  limits.max_age_ms = o.max_age_ms.value_or(d.max_age_ms);
  bool is_dead_letter_queue = !d.dead_letter_suffix.empty() &&
                              queue_name.size() > d.dead_letter_suffix.size() &&
                              queue_name.ends_with(d.dead_letter_suffix);
  limits.max_deliveries = o.max_deliveries.value_or(is_dead_letter_queue ? 0 : d.max_deliveries);
  limits.dead_letter_queue = o.dead_letter_queue.value_or("");
  if (limits.dead_letter_queue.empty()) {
    limits.dead_letter_queue = std::string(queue_name) + d.dead_letter_suffix;
  }
  limits.ack_wait_ms = o.ack_wait_ms.value_or(d.ack_wait_ms);
  limits.backoff = d.backoff;
  if (o.backoff && !o.backoff->empty()) {
    // Checked when it was set; a spec this version cannot read (written by
    // a newer one) falls back to the default rather than failing the queue.
    Result<RedeliveryBackoff> parsed = ParseBackoff(*o.backoff);
    if (parsed.ok()) limits.backoff = std::move(*parsed);
  }
  return limits;
}

}  // namespace hermod::core
