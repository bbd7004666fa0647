// Small helpers over libbpf's map syscalls: walking the keys of a hash map and
// reading (and summing) the per-CPU values of one key.
#pragma once

#include <bpf/bpf.h>

#include <cstddef>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <type_traits>
#include <vector>

namespace diskidle {

// Calls fn(key) for every key of the hash map `map_fd`. Keys inserted or
// deleted during the walk may or may not be seen. `fn` must not delete the key
// it is given: the walk continues from it, and a hash map restarts from its
// first key when the previous key is gone (collect keys, delete afterwards).
template <typename Key, typename Fn>
void ForEachKey(int map_fd, Fn&& fn) {
  Key key{}, next{};
  const Key* prev = nullptr;  // nullptr: start from the first key
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    fn(static_cast<const Key&>(key));
  }
}

// Calls fn(key, values) for every entry of the hash map `map_fd`, reading up to
// 1,024 entries per syscall (BPF_MAP_LOOKUP_BATCH, Linux 5.6+) instead of two
// syscalls per entry. `values` points at the entry's value as the kernel lays
// it out (for a per-CPU map: one slot per possible CPU at 8-byte strides,
// `value_size` bytes in all). Returns false, having called fn for nothing, when
// the kernel cannot batch this map (then walk it with ForEachKey).
template <typename Key, typename Fn>
bool ForEachEntryBatched(int map_fd, size_t value_size, Fn&& fn) {
  constexpr uint32_t kBatch = 1024;
  std::vector<Key> keys(kBatch);
  std::vector<char> values(value_size * kBatch);
  // The batch position token: a bucket index for hash maps; sized generously.
  alignas(8) char in_token[64] = {}, out_token[64] = {};
  bool first = true;
  while (true) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_lookup_batch(map_fd, first ? nullptr : in_token, out_token, keys.data(),
                                  values.data(), &count, &opts);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != ENOENT) {
      if (first) return false;  // EINVAL/ENOTSUP: no batch support for this map
      // Failing in the middle (ENOSPC: one bucket larger than a batch) would
      // leave a partial walk: the caller starts over without batching.
      return false;
    }
    for (uint32_t i = 0; i < count; ++i) {
      fn(static_cast<const Key&>(keys[i]), values.data() + static_cast<size_t>(i) * value_size);
    }
    if (err == ENOENT) return true;  // that was the last batch
    memcpy(in_token, out_token, sizeof(in_token));
    first = false;
  }
}

// One key's values of a per-CPU map, one per possible CPU. The buffer is reused
// across lookups, so walking a large map allocates nothing per key.
template <typename Value>
class PerCpuValues {
 public:
  explicit PerCpuValues(int num_cpus)
      : num_cpus_(num_cpus), raw_(kStride * static_cast<size_t>(num_cpus)) {}

  // Reads the values of `key`; false (errno set) when the key is absent.
  bool Lookup(int map_fd, const void* key) {
    return bpf_map_lookup_elem(map_fd, key, raw_.data()) == 0;
  }

  int num_cpus() const { return num_cpus_; }

  // The value of `cpu` from the last successful Lookup (copied out: the
  // buffer's layout guarantees no alignment for Value).
  Value At(int cpu) const {
    Value value;
    memcpy(&value, raw_.data() + static_cast<size_t>(cpu) * kStride, sizeof(Value));
    return value;
  }

  // Sum over CPUs of a plain counter map (Value is an integer).
  Value Sum() const requires std::is_integral_v<Value> {
    Value sum = 0;
    for (int cpu = 0; cpu < num_cpus_; ++cpu) sum += At(cpu);
    return sum;
  }

  // Sum over CPUs of one field of a struct value, e.g. Sum(&bio_value::bios).
  // (V defers forming the member pointer type: Value may be an integer.)
  template <typename Field, typename V = Value>
  Field Sum(Field V::*field) const {
    Field sum = 0;
    for (int cpu = 0; cpu < num_cpus_; ++cpu) sum += At(cpu).*field;
    return sum;
  }

 private:
  // The kernel lays per-CPU values out at 8-byte strides.
  static constexpr size_t kStride = (sizeof(Value) + 7) & ~size_t{7};
  int num_cpus_;
  std::vector<char> raw_;
};

}  // namespace diskidle
