#include "principals.h"

// toml++ header-only and without exceptions (hermod code does not throw):
// parse errors come back as a parse_result. Only this file includes it.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <set>
#include <vector>

#include "token_hash.h"

namespace hermod::server {

namespace {

constexpr size_t kMaxPrincipalNameBytes = 64;

std::string Where(const std::string& path, const toml::node& node) {
  return path + ":" + std::to_string(node.source().begin.line);
}

// A key's value as a list of patterns (an array of strings).
Result<std::vector<std::string>> StringArray(const std::string& path, const toml::table& table,
                                             std::string_view key) {
  std::vector<std::string> out;
  const toml::node* node = table.get(key);
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return Status::InvalidArgument(Where(path, *node) + ": " + std::string(key) +
                                   " must be an array of strings");
  }
  for (const toml::node& item : *array) {
    std::optional<std::string> text = item.value<std::string>();
    if (!item.is_string() || !text) {
      return Status::InvalidArgument(Where(path, item) + ": " + std::string(key) +
                                     " must be an array of strings");
    }
    out.push_back(std::move(*text));
  }
  return out;
}

Result<PrincipalPtr> ReadPrincipal(const std::string& path, const toml::table& table) {
  static const std::set<std::string_view> kKeys = {
      "name", "token_hash", "publish", "consume", "manage", "admin", "certificate", "unix_uid"};
  for (const auto& [key, value] : table) {
    if (kKeys.count(key.str()) == 0) {
      return Status::InvalidArgument(Where(path, value) + ": unknown key " +
                                     std::string(key.str()) +
                                     " in [[principal]] (name, token_hash, publish, consume, "
                                     "manage, admin, certificate, unix_uid)");
    }
  }
  auto principal = std::make_shared<Principal>();
  std::optional<std::string> name = table["name"].value<std::string>();
  if (!name || !table["name"].is_string()) {
    return Status::InvalidArgument(Where(path, table) + ": [[principal]] without a name");
  }
  if (!IsPrincipalName(*name)) {
    return Status::InvalidArgument(Where(path, table) + ": principal name \"" + *name +
                                   "\" is not 1 to 64 bytes of A-Z a-z 0-9 . _ - @");
  }
  principal->name = *name;
  const std::string what = Where(path, table) + ": principal " + *name;
  if (const toml::node* certificate = table.get("certificate")) {
    if (!certificate->is_boolean()) {
      return Status::InvalidArgument(what + ": certificate must be true or false");
    }
    principal->certificate = certificate->as_boolean()->get();
  }
  if (const toml::node* uid = table.get("unix_uid")) {
    std::optional<int64_t> n = uid->value<int64_t>();
    if (!uid->is_integer() || !n || *n < 0 || *n > UINT32_MAX) {
      return Status::InvalidArgument(what + ": unix_uid must be a user id (0 to 4294967295)");
    }
    principal->unix_uid = static_cast<uint32_t>(*n);
  }
  const bool tokenless = principal->certificate || principal->unix_uid.has_value();
  std::optional<std::string> hash = table["token_hash"].value<std::string>();
  if (!table.get("token_hash") && tokenless) {
    // Let in by its certificate or uid only.
  } else if (!hash || !table["token_hash"].is_string()) {
    return Status::InvalidArgument(what +
                                   " has no token_hash (make one with hermod auth hash), nor "
                                   "certificate = true or a unix_uid");
  } else if (!IsTokenHash(*hash)) {
    return Status::InvalidArgument(what +
                                   ": token_hash is not an argon2id hash (hermod auth hash "
                                   "prints one; never put the token itself here)");
  } else {
    principal->token_hash = *hash;
  }
  if (const toml::node* admin = table.get("admin")) {
    if (!admin->is_boolean())
      return Status::InvalidArgument(what + ": admin must be true or false");
    principal->admin = admin->as_boolean()->get();
  }
  struct List {
    std::string_view key;
    NamePatterns* patterns;
  };
  for (List list : {List{"publish", &principal->publish}, List{"consume", &principal->consume},
                    List{"manage", &principal->manage}}) {
    Result<std::vector<std::string>> texts = StringArray(path, table, list.key);
    if (!texts.ok()) return texts.status();
    Result<NamePatterns> patterns = NamePatterns::Compile(*texts, *name);
    if (!patterns.ok()) {
      return Status::InvalidArgument(what + ": " + std::string(list.key) + ": " +
                                     patterns.status().message());
    }
    *list.patterns = std::move(*patterns);
  }
  return PrincipalPtr(std::move(principal));
}

}  // namespace

std::string Principal::Rules() const {
  return "publish=" + publish.ToString() + ";consume=" + consume.ToString() +
         ";manage=" + manage.ToString() + ";admin=" + (admin ? "true" : "false") +
         ";certificate=" + (certificate ? "true" : "false") +
         ";unix_uid=" + (unix_uid ? std::to_string(*unix_uid) : std::string("none"));
}

PrincipalPtr PrincipalSet::Find(std::string_view name) const {
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : it->second;
}

PrincipalPtr PrincipalSet::FindByUid(uint32_t uid) const {
  for (const auto& [name, principal] : by_name) {
    if (principal->unix_uid == uid) return principal;
  }
  return nullptr;
}

bool IsPrincipalName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPrincipalNameBytes) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return false;
  }
  return true;
}

Result<PrincipalSet> ReadPrincipals(const std::string& path) {
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    std::string why(error.description());
    if (why.find("File could not be opened") != std::string::npos) {
      return Status::IoError("cannot read " + path);
    }
    return Status::InvalidArgument(path + ":" + std::to_string(error.source().begin.line) + ": " +
                                   why);
  }
  const toml::table& root = parsed.table();
  PrincipalSet set;
  const toml::node* node = root.get("principal");
  if (node == nullptr) return set;
  const toml::array* tables = node->as_array();
  if (tables == nullptr) {
    return Status::InvalidArgument(Where(path, *node) +
                                   ": principals are [[principal]] tables (double brackets)");
  }
  for (const toml::node& item : *tables) {
    const toml::table* table = item.as_table();
    if (table == nullptr) {
      return Status::InvalidArgument(Where(path, item) + ": principals are [[principal]] tables");
    }
    Result<PrincipalPtr> principal = ReadPrincipal(path, *table);
    if (!principal.ok()) return principal.status();
    const std::string& name = (*principal)->name;
    if (!set.by_name.emplace(name, std::move(*principal)).second) {
      return Status::InvalidArgument(Where(path, item) + ": principal " + name +
                                     " is defined twice");
    }
  }
  return set;
}

}  // namespace hermod::server
