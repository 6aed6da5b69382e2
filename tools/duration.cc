// ParseDuration (duration.h): integer arithmetic only, so that "0.1s" is
// exactly 100 ms rather than whatever a double makes of it.
#include "duration.h"

#include <cstdint>

namespace hermod::cli {

namespace {

Status Bad(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("bad duration '" + std::string(text) + "': " + std::string(why) +
                                 " (want e.g. 250ms, 5s, 2m, 1h, or seconds)");
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const int64_t max_ms = kMaxDuration.count();
  size_t pos = 0;
  // Whole units, at most 13 digits so that the value cannot overflow below.
  int64_t whole = 0;
  size_t whole_digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (++whole_digits > 13) return Bad(text, "too large");
    whole = whole * 10 + (text[pos] - '0');
    ++pos;
  }
  // The fraction, kept to 9 digits (beyond that no unit reaches 1 ms).
  int64_t fraction = 0;
  int64_t fraction_scale = 1;
  size_t fraction_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (fraction_digits < 9) {
        fraction = fraction * 10 + (text[pos] - '0');
        fraction_scale *= 10;
      }
      ++fraction_digits;
      ++pos;
    }
    if (fraction_digits == 0) return Bad(text, "no digits after '.'");
  }
  if (whole_digits == 0 && fraction_digits == 0) return Bad(text, "no number");

  const std::string_view unit = text.substr(pos);
  int64_t unit_ms;
  if (unit.empty() || unit == "s") {
    unit_ms = 1000;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  } else if (unit == "h") {
    unit_ms = 3600 * 1000;
  } else {
    return Bad(text, "unknown unit '" + std::string(unit) + "'");
  }
  if (whole > max_ms / unit_ms) return Bad(text, "too large");
  const int64_t ms = whole * unit_ms + fraction * unit_ms / fraction_scale;
  if (ms > max_ms) return Bad(text, "too large");
  return std::chrono::milliseconds(ms);
}

std::string CheckDuration(const std::string& text) {
  Result<std::chrono::milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? std::string() : parsed.status().message();
}

}  // namespace hermod::cli
