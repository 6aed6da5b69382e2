// Validation of the names clients send (queue names). Pure functions.
#ifndef HERMOD_BROKER_CORE_NAMES_H_
#define HERMOD_BROKER_CORE_NAMES_H_

#include <string_view>

#include "hermod/status.h"

namespace hermod::core {

inline constexpr size_t kMaxQueueNameBytes = 255;

// A queue name is 1 to 255 bytes of UTF-8 without control characters.
Status ValidateQueueName(std::string_view name);

// Whether bytes are well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view bytes);

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_NAMES_H_
