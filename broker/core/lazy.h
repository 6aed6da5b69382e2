// Lazy<C>: a standard associative container that allocates itself on the
// first insert, for containers that idle queues and consumers leave empty.
//
// An empty std::map or std::set is 48 bytes inline; a queue holds three that
// are used only after a nack, a delay or an expiry sweep, a consumer one
// that fills only while deliveries are in flight, and a million queues (or
// 10,000 idle subscribed connections, each with its consumer and queue)
// would pay them all the time. Lazy<C> is 8 bytes until something is
// inserted.
//
// It forwards the operations the broker uses. Until the first insert, reads
// answer from one shared empty container, so begin() == end() and find()
// returns end() as usual; iterators are those of the real container after.
// Once allocated it stays allocated while its queue is in memory (freeing
// it when emptied would invalidate an end() the caller holds). Loop thread
// only, like the queue.
#ifndef HERMOD_BROKER_CORE_LAZY_H_
#define HERMOD_BROKER_CORE_LAZY_H_

#include <cstddef>
#include <memory>
#include <utility>

namespace hermod::core {

template <typename C>
class Lazy {
 public:
  using iterator = typename C::iterator;
  using const_iterator = typename C::const_iterator;

  bool empty() const { return !c_ || c_->empty(); }
  size_t size() const { return c_ ? c_->size() : 0; }

  iterator begin() { return get().begin(); }
  iterator end() { return get().end(); }
  const_iterator begin() const { return get().begin(); }
  const_iterator end() const { return get().end(); }

  template <typename K>
  iterator find(const K& key) {
    return get().find(key);
  }
  template <typename K>
  iterator lower_bound(const K& key) {
    return get().lower_bound(key);
  }
  template <typename K>
  size_t count(const K& key) const {
    return c_ ? c_->count(key) : 0;
  }

  template <typename... Args>
  auto emplace(Args&&... args) {
    return mutable_get().emplace(std::forward<Args>(args)...);
  }
  template <typename V>
  auto insert(V&& value) {
    return mutable_get().insert(std::forward<V>(value));
  }
  // REQUIRES: it is a valid iterator of this container (so it is allocated).
  iterator erase(iterator it) { return c_->erase(it); }
  // Erases by key; returns how many went.
  size_t erase(const typename C::key_type& key) { return c_ ? c_->erase(key) : 0; }
  void clear() {
    if (c_) c_->clear();
  }

 private:
  // The shared empty container is never changed: every write allocates first.
  C& get() const { return c_ ? *c_ : EmptyContainer(); }
  C& mutable_get() {
    if (!c_) c_ = std::make_unique<C>();
    return *c_;
  }
  static C& EmptyContainer() {
    static C empty;
    return empty;
  }

  std::unique_ptr<C> c_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_LAZY_H_
