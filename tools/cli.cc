// Shared helpers of the `hermod` CLI (see cli.h).
#include "cli.h"

#include <cstdio>

namespace hermod::cli {

int Fail(std::string_view message) {
  std::string line = "hermod: ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  return kExitError;
}

std::unique_ptr<Client> ConnectOrReport(const GlobalOptions& global, ClientOptions options) {
  options.server = global.server;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    // libhermod's connect errors already read "cannot connect to HOST:PORT:
    // ..."; other failures (a bad address) explain themselves.
    Fail(client.status().message());
    return nullptr;
  }
  return std::move(*client);
}

}  // namespace hermod::cli
