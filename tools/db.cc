// `hermod db`: registers the family's subcommands (AddDbCommand), and
// `hermod db backup`, a consistent copy of a data directory taken while
// hermodd runs. The family's overview, and what its files share, is in
// db_common.h; stat, dump and check live in db_stat.cc, db_dump.cc and
// db_check.cc. Main thread only.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "cli.h"
#include "db_common.h"
#include "kv.h"
#include "lmdb_env.h"

namespace hermod::cli {
namespace db {
namespace {

using store::KvTxn;

Status SyncPath(const std::string& path, bool directory) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::IoError("cannot sync " + path + ": " + std::strerror(err));
  return Status::OK();
}

// Copies the environment into `to` (an empty directory). The copy is the
// snapshot of the moment it starts (LMDB blocks writers only while it reads
// the meta pages), so everything committed before, confirmed publishes
// included, is in it.
Status CopyEnvironment(store::LmdbEnv& env, const std::string& to, bool compact) {
  const std::string file = to + "/data.mdb";
  Status s;
  // Bounded: a retry only follows the broker growing the map meanwhile.
  for (int attempt = 0; attempt < 3; ++attempt) {
    {
      // A read transaction adopts a map the broker grew since the open,
      // which mdb_env_copy2's own transaction would refuse.
      Result<std::unique_ptr<KvTxn>> txn = env.BeginRead();
      if (!txn.ok()) return txn.status();
    }
    s = env.CopyTo(to, compact);
    if (s.ok()) break;
    std::remove(file.c_str());  // mdb_env_copy2 creates the file exclusively
    if (s.message().find("MDB_MAP_RESIZED") == std::string::npos) return s;
  }
  if (!s.ok()) return s;
  if (Status synced = SyncPath(file, false); !synced.ok()) return synced;
  return SyncPath(to, true);
}

int DbBackup(const DbOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string& to = options.to;
  bool created = false;
  fs::file_status target = fs::status(to, ec);
  if (fs::exists(target)) {
    if (!fs::is_directory(target)) return Fail(to + " exists and is not a directory");
    if (!fs::is_empty(to, ec) || ec) {
      return Fail(to + " exists and is not empty; back up into a new or empty directory");
    }
  } else {
    fs::create_directories(to, ec);
    if (ec) return Fail("cannot create " + to + ": " + ec.message());
    created = true;
  }
  auto fail = [&](const std::string& message) {
    // Leave nothing half-written behind.
    std::remove((to + "/data.mdb").c_str());
    if (created) fs::remove(to, ec);
    return Fail(message);
  };

  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return fail(env.status().message());
  if (Status s = CopyEnvironment(**env, to, options.compact); !s.ok()) {
    return fail("backup of " + options.data_dir + " failed: " + s.message());
  }
  if (created) {
    fs::path parent = fs::absolute(fs::path(to), ec).parent_path();
    if (!ec) {
      if (Status s = SyncPath(parent.string(), true); !s.ok()) return fail(s.message());
    }
  }
  uint64_t bytes = fs::file_size(to + "/data.mdb", ec);
  std::string line = "backed up " + options.data_dir + " to " + to + ": " + FormatBytes(bytes) +
                     (options.compact ? " (compacted)" : "") + "\n";
  if (!WriteOut(line)) return Fail("cannot write to stdout");
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Registration

CLI::App* AddDbSubcommand(CLI::App& db, const char* name, const char* description,
                          const std::shared_ptr<DbOptions>& options) {
  CLI::App* sub = db.add_subcommand(name, description);
  sub->add_option("--data-dir", options->data_dir, "The broker's data directory (DIR)")
      ->type_name("DIR")
      ->required();
  return sub;
}

template <typename Run>
void SetRun(CLI::App* sub, GlobalOptions& global, const std::shared_ptr<DbOptions>& options,
            Run run) {
  sub->callback([options, &global, run] { global.run = [options, run] { return run(*options); }; });
}

}  // namespace
}  // namespace db

void AddDbCommand(CLI::App& app, GlobalOptions& global) {
  using db::AddDbSubcommand;
  using db::DbOptions;
  using db::SetRun;
  CLI::App* db_command = app.add_subcommand(
      "db", "Offline tools on a data directory: read-only, safe while hermodd runs");
  db_command->require_subcommand(1);

  auto stat_options = std::make_shared<DbOptions>();
  CLI::App* stat_command = AddDbSubcommand(
      *db_command, "stat",
      "LMDB and per-table statistics, counts, schema version, the unapplied log", stat_options);
  stat_command->add_flag("--json", stat_options->json, "One JSON object");
  SetRun(stat_command, global, stat_options, db::DbStat);

  auto dump_options = std::make_shared<DbOptions>();
  CLI::App* dump = AddDbSubcommand(
      *db_command, "dump", "Entries with their messages, and the log records not yet applied",
      dump_options);
  dump->add_option("--queue", dump_options->queue, "Only this queue")->type_name("QUEUE");
  dump->add_flag("--json", dump_options->json, "One JSON object per line");
  SetRun(dump, global, dump_options, db::DbDump);

  auto check_options = std::make_shared<DbOptions>();
  CLI::App* check = AddDbSubcommand(
      *db_command, "check",
      "Check consistency: exit 0 when consistent, 2 with the list of problems otherwise",
      check_options);
  check->add_flag("--json", check_options->json, "One JSON object");
  SetRun(check, global, check_options, db::DbCheck);

  auto backup_options = std::make_shared<DbOptions>();
  CLI::App* backup =
      AddDbSubcommand(*db_command, "backup",
                      "A consistent copy of the store, taken while hermodd runs", backup_options);
  backup->add_option("--to", backup_options->to, "A new (or empty) directory for the copy")
      ->type_name("PATH")
      ->required();
  backup->add_flag("--compact", backup_options->compact, "Leave free pages out of the copy");
  SetRun(backup, global, backup_options, db::DbBackup);
}

}  // namespace hermod::cli
