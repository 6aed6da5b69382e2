// Ring<T>: a FIFO on a power-of-two circular array.
//
// Used instead of std::deque for per-queue and per-session FIFOs because an
// empty Ring holds no heap memory (libstdc++'s deque allocates its map and a
// 512-byte block on construction, which a million idle queues or 10,000 idle
// connections would pay). Not thread-safe.
#ifndef HERMOD_BROKER_CORE_RING_H_
#define HERMOD_BROKER_CORE_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "check.h"

namespace hermod::core {

template <typename T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& other) noexcept { *this = std::move(other); }
  Ring& operator=(Ring&& other) noexcept {
    slots_ = std::move(other.slots_);
    capacity_ = std::exchange(other.capacity_, 0);
    head_ = std::exchange(other.head_, 0);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // REQUIRES: i < size()
  T& operator[](size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }
  const T& operator[](size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(T value) {
    if (size_ == capacity_) Grow();
    slots_[(head_ + size_) & (capacity_ - 1)] = std::move(value);
    ++size_;
  }
  void pop_front() {
    HERMOD_CHECK(size_ > 0);
    slots_[head_] = T();
    head_ = (head_ + 1) & (capacity_ - 1);
    if (--size_ == 0) Release();
  }
  // Removes the element at index i, keeping order. O(size).
  void erase_at(size_t i) {
    HERMOD_CHECK(i < size_);
    for (size_t j = i; j + 1 < size_; ++j) (*this)[j] = std::move((*this)[j + 1]);
    (*this)[size_ - 1] = T();
    if (--size_ == 0) Release();
  }
  void clear() {
    slots_.reset();
    capacity_ = head_ = size_ = 0;
  }

 private:
  void Grow() {
    HERMOD_CHECK(capacity_ < (uint32_t{1} << 31));
    uint32_t capacity = capacity_ == 0 ? 4 : capacity_ * 2;
    std::unique_ptr<T[]> slots(new T[capacity]);
    for (size_t i = 0; i < size_; ++i) slots[i] = std::move((*this)[i]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }
  // An emptied ring gives its memory back: idle costs nothing.
  void Release() { clear(); }

  // 32-bit positions: a Ring is 16 bytes, and a queue or a session holds
  // several (2^31 slots is far beyond any queue's memory).
  std::unique_ptr<T[]> slots_;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_RING_H_
