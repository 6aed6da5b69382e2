#include "token_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace hermod {

namespace {

std::string Trim(const std::string& line) {
  const char* kSpace = " \t\r\n\f\v";
  size_t first = line.find_first_not_of(kSpace);
  if (first == std::string::npos) return {};
  size_t last = line.find_last_not_of(kSpace);
  return line.substr(first, last - first + 1);
}

}  // namespace

Result<std::vector<std::string>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot read token file " + path + ": " + std::strerror(errno));
  std::vector<std::string> tokens;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string token = Trim(line);
    if (token.empty() || token[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number);
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      return Status::InvalidArgument(where + ": a token is " + std::to_string(kMinTokenBytes) +
                                     " to " + std::to_string(kMaxTokenBytes) + " bytes, this one " +
                                     std::to_string(token.size()));
    }
    for (char c : token) {
      if (c <= ' ' || c > '~') {
        return Status::InvalidArgument(where + ": a token is printable ASCII without spaces");
      }
    }
    tokens.push_back(std::move(token));
  }
  if (in.bad()) return Status::IoError("cannot read token file " + path);
  if (tokens.empty()) return Status::InvalidArgument("token file " + path + " holds no token");
  return tokens;
}

}  // namespace hermod
