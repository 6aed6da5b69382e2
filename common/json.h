// JSON for the CLI's --json modes, the db tools, the benchmarks and the
// broker's console API (broker/server/http_service.h): one
// writer, nlohmann::ordered_json (Debian's nlohmann-json3-dev), with the
// rules every command shares: members in the order they were set, one line,
// bytes that are not valid UTF-8 as U+FFFD (never an exception), numbers
// that JSON cannot hold (NaN, infinities) as null. Plus the two things that
// are not JSON: the base64 of binary payloads and the test for payloads
// that print as text. Pure functions; any thread.
#ifndef HERMOD_COMMON_JSON_H_
#define HERMOD_COMMON_JSON_H_

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace hermod {

using Json = nlohmann::ordered_json;

// j on one line, without a newline.
std::string DumpJson(const Json& j);

// A number: integral values below 2^53 as integers, others rounded to 3
// decimals; NaN and infinities (which JSON cannot hold) as null.
Json JsonNumber(double value);

// s as a quoted JSON string (for text output that quotes names and values).
inline std::string QuoteJson(std::string_view s) { return DumpJson(Json(std::string(s))); }

// Sets "payload" (when it prints as text) or "payload_base64" on *object,
// the way `hermod sub --json` shows a message.
void SetPayload(Json* object, std::string_view payload);

// True when s is valid UTF-8 with no control characters other than tab,
// line feed and carriage return: such a payload prints as a JSON string.
bool IsPrintableUtf8(std::string_view s);

// Appends the standard base64 (RFC 4648, with padding) of bytes.
void AppendBase64(std::string* out, std::string_view bytes);

}  // namespace hermod

#endif  // HERMOD_COMMON_JSON_H_
