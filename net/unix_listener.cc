#include "unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "check.h"
#include "loop.h"
#include "uv_status.h"

namespace hermod::net {

namespace {

constexpr std::string_view kUnixPrefix = "unix:";

// A socket file that exists: removes it when no process accepts on it any
// more (its broker died without cleaning up); fails when one does, or when
// the path is not a socket at all (never remove a user's file).
Status ClearStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return Status::OK();  // nothing there
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument("cannot listen on unix:" + path +
                                   ": the path exists and is not a socket");
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  close(fd);
  if (rc == 0) {
    return Status(ErrorCode::kAlreadyExists,
                  "cannot listen on unix:" + path + ": another process accepts connections there");
  }
  if (err != ECONNREFUSED) {
    return Status::IoError("cannot listen on unix:" + path + ": " + std::strerror(err));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("cannot remove the stale socket " + path + ": " + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace

bool IsUnixAddress(const std::string& address, std::string* path) {
  if (address.rfind(kUnixPrefix, 0) != 0) return false;
  if (path != nullptr) *path = address.substr(kUnixPrefix.size());
  return true;
}

UnixListener::UnixListener(Loop& loop, OnConnection on_connection)
    : loop_(loop), on_connection_(std::move(on_connection)) {}

UnixListener::~UnixListener() { HERMOD_CHECK(!open_); }

Status UnixListener::Listen(const std::string& path, int backlog) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status::InvalidArgument("bad unix socket path '" + path + "': empty or longer than " +
                                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  if (Status s = ClearStaleSocket(path); !s.ok()) return s;
  Status s = FromUv(uv_pipe_init(loop_.uv(), &pipe_, 0), "pipe init");
  if (!s.ok()) return s;
  open_ = true;
  pipe_.data = this;
  path_ = path;
  s = FromUv(uv_pipe_bind(&pipe_, path.c_str()), "bind unix:" + path);
  if (s.ok()) {
    bound_ = true;
    // Before listen(): until then a connect() is refused, so nobody gets
    // in under the umask's mode.
    if (chmod(path.c_str(), kFileMode) != 0) {
      s = Status::IoError("chmod unix:" + path + ": " + std::strerror(errno));
    }
  }
  if (s.ok()) {
    s = FromUv(uv_listen(reinterpret_cast<uv_stream_t*>(&pipe_), backlog,
                         [](uv_stream_t* server, int status) noexcept {
                           auto* self = static_cast<UnixListener*>(server->data);
                           if (status < 0 || self->closing_) return;
                           self->on_connection_(server);
                         }),
               "listen on unix:" + path);
  }
  if (!s.ok()) {
    Close();
    return s;
  }
  address_ = "unix:" + path;
  return Status::OK();
}

void UnixListener::Close() {
  if (!open_ || closing_) return;
  closing_ = true;
  if (bound_) unlink(path_.c_str());
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_),
           [](uv_handle_t* h) noexcept { static_cast<UnixListener*>(h->data)->open_ = false; });
}

}  // namespace hermod::net
