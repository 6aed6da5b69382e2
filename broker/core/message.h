// Message: one stored message's bytes as the loop holds them, shared by
// every entry and delivery that refers to it (intrusively reference counted).
//
// The loop keeps a Message only while an entry needs it in memory: while the
// entry is only in the log, or is being delivered. Entries that live in the
// index are read back with their message when delivered. Loop thread only:
// the count is not atomic.
#ifndef HERMOD_BROKER_CORE_MESSAGE_H_
#define HERMOD_BROKER_CORE_MESSAGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "check.h"
#include "keys.h"

namespace hermod::core {

using store::MsgId;

class Message {
 public:
  Message(MsgId msg_id, std::string envelope) : msg_id_(msg_id), envelope_(std::move(envelope)) {}
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  MsgId msg_id() const { return msg_id_; }
  // The stored envelope (store/envelope.h).
  std::string_view envelope() const { return envelope_; }
  uint32_t bytes() const { return static_cast<uint32_t>(envelope_.size()); }

  void Ref() { ++refs_; }
  void Unref() {
    HERMOD_CHECK(refs_ > 0);
    if (--refs_ == 0) delete this;
  }

 private:
  ~Message() = default;

  uint32_t refs_ = 0;
  MsgId msg_id_;
  std::string envelope_;
};

// A counted reference to a Message; null when the entry's message is only in
// the index.
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
