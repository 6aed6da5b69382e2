// SyncMode: when committed batches reach the disk (--sync). See lmdb_env.h
// for what each mode survives.
#ifndef HERMOD_BROKER_STORE_SYNC_MODE_H_
#define HERMOD_BROKER_STORE_SYNC_MODE_H_

#include <string_view>

#include "hermod/status.h"

namespace hermod::store {

enum class SyncMode { kAlways, kBatch, kNone };
const char* SyncModeName(SyncMode mode);
// Parses "always", "batch" or "none".
Result<SyncMode> ParseSyncMode(std::string_view text);

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_SYNC_MODE_H_
