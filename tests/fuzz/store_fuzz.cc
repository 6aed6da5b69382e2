// Fuzz target: what the store reads back from disk, for a damaged data
// directory (`hermod db check` and recovery must report, not crash). The
// first byte picks the decoder: a log record, a message envelope, or a
// queue's setting overrides.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "envelope.h"
#include "log_record.h"
#include "settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t touched = 0;
  switch (data[0] % 3) {
    case 0: {
      hermod::store::LogReader reader(bytes);
      hermod::store::LogOp op;
      while (reader.Next(&op)) {
        touched += op.name.size() + op.envelope.size() + op.settings.size() + op.dedup_id.size();
        hermod::store::EnvelopeView envelope;
        if (!op.envelope.empty() && envelope.Parse(op.envelope)) {
          envelope.ForEachHeader(
              [&](std::string_view k, std::string_view v) { touched += k.size() + v.size(); });
        }
      }
      break;
    }
    case 1: {
      hermod::store::EnvelopeView envelope;
      if (envelope.Parse(bytes)) {
        envelope.ForEachHeader(
            [&](std::string_view k, std::string_view v) { touched += k.size() + v.size(); });
        touched += envelope.payload().size();
      }
      break;
    }
    case 2: {
      hermod::core::QueueOverrides overrides;
      if (overrides.Decode(bytes)) touched += overrides.Encode().size();
      break;
    }
  }
  return touched > (size_t{1} << 40) ? 1 : 0;  // never; keeps the reads
}
