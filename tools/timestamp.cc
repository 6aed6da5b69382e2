// ParseTimestamp (timestamp.h): integer arithmetic on the civil calendar,
// so that neither the process's time zone nor timegm(3) plays a part.
#include "timestamp.h"

#include <algorithm>
#include <charconv>

namespace hermod::cli {

namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
// (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

// Reads exactly `width` digits at text[*at], moving *at past them.
bool Digits(std::string_view text, size_t* at, size_t width, unsigned* out) {
  if (*at + width > text.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = text[*at + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *at += width;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* at, std::string_view one_of) {
  if (*at >= text.size() || one_of.find(text[*at]) == std::string_view::npos) return false;
  ++*at;
  return true;
}

}  // namespace

Result<uint64_t> ParseTimestamp(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("'" + std::string(text) + "' " + std::string(why));
  };
  if (text.empty()) return bad("is not a time (want 2026-12-06T10:00:00Z or epoch ms)");
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t ms = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || end != text.data() + text.size()) return bad("is too large");
    return ms;
  }
  size_t at = 0;
  unsigned year, month, day, hour, minute, second;
  if (!Digits(text, &at, 4, &year) || !Expect(text, &at, "-") || !Digits(text, &at, 2, &month) ||
      !Expect(text, &at, "-") || !Digits(text, &at, 2, &day) || !Expect(text, &at, "Tt ") ||
      !Digits(text, &at, 2, &hour) || !Expect(text, &at, ":") || !Digits(text, &at, 2, &minute) ||
      !Expect(text, &at, ":") || !Digits(text, &at, 2, &second)) {
    return bad("is not a time (want 2026-12-06T10:00:00Z or epoch ms)");
  }
  static constexpr unsigned kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 ||
      day > kMonthDays[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0) || hour > 23 ||
      minute > 59 || second > 60) {
    return bad("is not a valid date and time");
  }
  second = std::min(second, 59u);  // a leap second counts as the one before it
  unsigned millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    size_t first = at;
    unsigned scale = 100;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      millis += static_cast<unsigned>(text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return bad("has a '.' without digits");
  }
  int64_t offset_minutes = 0;
  if (Expect(text, &at, "Zz")) {
    // UTC.
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int sign = text[at] == '-' ? -1 : 1;
    ++at;
    unsigned oh, om;
    if (!Digits(text, &at, 2, &oh) || !Expect(text, &at, ":") || !Digits(text, &at, 2, &om) ||
        oh > 23 || om > 59) {
      return bad("has a bad zone offset (want Z or +HH:MM)");
    }
    offset_minutes = sign * static_cast<int64_t>(oh * 60 + om);
  } else {
    return bad("needs a zone: Z (UTC) or an offset like +01:00");
  }
  if (at != text.size()) return bad("has text after the time");
  int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                    offset_minutes * 60;
  if (seconds < 0) return bad("is before 1970");
  return static_cast<uint64_t>(seconds) * 1000 + millis;
}

std::string CheckTimestamp(const std::string& text) {
  Result<uint64_t> parsed = ParseTimestamp(text);
  return parsed.ok() ? std::string() : parsed.status().message();
}

}  // namespace hermod::cli
