// diskidle-syscall-table: prints the exporter's syscall tables
// (exporter/model/syscall_class.cc) for tests/arch/check_syscall_numbers.py,
// which compares them with the numbers in the kernel headers of each
// architecture. Both tables are printed on any host: the arm64 one is checked
// on x86_64 CI machines.
//
//   diskidle-syscall-table x86_64|arm64
//     one line "<number> <syscall label>" for every syscall number the table
//     gives a label other than "other"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "model/syscall_class.h"

namespace {

// Far above any syscall number either architecture has (both are below 500),
// so a number mapped by mistake far out of range is still printed.
constexpr int32_t kLastNumber = 1 << 16;

}  // namespace

int main(int argc, char** argv) {
  std::string_view (*classify)(int32_t) = nullptr;
  if (argc == 2 && std::strcmp(argv[1], "x86_64") == 0) classify = diskidle::ClassifySyscallX86_64;
  if (argc == 2 && std::strcmp(argv[1], "arm64") == 0) classify = diskidle::ClassifySyscallArm64;
  if (classify == nullptr) {
    std::fprintf(stderr, "usage: diskidle-syscall-table x86_64|arm64\n");
    return 2;
  }
  for (int32_t nr = 0; nr <= kLastNumber; ++nr) {
    const std::string_view label = classify(nr);
    if (label != "other") {
      std::printf("%d %.*s\n", nr, static_cast<int>(label.size()), label.data());
    }
  }
  return 0;
}
