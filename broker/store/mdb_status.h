// The one place where LMDB's return codes become a Status. Nothing outside
// broker/store/ sees a raw LMDB int.
#ifndef HERMOD_BROKER_STORE_MDB_STATUS_H_
#define HERMOD_BROKER_STORE_MDB_STATUS_H_

#include <lmdb.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::store {

inline Status FromMdb(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string message(what);
  message += ": ";
  message += mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return Status(ErrorCode::kStorageFull, message);
    case MDB_NOTFOUND:
      return Status(ErrorCode::kNotFound, message);
    default:
      return Status(ErrorCode::kStorageError, message);
  }
}

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_MDB_STATUS_H_
