// A fixed-capacity map that forgets the least recently used entry first.
// Not thread-safe: the owner locks (pod_resolver.cc).
#pragma once

#include <cstddef>
#include <list>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace diskidle {

template <typename Key, typename Value>
class LruCache {
 public:
  // A capacity of 0 would forget every entry at once; it holds at least one.
  explicit LruCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The value at `key`, now the most recently used, or nullptr. The pointer
  // lives until the next Insert.
  const Value* Get(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Inserts `value` unless `key` is present; either way returns the value now
  // held and whether it was inserted (an entry, once given, is never replaced).
  std::pair<const Value*, bool> Insert(const Key& key, Value value) {
    if (const Value* held = Get(key)) return {held, false};
    if (order_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    return {&order_.front().second, true};
  }

  size_t size() const { return order_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::list<std::pair<Key, Value>> order_;  // most recently used first
  absl::flat_hash_map<Key, typename std::list<std::pair<Key, Value>>::iterator> index_;
};

}  // namespace diskidle
