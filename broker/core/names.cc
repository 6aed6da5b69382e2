#include "names.h"

#include <string>

namespace hermod::core {

bool IsValidUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n) return false;
    for (size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += n + 1;
  }
  return true;
}

Status ValidateQueueName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("queue name is empty");
  if (name.size() > kMaxQueueNameBytes) {
    return Status::InvalidArgument("queue name is " + std::to_string(name.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxQueueNameBytes));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("queue name contains a control character");
    }
  }
  if (!IsValidUtf8(name)) return Status::InvalidArgument("queue name is not valid UTF-8");
  return Status::OK();
}

}  // namespace hermod::core
