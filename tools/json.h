// JSON output for the CLI's --json modes: string literals, numbers, base64,
// and the test for payloads that print as text. Pure functions; any thread.
#ifndef HERMOD_TOOLS_JSON_H_
#define HERMOD_TOOLS_JSON_H_

#include <string>
#include <string_view>

namespace hermod::cli {

// Appends s as a JSON string literal, quotes included. Bytes that are not
// valid UTF-8 become U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

// True when s is valid UTF-8 with no control characters other than tab,
// line feed and carriage return: such a payload prints as a JSON string.
bool IsPrintableUtf8(std::string_view s);

// Appends the standard base64 (RFC 4648, with padding) of bytes.
void AppendBase64(std::string* out, std::string_view bytes);

// Appends a number as JSON: integral values (below 2^53) without a
// fraction, others with up to 3 decimals; NaN and infinities, which JSON
// cannot hold, as 0.
void AppendJsonNumber(std::string* out, double value);

}  // namespace hermod::cli

#endif  // HERMOD_TOOLS_JSON_H_
