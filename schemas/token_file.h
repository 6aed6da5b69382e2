// Auth token files, read by hermodd (--auth-token-file: the tokens it
// accepts) and by the hermod CLI (--token-file: the token it sends).
//
// One token per line; leading and trailing whitespace is dropped, and empty
// lines and lines starting with '#' are skipped. A token is 16 to 1024
// bytes of printable ASCII without spaces, so that a truncated or mistyped
// file is refused rather than accepted as a short, guessable secret.
#ifndef HERMOD_SCHEMAS_TOKEN_FILE_H_
#define HERMOD_SCHEMAS_TOKEN_FILE_H_

#include <string>
#include <vector>

#include "hermod/status.h"

namespace hermod {

inline constexpr size_t kMinTokenBytes = 16;
inline constexpr size_t kMaxTokenBytes = 1024;

// Every token in the file, in file order. Errors (kIoError, or
// kInvalidArgument naming the line) when the file cannot be read, holds no
// token, or holds a malformed one.
Result<std::vector<std::string>> ReadTokenFile(const std::string& path);

}  // namespace hermod

#endif  // HERMOD_SCHEMAS_TOKEN_FILE_H_
