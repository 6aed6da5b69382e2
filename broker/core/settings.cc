#include "settings.h"

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

}  // namespace

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
         !dead_letter_queue && !ack_wait_ms;
}

void QueueOverrides::Merge(const QueueOverrides& o) {
  if (o.max_messages) max_messages = o.max_messages;
  if (o.max_bytes) max_bytes = o.max_bytes;
  if (o.overflow) overflow = o.overflow;
  if (o.max_age_ms) max_age_ms = o.max_age_ms;
  if (o.max_deliveries) max_deliveries = o.max_deliveries;
  if (o.dead_letter_queue) dead_letter_queue = o.dead_letter_queue;
  if (o.ack_wait_ms) ack_wait_ms = o.ack_wait_ms;
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
  return limits;
}

}  // namespace hermod::core
