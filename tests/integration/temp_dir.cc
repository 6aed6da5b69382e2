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
  // HERMOD_KEEP_TEST_DIRS=1 keeps the directory (a failed test's store can
  // then be read with `hermod db`).
  const char* keep = std::getenv("HERMOD_KEEP_TEST_DIRS");
  if (keep && *keep && *keep != '0') {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
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
