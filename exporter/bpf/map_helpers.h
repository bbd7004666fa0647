// Small helpers over libbpf's map syscalls: walking the keys of a hash map and
// reading (and summing) the per-CPU values of one key.
#pragma once

#include <bpf/bpf.h>

#include <cstddef>
#include <cstdint>
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
