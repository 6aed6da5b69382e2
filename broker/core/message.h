// Message: one stored message's bytes as the loop holds them, shared by
// every entry and delivery that refers to it (intrusively reference counted).
//
// The loop keeps a Message only while an entry needs it in memory: while the
// entry is only in the log, or is being delivered. Entries that live in the
// index are read back with their message when delivered. The envelope is
// stored inline, after the object, so a message costs one allocation. Loop
// thread only: the count is not atomic.
#ifndef HERMOD_BROKER_CORE_MESSAGE_H_
#define HERMOD_BROKER_CORE_MESSAGE_H_

#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "check.h"
#include "keys.h"

namespace hermod::core {

using store::MsgId;

class Message {
 public:
  // Allocates a message holding a copy of `envelope`, with no references.
  static Message* Create(MsgId msg_id, std::string_view envelope) {
    void* memory = ::operator new(sizeof(Message) + envelope.size());
    auto* m = new (memory) Message(msg_id, static_cast<uint32_t>(envelope.size()));
    std::memcpy(m->bytes_start(), envelope.data(), envelope.size());
    return m;
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  MsgId msg_id() const { return msg_id_; }
  // The stored envelope (store/envelope.h).
  std::string_view envelope() const { return {reinterpret_cast<const char*>(this + 1), size_}; }
  uint32_t bytes() const { return size_; }

  void Ref() { ++refs_; }
  void Unref() {
    HERMOD_CHECK(refs_ > 0);
    if (--refs_ == 0) {
      this->~Message();
      ::operator delete(this);
    }
  }

 private:
  Message(MsgId msg_id, uint32_t size) : msg_id_(msg_id), size_(size) {}
  ~Message() = default;
  char* bytes_start() { return reinterpret_cast<char*>(this + 1); }

  MsgId msg_id_;
  uint32_t size_;
  uint32_t refs_ = 0;
};

// A counted reference to a Message.
class MessageRef {
 public:
  MessageRef() = default;
  explicit MessageRef(Message* m) : m_(m) {
    if (m_) m_->Ref();
  }
  MessageRef(const MessageRef& o) : m_(o.m_) {
    if (m_) m_->Ref();
  }
  MessageRef(MessageRef&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  MessageRef& operator=(MessageRef o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  ~MessageRef() {
    if (m_) m_->Unref();
  }

  Message* get() const { return m_; }
  Message* operator->() const { return m_; }
  explicit operator bool() const { return m_ != nullptr; }

 private:
  Message* m_ = nullptr;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_MESSAGE_H_
