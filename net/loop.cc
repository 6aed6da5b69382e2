#include "loop.h"

#include <algorithm>

#include "check.h"
#include "connection.h"
#include "uv_status.h"

namespace hermod::net {

namespace {
// Output buffers larger than this are freed rather than kept for reuse, so a
// burst does not pin memory.
constexpr size_t kMaxSpareCapacity = 1 << 20;
constexpr size_t kMaxSpareBuffers = 64;
}  // namespace

Loop::Loop() : read_buffer_(new uint64_t[kReadBufferBytes / sizeof(uint64_t)]) {}

Loop::~Loop() { HERMOD_CHECK(!initialized_ || closed_); }

Status Loop::Init() {
  Status s = FromUv(uv_loop_init(&loop_), "uv_loop_init");
  if (!s.ok()) return s;
  initialized_ = true;
  uv_async_init(&loop_, &wake_, &Loop::OnWake);
  wake_.data = this;
  // The mailbox's async handle must not keep Run() alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(&wake_));
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, &Loop::OnTurnEdge);
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, &Loop::OnAfterIo);
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  {
    std::lock_guard<std::mutex> lock(mailbox_mu_);
    mailbox_open_ = true;
  }
  return Status::OK();
}

void Loop::Run() { uv_run(&loop_, UV_RUN_DEFAULT); }

void Loop::Close() {
  if (!initialized_ || closed_) return;
  {
    std::lock_guard<std::mutex> lock(mailbox_mu_);
    mailbox_open_ = false;
  }
  DrainMailbox();
  uv_walk(
      &loop_,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, nullptr);
      },
      nullptr);
  // Handles closed above with a close callback of their own (connections,
  // timers) run it here; the loop's own handles need none.
  while (uv_loop_close(&loop_) == UV_EBUSY) uv_run(&loop_, UV_RUN_NOWAIT);
  closed_ = true;
}

bool Loop::Post(std::function<void()> fn) {
  // The wakeup is sent under the lock: once fn is in the mailbox, a wakeup
  // already on its way may run it, and it may close the loop (a client's
  // CloseOnLoop does); Close() then waits here for the lock before it closes
  // wake_ and the loop's fds. Sent after unlocking, the wakeup could hit a
  // closed (or reused) fd, and libuv aborts on that write.
  std::lock_guard<std::mutex> lock(mailbox_mu_);
  if (!mailbox_open_) return false;
  mailbox_.push_back(std::move(fn));
  uv_async_send(&wake_);
  return true;
}

void Loop::DrainMailbox() {
  // One wakeup may stand for many posts (uv_async_send coalesces): take all.
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(mailbox_mu_);
    work.swap(mailbox_);
  }
  for (auto& fn : work) fn();
}

void Loop::OnWake(uv_async_t* async) noexcept { static_cast<Loop*>(async->data)->DrainMailbox(); }

void Loop::OnTurnEdge(uv_prepare_t* prepare) noexcept {
  static_cast<Loop*>(prepare->data)->EndTurn();
}

void Loop::OnAfterIo(uv_check_t* check) noexcept { static_cast<Loop*>(check->data)->EndTurn(); }

std::string Loop::TakeBuffer() {
  if (spare_buffers_.empty()) return {};
  std::string buffer = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return buffer;
}

void Loop::GiveBuffer(std::string buffer) {
  if (buffer.capacity() > kMaxSpareCapacity || spare_buffers_.size() >= kMaxSpareBuffers) return;
  buffer.clear();
  spare_buffers_.push_back(std::move(buffer));
}

void Loop::ScheduleFlush(Connection* conn) { to_flush_.push_back(conn); }

void Loop::CancelFlush(Connection* conn) {
  to_flush_.erase(std::remove(to_flush_.begin(), to_flush_.end(), conn), to_flush_.end());
}

void Loop::EndTurn() {
  for (auto& hook : turn_hooks_) hook();
  // Flushing may schedule more (a failed write closes a connection), so the
  // list is walked by index while it grows. Connections are freed only in
  // close callbacks, which never run inside this walk.
  for (size_t i = 0; i < to_flush_.size(); ++i) to_flush_[i]->Flush();
  to_flush_.clear();
}

}  // namespace hermod::net
