// SPDX-License-Identifier: GPL-2.0
/* The benchmark's baseline: the cheapest program on the same tracepoint. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/block_bio_queue")
int empty_bio_queue(u64 *ctx)
{
	return 0;
}
