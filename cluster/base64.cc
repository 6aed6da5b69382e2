#include "base64.h"

#include <openssl/evp.h>

#include <climits>

namespace hermod::cluster {

namespace {
// EVP_*Block take int lengths.
constexpr size_t kMaxInput = INT_MAX / 2;
}  // namespace

std::string Base64Encode(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (bytes.size() > kMaxInput) return {};  // no etcd key or value comes near 1 GiB
  // Four characters per three bytes, plus the NUL EVP_EncodeBlock writes.
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.empty()) return std::string();
  // EVP_DecodeBlock skips surrounding whitespace and takes '=' anywhere;
  // etcd sends exact padded blocks, so anything else is refused here.
  if (text.size() % 4 != 0 || text.size() > kMaxInput) return std::nullopt;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    const char c = text[i];
    const bool in_alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!in_alphabet) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return std::nullopt;
  // EVP_DecodeBlock decodes '=' as zero bits and counts those bytes.
  out.resize(out.size() - padding);
  return out;
}

}  // namespace hermod::cluster
