// Shared helpers of the `hermod` CLI (see cli.h).
#include "cli.h"

#include <cstdio>

#include "duration.h"

namespace hermod::cli {

int Fail(std::string_view message) {
  std::string line = "hermod: ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  return kExitError;
}

std::string FormatParseError(const CLI::App* /*app*/, const CLI::Error& error) {
  std::string line = "hermod: ";
  for (const char* c = error.what(); *c != '\0'; ++c) line += (*c == '\n' || *c == '\r') ? ' ' : *c;
  line += " (see --help)\n";
  return line;
}

CLI::Validator DurationValidator() {
  // An empty description: options name their type "DURATION" themselves.
  return CLI::Validator([](std::string& text) { return CheckDuration(text); }, "");
}

std::chrono::milliseconds DurationValue(const std::string& text) {
  Result<std::chrono::milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? *parsed : std::chrono::milliseconds(0);
}

ClientOptions CommandClientOptions(std::string_view client_name) {
  ClientOptions options;
  options.client_name = std::string(client_name);
  options.reconnect_max_delay = std::chrono::seconds(2);
  options.max_reconnect_attempts = kReconnectAttempts;
  return options;
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
