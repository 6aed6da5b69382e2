// Principals: who may connect to hermodd and what each may do
// (docs/security.md, "Principals and permissions"). A principal has a name,
// the argon2id hash of its token, and name patterns for what it may publish
// to, consume from and manage (groups), and whether it is an admin.
//
// A PrincipalSet is read from the `[[principal]]` tables of a TOML file at
// start and on SIGHUP, then never changed: sessions hold shared pointers to
// the Principal they authenticated as, so a reload swaps the set without
// touching a session that is still using the old one. Immutable, so any
// thread may read it.
#ifndef HERMOD_BROKER_SERVER_PRINCIPALS_H_
#define HERMOD_BROKER_SERVER_PRINCIPALS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hermod/status.h"
#include "name_pattern.h"

namespace hermod::server {

struct Principal {
  std::string name;
  std::string token_hash;  // argon2id, from `hermod auth hash`
  NamePatterns publish;    // queues and groups it may publish to
  NamePatterns consume;    // queues it may subscribe to (and so ack and nack)
  NamePatterns manage;     // groups it may create, delete and change
  bool admin = false;      // queue and group administration, stats
  // Let in without a token: a client whose certificate (verified against
  // --tls-client-ca) has this principal's name as its subject CN, and a
  // client on the Unix socket running as this uid.
  bool certificate = false;
  std::optional<uint32_t> unix_uid;

  // Everything that decides what it may do, as text: a reload that changes
  // it closes the principal's connections (docs/security.md, "Reloading").
  std::string Rules() const;
};

using PrincipalPtr = std::shared_ptr<const Principal>;

struct PrincipalSet {
  std::map<std::string, PrincipalPtr, std::less<>> by_name;

  bool empty() const { return by_name.empty(); }
  // The principal of that name, or null.
  PrincipalPtr Find(std::string_view name) const;
  // The first principal (by name) with that unix_uid, or null.
  PrincipalPtr FindByUid(uint32_t uid) const;
};

// A principal's name: 1 to 64 bytes of A-Z a-z 0-9 . _ - @, so that it
// reads the same in logs and, substituted for {principal}, is never a
// pattern itself.
bool IsPrincipalName(std::string_view name);

// The `[[principal]]` tables of the TOML file at path (other keys are not
// looked at). Fails (kIoError, or kInvalidArgument naming the file, the
// line and the key) when the file cannot be read or parsed, a name is
// missing, invalid or repeated, a token_hash is not an argon2id hash, a key
// is unknown, or a pattern is bad. A file without principals gives an empty
// set.
Result<PrincipalSet> ReadPrincipals(const std::string& path);

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_PRINCIPALS_H_
