// diskidle-iogen: I/O patterns for the privileged tests, one per mode, each
// doing exactly what the test then looks for in /metrics.
//
//   diskidle-iogen <mode> <file> [count]
//     fsync-loop N        write 4 KiB once, fsync, then fsync the unchanged file N times
//     fsync-for MS        the same, for MS milliseconds; prints how many fsyncs it did
//     pwrite-fdatasync N  N x (pwrite 4 KiB at a new offset + fdatasync)
//     direct-pwrite N     N x O_DIRECT pwrite of 64 KiB
//     osync-write N       N x write of 4 KiB to an O_SYNC file
//     forks N             N child processes that each fsync the unchanged file 3 times
//     fsync-existing N    N x fsync of an existing file, without writing it first
//     fsync-fdatasync N   write 4 KiB once, fsync, then N x (fsync + fdatasync) of the
//                         unchanged file: two zero-byte flushes per round from one
//                         thread to one disk that differ only in their syscall
//     fsync-then-exec N PROG ARGS...  fsync-loop N, then after one more stdin line
//                         exec()s PROG ARGS (the same process under another name)
//     direct-pread N      N x O_DIRECT pread of 4 KiB (file prepared before "ready")
//     direct-writev N     N x O_DIRECT writev of one 64 KiB iovec
//     msync N             N x (dirty one page of a shared mapping + msync(MS_SYNC))
//     sync-file-range N   N x (pwrite 4 KiB over allocated blocks + sync_file_range)
//     sync N              N x (pwrite 4 KiB + sync())
//     syncfs N            N x (pwrite 4 KiB + syncfs())
//     aio N               N x io_submit of one O_DIRECT 4 KiB write (raw AIO syscalls)
//     uring-fsync N       N x IORING_OP_FSYNC of the unchanged file (runs on io-wq)
//     uring-sqpoll N      N x IORING_OP_WRITE of 4 KiB, O_DIRECT, through an SQPOLL ring
//     blkdiscard N        N x BLKDISCARD of 64 KiB on <file>, a block device
//     blkzeroout N        N x BLKZEROOUT of 64 KiB on <file>, a block device
//     sleep N             no I/O at all (a process that only lives)
//     syscall-mix F W P E F x fsync of the unchanged file, then W x zero-byte write(),
//                         P x pwrite() of 4 KiB at new offsets, E x writev() of 1 byte
//                         on a read-only fd (fails with EBADF); prints "done F"
//     getppid N           N x getppid() and nothing else: prints nothing at all
//                         (not even "ready"/"done": a write would be a traced
//                         syscall); the exit status says it ran
//     time-getppid N      N x getppid(); prints "ns_per_call <ns>" (bench/)
//     time-write0 N       N x zero-byte write() to <file>; prints "ns_per_call <ns>"
//
// Prints "pid=<pid> ready" after the preparation and "done <operations>" at the
// end. With --wait it reads one line from stdin after "ready" before starting
// (so the test can take a baseline); with --hold it waits for stdin to close
// before exiting, so the test can scrape a live process.
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void Die(const char* what) {
  fprintf(stderr, "diskidle-iogen: %s: %s\n", what, strerror(errno));
  exit(2);
}

// Announces the pid, then optionally waits for the test's go-ahead line.
void Ready(bool wait) {
  printf("pid=%d ready\n", getpid());
  fflush(stdout);
  if (wait) {
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
  }
}

void FullPwrite(int fd, const void* buf, size_t len, off_t off) {
  if (pwrite(fd, buf, len, off) != static_cast<ssize_t>(len)) Die("pwrite");
}

// A file of `bytes` written and fsynced before "ready": overwriting it later
// allocates nothing, so only data bios follow (no new extents to journal).
int Prepared(const char* path, long bytes, int flags) {
  int setup = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (setup < 0) Die("open");
  static char zeros[65536];
  for (long off = 0; off < bytes; off += sizeof(zeros)) {
    FullPwrite(setup, zeros, std::min<long>(sizeof(zeros), bytes - off), off);
  }
  if (fsync(setup) != 0) Die("fsync");
  close(setup);
  int fd = open(path, flags);
  if (fd < 0) Die("open prepared file");
  return fd;
}

// A minimal io_uring through the raw syscalls (liburing is not a dependency):
// one submission at a time, waited for before the next.
class Ring {
 public:
  explicit Ring(unsigned flags) {
    io_uring_params params{};
    params.flags = flags;
    params.sq_thread_idle = 2000;  // ms the SQPOLL thread keeps polling
    fd_ = static_cast<int>(syscall(__NR_io_uring_setup, 8, &params));
    if (fd_ < 0) Die("io_uring_setup");
    sqpoll_ = flags & IORING_SETUP_SQPOLL;
    size_t sq_len = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_len = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
    size_t len = std::max(sq_len, cq_len);  // IORING_FEAT_SINGLE_MMAP (5.4+)
    auto* ring = static_cast<char*>(
        mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
             IORING_OFF_SQ_RING));
    if (ring == MAP_FAILED) Die("mmap io_uring");
    sqes_ = static_cast<io_uring_sqe*>(
        mmap(nullptr, params.sq_entries * sizeof(io_uring_sqe), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES));
    if (sqes_ == MAP_FAILED) Die("mmap io_uring sqes");
    sq_tail_ = reinterpret_cast<std::atomic<unsigned>*>(ring + params.sq_off.tail);
    sq_flags_ = reinterpret_cast<std::atomic<unsigned>*>(ring + params.sq_off.flags);
    sq_mask_ = *reinterpret_cast<unsigned*>(ring + params.sq_off.ring_mask);
    sq_array_ = reinterpret_cast<unsigned*>(ring + params.sq_off.array);
    cq_head_ = reinterpret_cast<std::atomic<unsigned>*>(ring + params.cq_off.head);
    cq_tail_ = reinterpret_cast<std::atomic<unsigned>*>(ring + params.cq_off.tail);
    cq_mask_ = *reinterpret_cast<unsigned*>(ring + params.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(ring + params.cq_off.cqes);
  }

  // Submits `sqe` and waits for its completion; dies unless it returned `expect`.
  void Run(const io_uring_sqe& sqe, int expect) {
    unsigned tail = sq_tail_->load(std::memory_order_relaxed);
    sqes_[tail & sq_mask_] = sqe;
    sq_array_[tail & sq_mask_] = tail & sq_mask_;
    sq_tail_->store(tail + 1, std::memory_order_release);
    unsigned enter_flags = IORING_ENTER_GETEVENTS;
    unsigned to_submit = 1;
    if (sqpoll_) {  // the kernel thread submits; wake it if it went idle
      to_submit = 0;
      if (sq_flags_->load(std::memory_order_acquire) & IORING_SQ_NEED_WAKEUP) {
        enter_flags |= IORING_ENTER_SQ_WAKEUP;
      }
    }
    unsigned head = cq_head_->load(std::memory_order_relaxed);
    while (cq_tail_->load(std::memory_order_acquire) == head) {
      if (syscall(__NR_io_uring_enter, fd_, to_submit, 1, enter_flags, nullptr, 0) < 0 &&
          errno != EINTR) {
        Die("io_uring_enter");
      }
      to_submit = 0;
    }
    int res = cqes_[head & cq_mask_].res;
    cq_head_->store(head + 1, std::memory_order_release);
    if (res != expect) {
      errno = res < 0 ? -res : EIO;
      Die("io_uring operation");
    }
  }

 private:
  int fd_;
  bool sqpoll_;
  io_uring_sqe* sqes_;
  std::atomic<unsigned>* sq_tail_;
  std::atomic<unsigned>* sq_flags_;
  unsigned sq_mask_;
  unsigned* sq_array_;
  std::atomic<unsigned>* cq_head_;
  std::atomic<unsigned>* cq_tail_;
  unsigned cq_mask_;
  io_uring_cqe* cqes_;
};

}  // namespace

int main(int argc, char** argv) {
  bool hold = false;
  bool wait = false;
  int arg = 1;
  for (; arg < argc && argv[arg][0] == '-'; ++arg) {
    std::string flag = argv[arg];
    if (flag == "--hold") {
      hold = true;
    } else if (flag == "--wait") {
      wait = true;
    } else {
      fprintf(stderr, "diskidle-iogen: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (argc - arg < 2) {
    fprintf(stderr, "usage: diskidle-iogen [--hold] <mode> <file> [count]\n");
    return 2;
  }
  std::string mode = argv[arg];
  const char* path = argv[arg + 1];
  long count = argc - arg > 2 ? strtol(argv[arg + 2], nullptr, 10) : 1;

  static char block[65536] __attribute__((aligned(4096)));
  memset(block, 'd', sizeof(block));

  long operations = count;
  if (mode == "getppid") {
    for (long i = 0; i < count; ++i) syscall(SYS_getppid);  // not cached by glibc
    _exit(0);
  }
  if (mode == "time-getppid" || mode == "time-write0") {
    int fd = mode == "time-write0" ? open(path, O_WRONLY | O_CREAT, 0644) : -1;
    if (mode == "time-write0" && fd < 0) Die("open");
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i) {
      if (fd >= 0) {
        if (write(fd, block, 0) != 0) Die("write");
      } else {
        syscall(SYS_getppid);
      }
    }
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    printf("ns_per_call %.1f\n", ns.count() / static_cast<double>(count));
    return 0;
  }
  if (mode == "fsync-loop" || mode == "fsync-for" || mode == "forks") {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) Die("open");
    FullPwrite(fd, block, 4096, 0);
    if (fsync(fd) != 0) Die("fsync");  // data and metadata on disk: later fsyncs find nothing dirty
    Ready(wait);
    if (mode == "fsync-loop") {
      for (long i = 0; i < count; ++i) {
        if (fsync(fd) != 0) Die("fsync");
      }
    } else if (mode == "fsync-for") {
      auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(count);
      for (operations = 0; std::chrono::steady_clock::now() < end; ++operations) {
        if (fsync(fd) != 0) Die("fsync");
      }
    } else {
      for (long i = 0; i < count; ++i) {
        pid_t child = fork();
        if (child < 0) Die("fork");
        if (child == 0) {
          for (int j = 0; j < 3; ++j) {
            if (fsync(fd) != 0) Die("fsync");
          }
          _exit(0);
        }
        int status = 0;
        if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          Die("child");
        }
      }
    }
    close(fd);
  } else if (mode == "pwrite-fdatasync") {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) Die("open");
    if (fsync(fd) != 0) Die("fsync");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      FullPwrite(fd, block, 4096, i * 4096);
      if (fdatasync(fd) != 0) Die("fdatasync");
    }
    close(fd);
  } else if (mode == "direct-pwrite") {
    // Allocate first (buffered) so the O_DIRECT writes below are pure data writes.
    int setup = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (setup < 0) Die("open");
    for (long i = 0; i < count; ++i) FullPwrite(setup, block, sizeof(block), i * sizeof(block));
    if (fsync(setup) != 0) Die("fsync");
    close(setup);
    int fd = open(path, O_WRONLY | O_DIRECT);
    if (fd < 0) Die("open O_DIRECT");
    Ready(wait);
    for (long i = 0; i < count; ++i) FullPwrite(fd, block, sizeof(block), i * sizeof(block));
    close(fd);
  } else if (mode == "osync-write") {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_SYNC, 0644);
    if (fd < 0) Die("open O_SYNC");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (write(fd, block, 4096) != 4096) Die("write");
    }
    close(fd);
  } else if (mode == "fsync-existing") {
    int fd = open(path, O_WRONLY);
    if (fd < 0) Die("open");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (fsync(fd) != 0) Die("fsync");
    }
    close(fd);
  } else if (mode == "fsync-fdatasync") {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) Die("open");
    FullPwrite(fd, block, 4096, 0);
    if (fsync(fd) != 0) Die("fsync");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (fsync(fd) != 0) Die("fsync");
      if (fdatasync(fd) != 0) Die("fdatasync");
    }
    close(fd);
  } else if (mode == "fsync-then-exec") {
    if (argc - arg < 4) {
      fprintf(stderr, "diskidle-iogen: fsync-then-exec needs N PROG [ARGS...]\n");
      return 2;
    }
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) Die("open");
    FullPwrite(fd, block, 4096, 0);
    if (fsync(fd) != 0) Die("fsync");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (fsync(fd) != 0) Die("fsync");
    }
    close(fd);
    printf("done %ld\n", count);
    fflush(stdout);
    Ready(true);  // the test saw us under our first name: now become PROG
    execv(argv[arg + 3], argv + arg + 3);
    Die("execv");
  } else if (mode == "direct-pread") {
    int fd = Prepared(path, count * 4096, O_RDONLY | O_DIRECT);
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (pread(fd, block, 4096, i * 4096) != 4096) Die("pread");
    }
    close(fd);
  } else if (mode == "direct-writev") {
    int fd = Prepared(path, count * sizeof(block), O_WRONLY | O_DIRECT);
    Ready(wait);
    iovec iov{block, sizeof(block)};
    for (long i = 0; i < count; ++i) {
      if (writev(fd, &iov, 1) != static_cast<ssize_t>(sizeof(block))) Die("writev");
    }
    close(fd);
  } else if (mode == "msync") {
    int fd = Prepared(path, count * 4096, O_RDWR);
    auto* map = static_cast<char*>(
        mmap(nullptr, count * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (map == MAP_FAILED) Die("mmap");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      map[i * 4096] = 'm';
      if (msync(map + i * 4096, 4096, MS_SYNC) != 0) Die("msync");
    }
    munmap(map, count * 4096);
    close(fd);
  } else if (mode == "sync-file-range") {
    int fd = Prepared(path, count * 4096, O_WRONLY);
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      FullPwrite(fd, block, 4096, i * 4096);
      if (sync_file_range(fd, i * 4096, 4096,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
        Die("sync_file_range");
      }
    }
    close(fd);
  } else if (mode == "sync" || mode == "syncfs") {
    int fd = Prepared(path, count * 4096, O_WRONLY);
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      FullPwrite(fd, block, 4096, i * 4096);
      if (mode == "sync") {
        sync();
      } else if (syncfs(fd) != 0) {
        Die("syncfs");
      }
    }
    close(fd);
  } else if (mode == "aio") {
    int fd = Prepared(path, count * 4096, O_WRONLY | O_DIRECT);
    aio_context_t ctx = 0;
    if (syscall(__NR_io_setup, 1, &ctx) != 0) Die("io_setup");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      iocb cb{};
      cb.aio_lio_opcode = IOCB_CMD_PWRITE;
      cb.aio_fildes = fd;
      cb.aio_buf = reinterpret_cast<uintptr_t>(block);
      cb.aio_nbytes = 4096;
      cb.aio_offset = i * 4096;
      iocb* list[1] = {&cb};
      if (syscall(__NR_io_submit, ctx, 1, list) != 1) Die("io_submit");
      io_event event{};
      if (syscall(__NR_io_getevents, ctx, 1, 1, &event, nullptr) != 1) Die("io_getevents");
      if (event.res != 4096) {
        errno = EIO;
        Die("aio write");
      }
    }
    syscall(__NR_io_destroy, ctx);
    close(fd);
  } else if (mode == "uring-fsync") {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) Die("open");
    FullPwrite(fd, block, 4096, 0);
    if (fsync(fd) != 0) Die("fsync");
    Ring ring(0);
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      io_uring_sqe sqe{};
      sqe.opcode = IORING_OP_FSYNC;  // cannot run non-blocking: always punted to io-wq
      sqe.fd = fd;
      ring.Run(sqe, 0);
    }
    close(fd);
  } else if (mode == "uring-sqpoll") {
    int fd = Prepared(path, count * 4096, O_WRONLY | O_DIRECT);
    Ring ring(IORING_SETUP_SQPOLL);
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      io_uring_sqe sqe{};
      sqe.opcode = IORING_OP_WRITE;
      sqe.fd = fd;
      sqe.addr = reinterpret_cast<uintptr_t>(block);
      sqe.len = 4096;
      sqe.off = i * 4096;
      ring.Run(sqe, 4096);
    }
    close(fd);
  } else if (mode == "blkdiscard" || mode == "blkzeroout") {
    int fd = open(path, O_WRONLY);
    if (fd < 0) Die("open block device");
    Ready(wait);
    unsigned long request = mode == "blkdiscard" ? BLKDISCARD : BLKZEROOUT;
    for (long i = 0; i < count; ++i) {
      uint64_t range[2] = {static_cast<uint64_t>(i) * 65536, 65536};
      if (ioctl(fd, request, range) != 0) Die(mode.c_str());
    }
    close(fd);
  } else if (mode == "syscall-mix") {
    if (argc - arg < 6) {
      fprintf(stderr, "diskidle-iogen: syscall-mix needs F W P E\n");
      return 2;
    }
    const long writes = strtol(argv[arg + 3], nullptr, 10);
    const long pwrites = strtol(argv[arg + 4], nullptr, 10);
    const long failing = strtol(argv[arg + 5], nullptr, 10);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) Die("open");
    FullPwrite(fd, block, 4096, 0);
    if (fsync(fd) != 0) Die("fsync");
    int read_only = open(path, O_RDONLY);
    if (read_only < 0) Die("open read-only");
    Ready(wait);
    for (long i = 0; i < count; ++i) {
      if (fsync(fd) != 0) Die("fsync");
    }
    for (long i = 0; i < writes; ++i) {
      if (write(fd, block, 0) != 0) Die("write");
    }
    for (long i = 0; i < pwrites; ++i) FullPwrite(fd, block, 4096, (i + 1) * 4096);
    iovec iov{block, 1};
    for (long i = 0; i < failing; ++i) {
      if (writev(read_only, &iov, 1) != -1 || errno != EBADF) Die("writev on a read-only fd");
    }
    close(read_only);
    close(fd);
  } else if (mode == "sleep") {
    Ready(wait);
    operations = 0;
  } else {
    fprintf(stderr, "diskidle-iogen: unknown mode %s\n", mode.c_str());
    return 2;
  }
  printf("done %ld\n", operations);
  fflush(stdout);
  if (hold) {
    char c;
    while (read(0, &c, 1) > 0) {
    }
  }
  return 0;
}
