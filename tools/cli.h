// What the subcommands of the `hermod` CLI share: the global options, the
// registration functions main() calls, and one-line error reporting.
//
// Each subcommand family lives in its own .cc (pub.cc, sub.cc, queue.cc,
// ...) and exposes one Add...Command(app, global). It adds its CLI11 subcommand and,
// in that subcommand's parse callback, stores in global.run the function
// main() runs after parsing. Commands talk to the broker only through the
// public libhermod API.
//
// Main thread only, except where a function says otherwise.
#ifndef HERMOD_TOOLS_CLI_H_
#define HERMOD_TOOLS_CLI_H_

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hermod/client.h"
#include "json.h"

namespace hermod::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;

struct GlobalOptions {
  // --server, else $HERMOD_SERVER, else this default.
  std::string server = "127.0.0.1:7400";
  // --token-file, else $HERMOD_TOKEN_FILE: the auth token is the file's
  // first; without one, $HERMOD_TOKEN is the token (see AuthToken()).
  std::string token_file;
  // --user, else $HERMOD_USER: the principal to act as; empty: none (the
  // token is then one of the broker's --auth-token-file).
  std::string user;
  // TLS (--tls, --tls-ca, --tls-server-name, --tls-cert, --tls-key, each
  // also $HERMOD_TLS...): as ClientOptions' fields of the same names.
  bool tls = false;
  std::string tls_ca;
  std::string tls_server_name;
  std::string tls_cert;
  std::string tls_key;
  // The chosen subcommand, set while parsing; returns the exit code.
  std::function<int()> run;
};

void AddPubCommand(CLI::App& app, GlobalOptions& global);
void AddSubCommand(CLI::App& app, GlobalOptions& global);
void AddQueueCommand(CLI::App& app, GlobalOptions& global);
void AddGroupCommand(CLI::App& app, GlobalOptions& global);    // group.cc
void AddStatsCommand(CLI::App& app, GlobalOptions& global);    // stats.cc
void AddBenchCommand(CLI::App& app, GlobalOptions& global);    // bench/ (bench_main.cc)
void AddDbCommand(CLI::App& app, GlobalOptions& global);       // db.cc
void AddClusterCommand(CLI::App& app, GlobalOptions& global);  // cluster.cc
void AddAuthCommand(CLI::App& app, GlobalOptions& global);     // auth.cc

// Formats CLI11's parse errors as every other error: one line, "hermod: ...".
std::string FormatParseError(const CLI::App* app, const CLI::Error& error);

// The validator of options that take a DURATION (duration.h).
CLI::Validator DurationValidator();
// The value of an option that DurationValidator() accepted.
std::chrono::milliseconds DurationValue(const std::string& text);

// The ClientOptions every command starts from: `client_name` for the
// broker's logs, and a bounded reconnect (kReconnectAttempts attempts,
// about 13 s): a command outlives a broker restart, but does not hang on a
// broker that is gone.
inline constexpr uint32_t kReconnectAttempts = 10;
ClientOptions CommandClientOptions(std::string_view client_name);

// The auth token to send: the first in --token-file, else $HERMOD_TOKEN,
// else none (empty). Fails when the token file cannot be used.
Result<std::string> AuthToken(const GlobalOptions& global);

// Prints "hermod: <message>" as one line on stderr (line breaks in message
// become spaces) and returns kExitError. Any thread.
int Fail(std::string_view message);

// Sets the TLS fields of *options from the global flags.
void ApplyTls(const GlobalOptions& global, ClientOptions* options);

// Connects to global.server with AuthToken(). On failure prints one line
// ("hermod: cannot connect to HOST:PORT: ...") and returns nullptr.
std::unique_ptr<Client> ConnectOrReport(const GlobalOptions& global, ClientOptions options);

// Writes text to stdout and flushes; false when that failed (a closed pipe,
// a full disk): the caller reports it.
bool WriteOut(std::string_view text);

// Text for people (tables, `show` and `stats` output). Pure; any thread.
// 1536 -> "1.5 KiB"; below 1 KiB exact ("512 B").
std::string FormatBytes(uint64_t bytes);
// A span of milliseconds, two units at most: "850ms", "12.3s", "5m12s",
// "3h05m", "2d04h".
std::string FormatMillis(uint64_t ms);
// Milliseconds since the epoch as UTC, ISO 8601: "2026-11-28T05:11:56Z";
// "-" for 0.
std::string FormatTime(uint64_t ms_since_epoch);
// A number without needless digits: "12", "0.5", "1234.57".
std::string FormatNumber(double value);

// A table for people: a header row, then rows, each column as wide as its
// widest cell (counted in UTF-8 characters), two spaces apart. Columns
// named in `right` are right-aligned (numbers). Main thread only.
class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<bool> right);
  void AddRow(std::vector<std::string> cells);
  // The formatted table, header first; "" when `header_if_empty` is false
  // and there are no rows.
  std::string Format(bool header_if_empty = true) const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// A message as `hermod sub --json` and `queue peek --json` show it: the
// entry's keys first (the caller may add more), then WithBody() adds
// "headers" and the payload.
Json EntryJson(std::string_view queue, uint64_t seq, uint64_t msg_id, uint32_t delivery_count);
void WithBody(Json* object, const std::vector<Header>& headers, std::string_view payload);

}  // namespace hermod::cli

#endif  // HERMOD_TOOLS_CLI_H_
