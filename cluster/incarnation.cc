#include "cluster/incarnation.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace hermod::cluster {

namespace {

Status Errno(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

std::string NewId() {
  std::random_device rd;
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    out << buf;
  }
  return out.str();
}

bool Valid(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status WriteSynced(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("write " + path);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = Errno("fsync " + path);
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return Errno("close " + path);
  return Status::OK();
}

}  // namespace

Result<std::string> LoadOrCreateIncarnation(const std::string& data_dir) {
  const std::string path = data_dir + "/incarnation";
  std::ifstream in(path);
  if (in) {
    std::string id;
    std::getline(in, id);
    if (!Valid(id)) return Status::InvalidArgument(path + ": not an incarnation id");
    return id;
  }
  if (errno != ENOENT) return Errno("open " + path);
  const std::string id = NewId();
  const std::string tmp = path + ".tmp";
  if (Status s = WriteSynced(tmp, id + "\n"); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  // The rename is durable only once the directory is.
  int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("open " + data_dir);
  int rc = ::fsync(dir);
  ::close(dir);
  if (rc != 0) return Errno("fsync " + data_dir);
  return id;
}

}  // namespace hermod::cluster
