// NamePattern: a queue or group name pattern of a principal's permissions
// (docs/security.md, "Patterns"). `*` matches any run of bytes, none
// included, '/' and ':' too; every other byte matches itself. `{principal}`
// is replaced by the principal's name when the pattern is compiled, so
// `user:{principal}/*` compiled for alice matches `user:alice/phone`.
//
// Compiled once, when principals are loaded; Matches() allocates nothing.
// A value type; immutable after Compile, so any thread may call Matches().
#ifndef HERMOD_BROKER_SERVER_NAME_PATTERN_H_
#define HERMOD_BROKER_SERVER_NAME_PATTERN_H_

#include <string>
#include <string_view>
#include <vector>

#include "hermod/status.h"

namespace hermod::server {

class NamePattern {
 public:
  // The pattern with `{principal}` replaced by `principal`. Fails
  // (kInvalidArgument) on an empty pattern, a brace other than in
  // `{principal}`, or a pattern longer than 255 bytes once expanded (no
  // name is longer).
  static Result<NamePattern> Compile(std::string_view pattern, std::string_view principal);

  bool Matches(std::string_view name) const;
  // The expanded pattern, as written with the name in place.
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  // text_ split at its stars: a name matches when it starts with the first
  // part, ends with the last, and holds the others in order between them.
  std::vector<std::string> parts_;
  bool has_star_ = false;
};

// Any of several patterns: one permission of a principal.
class NamePatterns {
 public:
  // Compiles each of `patterns` for `principal`; the first bad one fails
  // the whole list, naming it.
  static Result<NamePatterns> Compile(const std::vector<std::string>& patterns,
                                      std::string_view principal);
  // A list matching every name ("*").
  static NamePatterns Everything();

  bool Matches(std::string_view name) const;
  bool empty() const { return patterns_.empty(); }
  // The expanded patterns, comma-separated (for logs and change detection).
  std::string ToString() const;

 private:
  std::vector<NamePattern> patterns_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_NAME_PATTERN_H_
