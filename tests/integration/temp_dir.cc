// TempDir (temp_dir.h): a unique directory per test, removed at the end.
#include "temp_dir.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "check.h"

namespace hermod::test {

TempDir::TempDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(root && *root ? root : "/tmp") + "/hermod-test.XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) std::perror(pattern.c_str());
  HERMOD_CHECK(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Join(std::string_view name) const {
  std::string out = path_;
  out += '/';
  out += name;
  return out;
}

}  // namespace hermod::test
