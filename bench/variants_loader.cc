// diskidle-bench-variants NAME...: loads cost_variants.bpf.c, attaches the
// programs named, in that order (the attach order decides who runs first for
// each bio), prints "<name> <prog_id>" per program and holds them attached
// until stdin closes or SIGTERM.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdio>

#include "cost_variants.skel.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: diskidle-bench-variants PROGRAM...\n");
    return 2;
  }
  cost_variants* skel = cost_variants__open_and_load();
  if (skel == nullptr) {
    fprintf(stderr, "diskidle-bench-variants: cannot load cost_variants (root? BTF? Linux 6.2+?)\n");
    return 1;
  }
  // Not measured: keeps v_stack's slots honest across task creation.
  if (bpf_program__attach(skel->progs.v_newtask) == nullptr) {
    fprintf(stderr, "diskidle-bench-variants: cannot attach v_newtask\n");
    return 1;
  }
  for (int i = 1; i < argc; ++i) {
    bpf_program* prog = bpf_object__find_program_by_name(skel->obj, argv[i]);
    if (prog == nullptr || bpf_program__attach(prog) == nullptr) {
      fprintf(stderr, "diskidle-bench-variants: cannot attach %s\n", argv[i]);
      return 1;
    }
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
    printf("%s %u\n", argv[i], info.id);
  }
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  cost_variants__destroy(skel);  // links are leaked on purpose: the process exits
  return 0;
}
