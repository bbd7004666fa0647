/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between stack_trace.bpf.c (on-demand stacks of /debug/stacks) and
 * the exporter. Plain __u32/__u64 types only; include <linux/types.h> first in
 * user space.
 */
#ifndef DISKIDLE_STACK_TRACE_H
#define DISKIDLE_STACK_TRACE_H

#define DISKIDLE_STACK_COMM_LEN 16
/* Frames kept per stack: the stack map's value is this many u64 addresses
 * (the kernel's PERF_MAX_STACK_DEPTH). */
#define DISKIDLE_STACK_DEPTH 127

/* No filter on this field (rodata knobs set by the loader). */
#define DISKIDLE_STACK_ANY_OP 0xff

/* One distinct (process, kernel stack, user stack) seen at block_bio_queue. */
struct stack_key {
	__u32 tgid;
	/* Ids in the `stacks` map, or the negative errno of bpf_get_stackid()
	 * (-EFAULT: no user stack, as for kernel threads; -EEXIST: hash
	 * collision with another stack; -ENOMEM: the stack map is full). */
	__s32 kernel_stack_id;
	__s32 user_stack_id;
	__u32 pad;
	char comm[DISKIDLE_STACK_COMM_LEN]; /* group leader's comm */
};

/* Indexes of the per-CPU `totals` counters. */
enum diskidle_stack_total {
	DISKIDLE_STACK_MATCHED = 0, /* bios that matched the filter */
	DISKIDLE_STACK_UNCOUNTED = 1, /* of those, not in `counts` (map full) */
	DISKIDLE_STACK_TOTALS = 2,
};

#endif /* DISKIDLE_STACK_TRACE_H */
