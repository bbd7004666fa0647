#include "model/syscall_class.h"

#include <linux/types.h>

#include "bio_stats.h"

namespace diskidle {
namespace {

// Markers the BPF program stores instead of a syscall number.
bool ClassifyMarker(int32_t nr, std::string_view& out) {
  switch (nr) {
    case DISKIDLE_SYSCALL_KERNEL_THREAD:
      out = "kernel";  // writeback kworkers, jbd2, xfsaild, md/dm threads
      return true;
    case DISKIDLE_SYSCALL_IO_WORKER:
      out = "io_uring";  // io-wq workers and the SQPOLL thread (PF_IO_WORKER)
      return true;
    case DISKIDLE_SYSCALL_WRITEBACK:
      out = "writeback";  // a kernel thread wrote back pages this process dirtied
      return true;
    case DISKIDLE_SYSCALL_SWAP:
      out = "swap";  // swap-out (REQ_SWAP) by a reclaiming process or kswapd
      return true;
    case DISKIDLE_SYSCALL_NONE:
      out = "pagefault";  // a user task in the kernel for a fault (mmap), not a syscall
      return true;
    default:
      if (nr < 0) {
        out = "other";  // a marker this build does not know
        return true;
      }
      return false;
  }
}

}  // namespace

// Numbers from arch/x86/entry/syscalls/syscall_64.tbl (64-bit ABI).
std::string_view ClassifySyscallX86_64(int32_t nr) {
  std::string_view marker;
  if (ClassifyMarker(nr, marker)) return marker;
  switch (nr) {
    case 0: return "read";              // read
    case 17: return "read";             // pread64
    case 19: return "read";             // readv
    case 295: return "read";            // preadv
    case 327: return "read";            // preadv2
    case 1: return "write";             // write
    case 18: return "pwrite";           // pwrite64
    case 20: return "writev";           // writev
    case 296: return "pwritev";         // pwritev
    case 328: return "pwritev";         // pwritev2
    case 74: return "fsync";            // fsync
    case 75: return "fdatasync";        // fdatasync
    case 277: return "sync_file_range"; // sync_file_range
    case 162: return "sync";            // sync
    case 306: return "syncfs";          // syncfs
    case 26: return "msync";            // msync
    case 426: return "io_uring";        // io_uring_enter
    case 209: return "aio";             // io_submit
    default: return "other";
  }
}

// Numbers from include/uapi/asm-generic/unistd.h (arm64 uses the generic table).
std::string_view ClassifySyscallArm64(int32_t nr) {
  std::string_view marker;
  if (ClassifyMarker(nr, marker)) return marker;
  switch (nr) {
    case 63: return "read";             // read
    case 67: return "read";             // pread64
    case 65: return "read";             // readv
    case 69: return "read";             // preadv
    case 286: return "read";            // preadv2
    case 64: return "write";            // write
    case 68: return "pwrite";           // pwrite64
    case 66: return "writev";           // writev
    case 70: return "pwritev";          // pwritev
    case 287: return "pwritev";         // pwritev2
    case 82: return "fsync";            // fsync
    case 83: return "fdatasync";        // fdatasync
    case 84: return "sync_file_range";  // sync_file_range
    case 81: return "sync";             // sync
    case 267: return "syncfs";          // syncfs
    case 227: return "msync";           // msync
    case 426: return "io_uring";        // io_uring_enter
    case 2: return "aio";               // io_submit
    default: return "other";
  }
}

std::string_view ClassifySyscall(int32_t nr) {
#if defined(__x86_64__)
  return ClassifySyscallX86_64(nr);
#elif defined(__aarch64__)
  return ClassifySyscallArm64(nr);
#else
#error "diskidle: syscall tables exist for x86_64 and arm64 only"
#endif
}

}  // namespace diskidle
