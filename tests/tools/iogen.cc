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
//
// Prints "pid=<pid> ready" after the preparation and "done <operations>" at the
// end. With --wait it reads one line from stdin after "ready" before starting
// (so the test can take a baseline); with --hold it waits for stdin to close
// before exiting, so the test can scrape a live process.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

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
