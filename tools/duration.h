// DURATION arguments of the `hermod` CLI: "250ms", "5s", "2m", "1h", or a
// bare number of seconds ("10", "0.5"). One parser for every option that
// takes a duration (--ttl, --ack-wait, --nack-delay, --max-age, --timeout).
// Pure functions; any thread.
#ifndef HERMOD_TOOLS_DURATION_H_
#define HERMOD_TOOLS_DURATION_H_

#include <chrono>
#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::cli {

// The largest duration accepted: about 29 years, far beyond any broker
// setting, and small enough that no arithmetic on it overflows.
inline constexpr std::chrono::milliseconds kMaxDuration{int64_t{1} << 40};

// Parses a non-negative decimal number (digits, optionally a '.' and more
// digits) followed by a unit: "ms", "s", "m" or "h"; no unit means seconds.
// The result is rounded down to whole milliseconds ("1.5ms" is 1 ms).
// Fails with kInvalidArgument, and a message that names the text, on
// anything else: empty text, a sign, spaces, an unknown unit, or a value
// above kMaxDuration.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The validator of CLI options taking a DURATION: "" when text parses, else
// the reason (CLI11 prefixes the option's name).
std::string CheckDuration(const std::string& text);

}  // namespace hermod::cli

#endif  // HERMOD_TOOLS_DURATION_H_
