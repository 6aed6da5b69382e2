// Uses the installed libhermod: connects to an address where nothing listens
// and checks that the library answers kUnavailable. Prints "ok" on success.
#include <cstdio>

#include "hermod/client.h"
#include "hermod/version.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer HOST:PORT\n");
    return 2;
  }
  hermod::ClientOptions options;
  options.server = argv[1];
  options.connect_timeout = std::chrono::milliseconds(2000);
  auto client = hermod::Client::Connect(options);
  if (client.ok() || client.status().code() != hermod::ErrorCode::kUnavailable) {
    std::fprintf(stderr, "unexpected: %s\n", client.status().ToString().c_str());
    return 1;
  }
  std::printf("ok %s\n", HERMOD_VERSION);
  return 0;
}
