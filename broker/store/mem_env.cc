#include "mem_env.h"

#include <vector>

namespace hermod::store {

namespace {

class MemCursor final : public KvCursor {
 public:
  MemCursor(MemEnv* env, Table table) : env_(env), table_(table) {}

  bool Seek(std::string_view key) override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    return Take(m, m.lower_bound(key));
  }
  bool First() override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    return Take(m, m.begin());
  }
  bool Last() override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    return Take(m, m.empty() ? m.end() : std::prev(m.end()));
  }
  bool Next() override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    return Take(m, valid_ ? m.upper_bound(key_) : m.end());
  }
  bool Prev() override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    if (!valid_) return false;
    auto it = m.lower_bound(key_);
    return Take(m, it == m.begin() ? m.end() : std::prev(it));
  }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  bool DeleteAndNext() override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table_);
    if (!valid_) return false;
    auto it = m.find(key_);
    if (it != m.end())
      it = m.erase(it);
    else
      it = m.upper_bound(key_);
    return Take(m, it);
  }

 private:
  // Copies the item out: the map may change between steps.
  bool Take(MemEnv::TableMap& m, MemEnv::TableMap::iterator it) {
    valid_ = it != m.end();
    if (valid_) {
      key_ = it->first;
      value_ = it->second;
    }
    return valid_;
  }

  MemEnv* env_;
  Table table_;
  bool valid_ = false;
  std::string key_;
  std::string value_;
};

class MemTxn final : public KvTxn {
 public:
  explicit MemTxn(MemEnv* env) : env_(env) {}

  bool Get(Table table, std::string_view key, std::string_view* value) override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table);
    auto it = m.find(key);
    if (it == m.end()) return false;
    // Views must stay valid until the transaction ends, as with LMDB; the
    // map's node may be erased by the writer meanwhile, so keep a copy.
    held_.push_back(std::make_unique<std::string>(it->second));
    *value = *held_.back();
    return true;
  }
  void Put(Table table, std::string_view key, std::string_view value, bool append) override {
    if (!status_.ok()) return;
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table);
    // Hold callers to the append promise as LMDB does (MDB_KEYEXIST), so a
    // broken promise fails the tests that run on this twin too.
    if (append && !m.empty() && std::string_view(std::prev(m.end())->first) >= key) {
      Fail(Status::StorageError(std::string("append out of order into ") + TableName(table)));
      return;
    }
    m.insert_or_assign(std::string(key), std::string(value));
  }
  bool Del(Table table, std::string_view key) override {
    std::lock_guard<std::mutex> lock(env_->mu());
    auto& m = env_->table(table);
    auto it = m.find(key);
    if (it == m.end()) return false;
    m.erase(it);
    return true;
  }
  std::unique_ptr<KvCursor> Cursor(Table table) override {
    return std::make_unique<MemCursor>(env_, table);
  }
  Status Commit() override { return status_; }

 private:
  MemEnv* env_;
  std::vector<std::unique_ptr<std::string>> held_;
};

}  // namespace

Result<std::unique_ptr<KvTxn>> MemEnv::BeginRead() {
  return std::unique_ptr<KvTxn>(new MemTxn(this));
}
Result<std::unique_ptr<KvTxn>> MemEnv::BeginWrite() {
  return std::unique_ptr<KvTxn>(new MemTxn(this));
}

KvStats MemEnv::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  KvStats stats;
  for (int i = 0; i < kTableCount; ++i) {
    stats.entries[i] = tables_[i].size();
    for (auto& [k, v] : tables_[i]) stats.used_bytes += k.size() + v.size();
  }
  return stats;
}

}  // namespace hermod::store
