// Loop: one libuv event loop and what all connections on it share.
//
// A Loop owns the uv_loop_t, the one 64 KiB read buffer every connection
// reads into (so an idle connection holds no read buffer), a small pool of
// recycled output buffers, the end-of-turn flush (each connection's frames of
// one loop turn leave in one write: libuv 1.44 flushes only one queued write
// per turn), and a mailbox through which other threads post work.
//
// Loop thread only, except Post(), which any thread may call.
#ifndef HERMOD_NET_LOOP_H_
#define HERMOD_NET_LOOP_H_

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "hermod/status.h"

namespace hermod::net {

class Connection;

class Loop {
 public:
  // Size of the shared read buffer: libuv's own suggestion for one read.
  static constexpr size_t kReadBufferBytes = 64 * 1024;

  Loop();
  ~Loop();  // REQUIRES: Init() failed or was never called, or Close() returned.
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  Status Init();
  uv_loop_t* uv() { return &loop_; }

  // Runs the loop until no active handles remain or Stop() is called.
  void Run();
  // Makes Run() return after the current turn. Loop thread only.
  void Stop() { uv_stop(&loop_); }
  // Closes every handle still open, runs their close callbacks, and closes
  // the loop. The mailbox is closed first: later Post() calls are dropped.
  void Close();

  // Runs fn on the loop thread, soon. Thread-safe; calls are never merged,
  // but one wakeup may run many of them. Returns false when the loop is
  // closed (fn was not queued).
  bool Post(std::function<void()> fn);

  // The shared read buffer, 8-byte aligned.
  std::span<uint8_t> read_buffer() {
    return {reinterpret_cast<uint8_t*>(read_buffer_.get()), kReadBufferBytes};
  }

  // Output buffers: taken empty, given back after their bytes were written.
  std::string TakeBuffer();
  void GiveBuffer(std::string buffer);

  // Asks for conn->Flush() before the loop next waits for I/O.
  void ScheduleFlush(Connection* conn);
  // Forgets a scheduled flush of a connection that is being freed.
  void CancelFlush(Connection* conn);

  // Runs fn at the end of every loop turn, once after I/O callbacks and once
  // after timers, before pending output is flushed. The broker submits its
  // storage batch from here, so one batch holds everything read in a turn.
  void AddTurnHook(std::function<void()> fn) { turn_hooks_.push_back(std::move(fn)); }

  // Milliseconds of the loop's clock (uv_now), cached per turn.
  uint64_t now_ms() const { return uv_now(&loop_); }

 private:
  static void OnWake(uv_async_t* async) noexcept;
  static void OnTurnEdge(uv_prepare_t* prepare) noexcept;
  static void OnAfterIo(uv_check_t* check) noexcept;
  void EndTurn();
  void DrainMailbox();

  uv_loop_t loop_;
  bool initialized_ = false;
  bool closed_ = false;
  uv_async_t wake_;
  uv_prepare_t prepare_;
  uv_check_t check_;
  std::unique_ptr<uint64_t[]> read_buffer_;
  std::vector<std::string> spare_buffers_;
  std::vector<Connection*> to_flush_;
  std::vector<std::function<void()>> turn_hooks_;

  std::mutex mailbox_mu_;  // guards mailbox_ and mailbox_open_
  std::vector<std::function<void()>> mailbox_;
  bool mailbox_open_ = false;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_LOOP_H_
