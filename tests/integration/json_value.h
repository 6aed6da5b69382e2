// JsonValue and ParseJson: a small, strict JSON parser for tests that check
// the CLI's --json output (RFC 8259: objects, arrays, strings with escapes
// including surrogate pairs, numbers, true, false, null). Header-only, no
// shared state; any thread.
#ifndef HERMOD_TESTS_INTEGRATION_JSON_VALUE_H_
#define HERMOD_TESTS_INTEGRATION_JSON_VALUE_H_

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hermod::test {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;                          // kString: the decoded string; kNumber: its digits
  std::vector<JsonValue> items;              // kArray
  std::map<std::string, JsonValue> members;  // kObject

  // The member `key` of an object, or nullptr.
  const JsonValue* Find(const std::string& key) const {
    auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
  }
};

namespace json_internal {

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  std::optional<JsonValue> ParseDocument() {
    std::optional<JsonValue> value = ParseValue(0);
    SkipSpace();
    if (!value || pos_ != in_.size()) return std::nullopt;
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<JsonValue> ParseValue(int depth) {
    if (depth > kMaxDepth) return std::nullopt;
    SkipSpace();
    if (pos_ >= in_.size()) return std::nullopt;
    JsonValue v;
    const char c = in_[pos_];
    if (c == '{') return ParseObject(depth);
    if (c == '[') return ParseArray(depth);
    if (c == '"') {
      v.type = JsonValue::Type::kString;
      if (!ParseString(&v.text)) return std::nullopt;
      return v;
    }
    if (Consume("true")) {
      v.type = JsonValue::Type::kBool;
      v.boolean = true;
      return v;
    }
    if (Consume("false")) {
      v.type = JsonValue::Type::kBool;
      return v;
    }
    if (Consume("null")) return v;
    return ParseNumber();
  }

  std::optional<JsonValue> ParseNumber() {
    const size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return std::nullopt;
    }
    if (pos_ < in_.size() && in_[pos_] == '.') {
      ++pos_;
      if (!digits()) return std::nullopt;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (!digits()) return std::nullopt;
    }
    JsonValue v;
    v.type = JsonValue::Type::kNumber;
    v.text = std::string(in_.substr(start, pos_ - start));
    v.number = std::strtod(v.text.c_str(), nullptr);
    return v;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ParseHex4(uint32_t* out) {
    if (pos_ + 4 > in_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<uint32_t>(h - 'A' + 10);
      else
        return false;
    }
    *out = v;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // the opening quote
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // must be escaped
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!ParseHex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (!Consume("\\u") || !ParseHex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::optional<JsonValue> ParseArray(int depth) {
    ++pos_;
    JsonValue v;
    v.type = JsonValue::Type::kArray;
    SkipSpace();
    if (Consume("]")) return v;
    for (;;) {
      std::optional<JsonValue> item = ParseValue(depth + 1);
      if (!item) return std::nullopt;
      v.items.push_back(std::move(*item));
      SkipSpace();
      if (Consume("]")) return v;
      if (!Consume(",")) return std::nullopt;
    }
  }

  std::optional<JsonValue> ParseObject(int depth) {
    ++pos_;
    JsonValue v;
    v.type = JsonValue::Type::kObject;
    SkipSpace();
    if (Consume("}")) return v;
    for (;;) {
      SkipSpace();
      std::string key;
      if (pos_ >= in_.size() || in_[pos_] != '"' || !ParseString(&key)) return std::nullopt;
      SkipSpace();
      if (!Consume(":")) return std::nullopt;
      std::optional<JsonValue> member = ParseValue(depth + 1);
      if (!member) return std::nullopt;
      v.members[key] = std::move(*member);
      SkipSpace();
      if (Consume("}")) return v;
      if (!Consume(",")) return std::nullopt;
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace json_internal

// Parses one JSON document (surrounding whitespace allowed); nullopt when
// `text` is not exactly one valid JSON value.
inline std::optional<JsonValue> ParseJson(std::string_view text) {
  return json_internal::Parser(text).ParseDocument();
}

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_JSON_VALUE_H_
