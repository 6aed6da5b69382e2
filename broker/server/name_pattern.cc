#include "name_pattern.h"

namespace hermod::server {

namespace {

constexpr std::string_view kPrincipalPlaceholder = "{principal}";
constexpr size_t kMaxPatternBytes = 255;

}  // namespace

Result<NamePattern> NamePattern::Compile(std::string_view pattern, std::string_view principal) {
  if (pattern.empty()) return Status::InvalidArgument("a name pattern cannot be empty");
  NamePattern compiled;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.substr(i, kPrincipalPlaceholder.size()) == kPrincipalPlaceholder) {
      compiled.text_ += principal;
      i += kPrincipalPlaceholder.size();
      continue;
    }
    // A brace anywhere else is a mistyped placeholder ("{user}"): refused,
    // rather than matched literally and silently never granting anything.
    if (pattern[i] == '{' || pattern[i] == '}') {
      return Status::InvalidArgument("name pattern \"" + std::string(pattern) +
                                     "\": the only placeholder is {principal}");
    }
    compiled.text_ += pattern[i++];
  }
  if (compiled.text_.size() > kMaxPatternBytes) {
    return Status::InvalidArgument("name pattern \"" + std::string(pattern) +
                                   "\" is longer than 255 bytes");
  }
  compiled.parts_.emplace_back();
  for (char c : compiled.text_) {
    if (c == '*') {
      compiled.has_star_ = true;
      compiled.parts_.emplace_back();
    } else {
      compiled.parts_.back() += c;
    }
  }
  return compiled;
}

bool NamePattern::Matches(std::string_view name) const {
  if (!has_star_) return name == text_;
  const std::string& first = parts_.front();
  const std::string& last = parts_.back();
  if (name.size() < first.size() + last.size()) return false;
  if (name.substr(0, first.size()) != first) return false;
  if (name.substr(name.size() - last.size()) != last) return false;
  // The middle parts in order, each at its leftmost place: with `*` the
  // only wildcard, the leftmost place never rules out a match that a later
  // one would allow.
  std::string_view rest = name.substr(first.size(), name.size() - first.size() - last.size());
  for (size_t i = 1; i + 1 < parts_.size(); ++i) {
    size_t at = rest.find(parts_[i]);
    if (at == std::string_view::npos) return false;
    rest.remove_prefix(at + parts_[i].size());
  }
  return true;
}

Result<NamePatterns> NamePatterns::Compile(const std::vector<std::string>& patterns,
                                           std::string_view principal) {
  NamePatterns list;
  for (const std::string& text : patterns) {
    Result<NamePattern> pattern = NamePattern::Compile(text, principal);
    if (!pattern.ok()) return pattern.status();
    list.patterns_.push_back(std::move(*pattern));
  }
  return list;
}

NamePatterns NamePatterns::Everything() {
  NamePatterns list;
  list.patterns_.push_back(*NamePattern::Compile("*", ""));
  return list;
}

bool NamePatterns::Matches(std::string_view name) const {
  for (const NamePattern& pattern : patterns_) {
    if (pattern.Matches(name)) return true;
  }
  return false;
}

std::string NamePatterns::ToString() const {
  std::string out;
  for (const NamePattern& pattern : patterns_) {
    if (!out.empty()) out += ',';
    out += pattern.text();
  }
  return out;
}

}  // namespace hermod::server
