// hermod: the command-line client of the hermod broker.
//
//   hermod [--server HOST:PORT] pub QUEUE [DATA] ...
//   hermod [--server HOST:PORT] sub QUEUE ...
//   hermod [--server HOST:PORT] queue set NAME ...
//
// docs/cli.md describes every subcommand. Each family registers itself
// (cli.h); main() parses, then runs the chosen one. Main thread only.
#include <csignal>

#include "cli.h"
#include "hermod/version.h"

int main(int argc, char** argv) {
  // A closed stdout (`hermod sub q | head -1`) must surface as a write error,
  // which the commands report, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"hermod: command-line client of the hermod broker (see docs/cli.md)", "hermod"};
  app.require_subcommand(1);
  // Parse errors are one line on stderr, like every other error.
  app.failure_message(hermod::cli::FormatParseError);
  app.fallthrough();  // global options may also follow the subcommand
  app.set_version_flag("--version", HERMOD_VERSION);

  hermod::cli::GlobalOptions global;
  app.add_option("--server", global.server,
                 "Broker address HOST:PORT; for a cluster, any nodes: HOST:PORT,HOST:PORT,...")
      ->envname("HERMOD_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", global.token_file,
                 "Send the first auth token in this file (else $HERMOD_TOKEN, if set)")
      ->envname("HERMOD_TOKEN_FILE");
  app.add_option("--user", global.user,
                 "Act as this principal; its token comes from --token-file or $HERMOD_TOKEN")
      ->envname("HERMOD_USER");

  hermod::cli::AddPubCommand(app, global);
  hermod::cli::AddSubCommand(app, global);
  hermod::cli::AddQueueCommand(app, global);
  hermod::cli::AddGroupCommand(app, global);
  hermod::cli::AddStatsCommand(app, global);
  hermod::cli::AddBenchCommand(app, global);
  hermod::cli::AddDbCommand(app, global);
  hermod::cli::AddClusterCommand(app, global);
  hermod::cli::AddAuthCommand(app, global);

  CLI11_PARSE(app, argc, argv);
  return global.run ? global.run() : hermod::cli::kExitError;
}
