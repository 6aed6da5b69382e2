// What the `hermod db` family shares: its options, opening a data directory
// read-only, the meta rows and log records as the store keeps them, and
// buffered text and JSON output. One file per subcommand: db_stat.cc,
// db_dump.cc, db_check.cc; db.cc holds backup and registers them all.
//
// `hermod db stat|dump|check|backup`: offline tools on a hermod data
// directory. They never talk to the broker. They open the LMDB environment
// read-only through the store library (LmdbEnv with read_only), which is
// safe while hermodd runs on it: LMDB's reader table lets readers in other
// processes share the environment, and a read-only open never takes
// hermodd's own lock file (hermod.lock). See docs/cli.md ("hermod db").
//
// Transactions. stat and dump read in many short read transactions (a page
// of queues or entries, one log record), so a dump of a live store is not
// one snapshot. check needs one snapshot, because its invariants span
// tables: it reads everything in one read transaction, as backup does
// (mdb_env_copy2). While either runs, LMDB cannot reuse the pages the
// broker frees, so on a large, busy store the file grows by what the broker
// writes meanwhile; check a backup instead when that matters.
//
// Main thread only.
#ifndef HERMOD_TOOLS_DB_COMMON_H_
#define HERMOD_TOOLS_DB_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hermod/status.h"
#include "json.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"
#include "log_record.h"
#include "write_batch.h"

namespace hermod::cli::db {

// Bytes of output buffered before they are written.
inline constexpr size_t kFlushBytes = 64 << 10;

struct DbOptions {
  std::string data_dir;
  bool json = false;
  std::string queue;  // dump: empty for every queue
  std::string to;     // backup
  bool compact = false;
};

// The subcommands. Each prints its output and its errors, and returns the
// exit code.
int DbStat(const DbOptions& options);   // db_stat.cc
int DbDump(const DbOptions& options);   // db_dump.cc
int DbCheck(const DbOptions& options);  // db_check.cc

// ---------------------------------------------------------------------------
// Opening, and the store's rows

// Opens the LMDB environment in dir read-only, after checking that dir
// holds one (a read-only open of a directory without one would leave a
// lock.mdb there).
Result<std::unique_ptr<store::LmdbEnv>> OpenReadOnly(const std::string& dir);

// The meta rows, through the store's readers (store.h).
struct Meta {
  std::optional<uint32_t> schema_version;  // absent or corrupt: nullopt
  std::optional<store::IdCounters> ids;
  bool schema_present = false;
  bool ids_present = false;
};

// Reads the meta rows in txn. A failed read leaves them absent and is in
// txn.status().
Meta ReadMeta(store::KvTxn& txn);

// One log record, put together from its chunks.
struct LogRecord {
  store::BatchNo batch_no = 0;
  uint32_t chunks = 0;
  std::string bytes;
};

// Reads the first log record with a batch number >= from, in one read
// transaction. Returns false when there is none.
Result<bool> ReadLogRecord(store::KvEnv& env, store::BatchNo from, LogRecord* record);

// The name of a log operation in dump's JSON and check's problems:
// "create_queue", "publish", ...
const char* LogOpName(store::LogOpType type);

// ---------------------------------------------------------------------------
// Output

// Output, buffered: MaybeFlush() writes it to stdout every kFlushBytes,
// Flush() at the end. Both return false when the write failed.
class Output {
 public:
  std::string& text() { return text_; }
  bool MaybeFlush();
  bool Flush();

 private:
  std::string text_;
};

void AppendUint(std::string* out, uint64_t v);

// "1 chunk", "3 chunks".
std::string Count(uint64_t n, const char* one, const char* many);

// One JSON object built member by member (tools/json.h: the one writer),
// appended to *out as a line by Done(). REQUIRES: *out outlives this.
class JsonFields {
 public:
  explicit JsonFields(std::string* out) : out_(out) {}
  void Num(std::string_view key, uint64_t v) { j_[std::string(key)] = v; }
  void Str(std::string_view key, std::string_view v) { j_[std::string(key)] = std::string(v); }
  void Bool(std::string_view key, bool v) { j_[std::string(key)] = v; }
  Json& json() { return j_; }
  // Appends the object and a newline.
  void Done() { *out_ += DumpJson(j_) + "\n"; }

 private:
  std::string* out_;
  Json j_ = Json::object();
};

// A message's envelope as JSON members: publish_ms, expires_ms, headers,
// and payload (text) or payload_base64, as `hermod sub --json` prints them.
void SetEnvelopeJson(Json* object, std::string_view envelope);

// The same for people: a line with times, one per header, one for the
// payload (a quoted, escaped string when printable, else base64). Each
// line starts with indent.
void AppendEnvelopeText(std::string* out, std::string_view envelope, const char* indent);

}  // namespace hermod::cli::db

#endif  // HERMOD_TOOLS_DB_COMMON_H_
