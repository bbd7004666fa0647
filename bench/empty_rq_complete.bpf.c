// SPDX-License-Identifier: GPL-2.0
/* The disk latency benchmark's baseline: the cheapest program on block_rq_complete. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/block_rq_complete")
int empty_rq_complete(u64 *ctx)
{
	return 0;
}
