// MemEnv: the KvEnv in memory, for tests and for measuring the broker
// without a disk (hermodd --store memory). Nothing survives the process.
//
// One mutex guards all tables; each operation takes it, and cursors
// re-find their position by key at every step, so a reader on the loop
// thread and the writer on the storage thread may interleave. Writes apply
// at once: a transaction that is not committed is not rolled back (the store
// never aborts a write transaction that did not fail, and this env never
// fails).
#ifndef HERMOD_BROKER_STORE_MEM_ENV_H_
#define HERMOD_BROKER_STORE_MEM_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kv.h"

namespace hermod::store {

class MemEnv final : public KvEnv {
 public:
  MemEnv() = default;

  Result<std::unique_ptr<KvTxn>> BeginRead() override;
  Result<std::unique_ptr<KvTxn>> BeginWrite() override;
  Status Sync() override { return Status::OK(); }
  Status GrowMap() override { return Status::StorageFull("memory store cannot grow"); }
  KvStats Stats() override;
  uint64_t Headroom(uint64_t) override { return UINT64_MAX; }  // memory is the limit

  using TableMap = std::map<std::string, std::string, std::less<>>;
  // For the transaction and cursor implementations.
  std::mutex& mu() { return mu_; }
  TableMap& table(Table t) { return tables_[static_cast<int>(t)]; }

 private:
  std::mutex mu_;
  TableMap tables_[kTableCount];
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_MEM_ENV_H_
