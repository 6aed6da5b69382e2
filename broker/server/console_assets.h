// The web console's pages, scripts and styles (web/console/, and uPlot's
// from web/node_modules), compiled into hermodd: the build writes
// console_assets.cc from the files (cmake/embed_assets.cmake), so there is
// nothing to install beside the binary.
#ifndef HERMOD_BROKER_SERVER_CONSOLE_ASSETS_H_
#define HERMOD_BROKER_SERVER_CONSOLE_ASSETS_H_

#include <cstddef>
#include <string_view>

namespace hermod::server {

struct ConsoleAsset {
  std::string_view name;  // served at /assets/<name>; index.html also at /
  const unsigned char* data;
  size_t size;
};

extern const ConsoleAsset kConsoleAssets[];
extern const size_t kConsoleAssetCount;

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_CONSOLE_ASSETS_H_
