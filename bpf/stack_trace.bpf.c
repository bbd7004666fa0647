// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel and user stacks of the bios of one process (or one comm) at
 * block_bio_queue, for GET /debug/stacks. Loaded and attached only for the
 * length of one collection, then destroyed: while nobody asks for stacks the
 * tracepoint runs nothing of ours (a program that returned early on a flag
 * would still cost every bio on the machine its call).
 *
 * block_bio_queue fires in the submitter's context (see bio_stats.bpf.c), so
 * the kernel stack is the path from the syscall to submit_bio and the user
 * stack is the code that made the syscall.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bio_stats.h"
#include "stack_trace.h"
#include "core_fixes.bpf.h"
#include "bio_fields.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define BPF_F_USER_STACK (1ULL << 8) /* include/uapi/linux/bpf.h */

/* The filter, fixed before load; 0 / "" / DISKIDLE_STACK_ANY_OP: any. */
const volatile __u32 target_tgid = 0;
const volatile char target_comm[DISKIDLE_STACK_COMM_LEN] = {};
const volatile __u32 target_dev = 0; /* whole disk, major << 20 | first_minor */
const volatile __u8 target_op = DISKIDLE_STACK_ANY_OP;

/* Sizes are set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(u32));
	__uint(value_size, DISKIDLE_STACK_DEPTH * sizeof(u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stack_key);
	__type(value, u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISKIDLE_STACK_TOTALS);
	__type(key, u32);
	__type(value, u64);
} totals SEC(".maps");

static __always_inline void add_total(u32 index)
{
	u64 *n = bpf_map_lookup_elem(&totals, &index);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline bool comm_matches(const char *comm)
{
	if (!target_comm[0])
		return true;
#pragma unroll
	for (int i = 0; i < DISKIDLE_STACK_COMM_LEN; i++) {
		if (comm[i] != target_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline int record_stack(void *ctx, u32 opf, u32 bytes, struct block_device *bdev)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct stack_key key = {};
	u64 one = 1, *count;

	key.tgid = task->tgid;
	if (target_tgid && key.tgid != target_tgid)
		return 0;
	if (target_op != DISKIDLE_STACK_ANY_OP && classify_op(opf, bytes) != target_op)
		return 0;
	if (target_dev && whole_disk(bdev) != target_dev)
		return 0;
	/* The group leader's name, as the metrics' comm label. */
	bpf_probe_read_kernel_str(key.comm, sizeof(key.comm), task->group_leader->comm);
	if (!comm_matches(key.comm))
		return 0;

	add_total(DISKIDLE_STACK_MATCHED);
	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	count = bpf_map_lookup_elem(&counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	if (!bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST))
		return 0;
	/* Another CPU inserted it meanwhile, or the map is full. */
	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		add_total(DISKIDLE_STACK_UNCOUNTED);
	return 0;
}

SEC("tp_btf/block_bio_queue")
int stack_bio_queue_btf(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];

	return record_stack(ctx, bio->bi_opf, bio->bi_iter.bi_size, bio->bi_bdev);
}

/* Twin for kernels where tp_btf cannot attach (see bio_stats.bpf.c). */
SEC("raw_tp/block_bio_queue")
int stack_bio_queue_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct bio *bio = (struct bio *)ctx->args[0];

	return record_stack(ctx, BPF_CORE_READ(bio, bi_opf), BPF_CORE_READ(bio, bi_iter.bi_size),
			    BPF_CORE_READ(bio, bi_bdev));
}
