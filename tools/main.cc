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
                 "Broker address HOST:PORT, or unix:PATH; for a cluster, any nodes: "
                 "HOST:PORT,HOST:PORT,...")
      ->envname("HERMOD_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", global.token_file,
                 "Send the first auth token in this file (else $HERMOD_TOKEN, if set)")
      ->envname("HERMOD_TOKEN_FILE");
  app.add_option("--user", global.user,
                 "Act as this principal; its token comes from --token-file or $HERMOD_TOKEN")
      ->envname("HERMOD_USER");
  app.add_flag("--tls", global.tls, "Connect with TLS, trusting the system's CAs (see --tls-ca)")
      ->envname("HERMOD_TLS");
  app.add_option("--tls-ca", global.tls_ca,
                 "Connect with TLS; the broker's certificate must be signed by a CA in this "
                 "PEM file")
      ->envname("HERMOD_TLS_CA");
  app.add_option("--tls-server-name", global.tls_server_name,
                 "TLS: the name the broker's certificate must carry (default: the host of "
                 "--server)")
      ->envname("HERMOD_TLS_SERVER_NAME");
  app.add_option("--tls-cert", global.tls_cert,
                 "TLS: this client's PEM certificate, for a broker that requires one")
      ->envname("HERMOD_TLS_CERT");
  app.add_option("--tls-key", global.tls_key, "TLS: the PEM private key of --tls-cert")
      ->envname("HERMOD_TLS_KEY");

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
