// TIME arguments of the `hermod` CLI (pub --deliver-at): an RFC 3339 time
// ("2026-12-06T10:00:00Z", "2026-12-06T11:00:00.250+01:00") or milliseconds
// since the epoch ("1796551200000"). Pure functions; any thread.
#ifndef HERMOD_TOOLS_TIMESTAMP_H_
#define HERMOD_TOOLS_TIMESTAMP_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::cli {

// Parses a TIME into milliseconds since the epoch. RFC 3339 needs a date, a
// 'T' (or 't', or a space), the time to the second, optionally a fraction
// (rounded down to ms), and a zone: 'Z' or an offset "+HH:MM"/"-HH:MM".
// Bare digits are epoch milliseconds. Fails with kInvalidArgument, naming
// the text, on anything else (times before 1970 included).
Result<uint64_t> ParseTimestamp(std::string_view text);

// The validator of CLI options taking a TIME: "" when text parses, else
// the reason.
std::string CheckTimestamp(const std::string& text);

}  // namespace hermod::cli

#endif  // HERMOD_TOOLS_TIMESTAMP_H_
