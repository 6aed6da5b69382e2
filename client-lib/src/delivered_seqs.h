// DeliveredSeqs: the seqs one subscription received on the current
// connection and has not acked or nacked yet.
//
// It exists so that an ack or nack of a delivery from an earlier connection
// is dropped rather than sent on a new one: the broker gave that delivery
// back when the old connection ended, and redelivers it. An ack names an
// entry (subscription, seq), not one delivery of it, so when the new
// connection has delivered the same seq again, an ack for it is sent: it
// then stands for that entry, which the application has handled.
//
// A sorted vector whose front part [0, head_) is dead: deliveries mostly
// arrive in increasing seq order and are mostly acked oldest first, so Add()
// appends and RemoveRange() advances head_, both without moving elements and,
// once the vector has grown to the subscription's credit, without
// allocating. Redeliveries land in the middle, which is rarer and costs a
// move of the elements after them.
//
// Owned by a Client::Impl subscription. Loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_DELIVERED_SEQS_H_
#define HERMOD_CLIENT_LIB_SRC_DELIVERED_SEQS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hermod::client_internal {

class DeliveredSeqs {
 public:
  // Records a delivery of seq. A seq already recorded stays recorded once.
  void Add(uint64_t seq) {
    if (head_ == seqs_.size()) Clear();  // all dead: start over at the front
    if (seqs_.size() == head_ || seqs_.back() < seq) {
      // Reclaims the dead front rather than letting the vector grow.
      if (head_ > 0 && seqs_.size() == seqs_.capacity()) Compact();
      seqs_.push_back(seq);
      return;
    }
    auto at =
        std::lower_bound(seqs_.begin() + static_cast<std::ptrdiff_t>(head_), seqs_.end(), seq);
    if (at != seqs_.end() && *at == seq) return;
    seqs_.insert(at, seq);
  }

  // Forgets every recorded seq s with first <= s <= last; returns how many.
  size_t RemoveRange(uint64_t first, uint64_t last) {
    const auto live = seqs_.begin() + static_cast<std::ptrdiff_t>(head_);
    const auto from = std::lower_bound(live, seqs_.end(), first);
    const auto to = std::upper_bound(from, seqs_.end(), last);
    const size_t n = static_cast<size_t>(to - from);
    if (n == 0) return 0;
    if (from == live) {
      head_ += n;
      if (head_ == seqs_.size()) Clear();
    } else {
      seqs_.erase(from, to);
    }
    return n;
  }

  // Forgets everything; the capacity is kept.
  void Clear() {
    seqs_.clear();
    head_ = 0;
  }

  size_t size() const { return seqs_.size() - head_; }

 private:
  void Compact() {
    seqs_.erase(seqs_.begin(), seqs_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }

  std::vector<uint64_t> seqs_;  // sorted; [head_, size()) are the recorded seqs
  size_t head_ = 0;
};

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_DELIVERED_SEQS_H_
