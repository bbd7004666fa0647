// diskidle-bench-sleepers: N live processes that each did I/O, for the scrape
// benchmark (bench/scrape_bench.sh).
//
//   diskidle-bench-sleepers <file> <N>
//
// Forks N children. Each opens <file> (written and fsynced by the parent
// first), fsyncs it twice (two zero-byte flush bios on an unchanged file) and
// then sleeps until the parent lets it go. The parent prints "ready <N>" once
// every child has done its fsyncs, then waits for its stdin to close (or for a
// line), lets the children exit and reaps them, and prints "done".
// If the parent dies, the children see the end of their pipe and exit too.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void Die(const char* what) {
  fprintf(stderr, "diskidle-bench-sleepers: %s: %s\n", what, strerror(errno));
  exit(2);
}

[[noreturn]] void Child(const char* path, int ready_fd, int go_fd) {
  int fd = open(path, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0 || fsync(fd) != 0) _exit(3);
  char c = 1;
  if (write(ready_fd, &c, 1) != 1) _exit(4);
  // Blocks until the parent closes its end (or dies): a sleeping process.
  while (read(go_fd, &c, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: diskidle-bench-sleepers <file> <N>\n");
    return 2;
  }
  const char* path = argv[1];
  const long n = strtol(argv[2], nullptr, 10);
  int setup = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  static char page[4096];
  if (setup < 0 || write(setup, page, sizeof(page)) != sizeof(page) || fsync(setup) != 0) {
    Die("prepare file");
  }
  close(setup);
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) Die("pipe");
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) Die("fork");
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);
      Child(path, ready[1], go[0]);
    }
  }
  close(ready[1]);
  close(go[0]);
  long done = 0;
  char buf[4096];
  while (done < n) {
    ssize_t got = read(ready[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every child gone: one failed
    done += got;
  }
  if (done < n) {
    fprintf(stderr, "diskidle-bench-sleepers: only %ld of %ld children did their fsyncs\n",
            done, n);
  } else {
    printf("ready %ld\n", n);
    fflush(stdout);
    while (read(0, buf, sizeof(buf)) < 0 && errno == EINTR) {
    }
  }
  close(go[1]);
  int failed = 0;
  int status;
  while (wait(&status) > 0) {
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  printf("done\n");
  return done == n && failed == 0 ? 0 : 1;
}
