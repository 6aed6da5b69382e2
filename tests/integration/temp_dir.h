// TempDir: a fresh, uniquely named directory for one test, removed with
// everything in it when the TempDir is destroyed.
//
// It is created under $TEST_TMPDIR when set, else under /tmp, and kept when
// HERMOD_KEEP_TEST_DIRS is set to anything but 0. Not copyable;
// use from one thread (the test's).
#ifndef HERMOD_TESTS_INTEGRATION_TEMP_DIR_H_
#define HERMOD_TESTS_INTEGRATION_TEMP_DIR_H_

#include <string>
#include <string_view>

namespace hermod::test {

class TempDir {
 public:
  // Creates the directory; aborts the test binary when that fails (nothing
  // useful can run without it).
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory's absolute path, without a trailing slash.
  const std::string& path() const { return path_; }
  // path() + "/" + name. Creates nothing.
  std::string Join(std::string_view name) const;

 private:
  std::string path_;
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_TEMP_DIR_H_
