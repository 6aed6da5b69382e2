// HttpQuery: a request's query string (?a=1&b=x%20y), decoded, with the
// number and page-size rules the console's API shares (docs/console.md).
#ifndef HERMOD_BROKER_SERVER_HTTP_QUERY_H_
#define HERMOD_BROKER_SERVER_HTTP_QUERY_H_

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermod/status.h"

namespace hermod::server {

// The query's parameters, decoded; a malformed escape: an error.
class HttpQuery {
 public:
  static Result<HttpQuery> Parse(std::string_view query);
  // The first value of `key`; empty when absent.
  std::string Get(std::string_view key) const {
    for (const auto& [k, v] : params_) {
      if (k == key) return v;
    }
    return {};
  }
  // A number parameter: `fallback` when absent, an error when not a number.
  Result<uint64_t> Number(std::string_view key, uint64_t fallback) const {
    std::string text = Get(key);
    if (text.empty()) return fallback;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(std::string(key) + " must be a number, not " + text);
    }
    return value;
  }
  // A page size, "limit": `fallback` when absent, else 1 to `max`.
  Result<uint32_t> Limit(uint64_t fallback, uint64_t max) const {
    Result<uint64_t> limit = Number("limit", fallback);
    if (!limit.ok()) return limit.status();
    if (*limit == 0 || *limit > max) {
      return Status::InvalidArgument("limit: 1 to " + std::to_string(max));
    }
    return *limit;
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_HTTP_QUERY_H_
