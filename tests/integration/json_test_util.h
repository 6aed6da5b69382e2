// Reading the CLI's JSON in tests: nlohmann-json parses (the library the
// tools write with, tools/json.h); JsonValue is the small read-only view the
// tests assert on (Find, members, items, text, number, boolean).
#ifndef HERMOD_TESTS_INTEGRATION_JSON_TEST_UTIL_H_
#define HERMOD_TESTS_INTEGRATION_JSON_TEST_UTIL_H_

#include <nlohmann/json.hpp>

#include <map>
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
  std::string text;                          // kString: the string; kNumber: its digits
  std::vector<JsonValue> items;              // kArray
  std::map<std::string, JsonValue> members;  // kObject

  // The member `key` of an object, or nullptr.
  const JsonValue* Find(const std::string& key) const {
    auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
  }

  static JsonValue From(const nlohmann::json& j) {
    JsonValue v;
    if (j.is_boolean()) {
      v.type = Type::kBool;
      v.boolean = j.get<bool>();
    } else if (j.is_number()) {
      v.type = Type::kNumber;
      v.number = j.get<double>();
      v.text = j.dump();
    } else if (j.is_string()) {
      v.type = Type::kString;
      v.text = j.get<std::string>();
    } else if (j.is_array()) {
      v.type = Type::kArray;
      for (const nlohmann::json& item : j) v.items.push_back(From(item));
    } else if (j.is_object()) {
      v.type = Type::kObject;
      for (auto it = j.begin(); it != j.end(); ++it) v.members[it.key()] = From(it.value());
    }
    return v;
  }
};

// Parses one JSON document (surrounding whitespace allowed); nullopt when
// `text` is not exactly one valid JSON value.
inline std::optional<JsonValue> ParseJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return JsonValue::From(j);
}

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_JSON_TEST_UTIL_H_
