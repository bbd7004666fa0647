// Loads the empty block_rq_complete program and holds it attached until stdin
// closes or SIGTERM; prints its kernel program id first.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdio>

#include "empty_rq_complete.skel.h"

int main() {
  empty_rq_complete* skel = empty_rq_complete__open_and_load();
  if (skel == nullptr || empty_rq_complete__attach(skel) != 0) {
    fprintf(stderr, "diskidle-bench-empty-rq: cannot load/attach the empty program (root? BTF?)\n");
    return 1;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.empty_rq_complete), &info, &len);
  printf("prog_id=%u\n", info.id);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  empty_rq_complete__destroy(skel);
  return 0;
}
