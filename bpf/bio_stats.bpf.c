// SPDX-License-Identifier: GPL-2.0
/*
 * Counts every bio at submission (block_bio_queue), in the context of the task
 * that submitted it, keyed by process, whole disk, op, syscall and size bucket.
 *
 * block_bio_queue fires once per bio in submit_bio_noacct_nocheck(), in the
 * submitter's context, before the bio is split or merged into a request, so a
 * flush issued by fsync() carries the caller's PID (request-level hooks such
 * as block_rq_issue often run from a kworker instead).
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bio_stats.h"
#include "core_fixes.bpf.h"
#include "bio_fields.bpf.h"
#include "size_bucket.bpf.h"
#include "process_rename.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Task flags (include/linux/sched.h); unchanged since they were added. */
#define PF_IO_WORKER 0x00000010 /* io_uring worker thread (5.12+) */
#define PF_KTHREAD 0x00200000

/* Sizes of the maps are set by the loader before load (config). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bio_key);
	__type(value, struct bio_value);
} bio_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct process_key);
	__type(value, struct process_info);
} processes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISKIDLE_CACHE_SLOTS);
	__type(key, u32);
	__type(value, struct bio_cache);
} cache SEC(".maps");

/* Set by user space while it takes a snapshot (bio_stats.h); in .bss, which
 * libbpf maps into the exporter's memory, so flipping it needs no syscall. */
volatile __u32 cache_bypass;

/* Set by the loader before load (read-only to the program, so the verifier
 * prunes the thread-name copy when it is off). */
const volatile __u32 record_threads = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISKIDLE_DROP_REASONS);
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

static __always_inline void count_drop(u32 reason, u64 bios)
{
	u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += bios; /* per-CPU slot: no atomic needed */
}

/*
 * The user registers saved at kernel entry sit at the top of the task's kernel
 * stack; orig_ax (x86_64) / syscallno (arm64) is the number of the syscall
 * being served, or -1 when the task entered the kernel otherwise (fault).
 * bpf_task_pt_regs() needs Linux 5.15.
 */
static __always_inline s32 syscall_in(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return (s32)regs->orig_ax;
#else
	return regs->syscallno;
#endif
}

static __always_inline s32 user_syscall(struct task_struct *task)
{
	return syscall_in((struct pt_regs *)bpf_task_pt_regs(task));
}

/*
 * bpf_rdonly_cast() (kfunc, Linux 6.2+) turns an address into a read-only
 * typed pointer. The verifier replaces the call with a register move and the
 * loads through it become fault-checked (PROBE_MEM) loads, like any BTF
 * pointer's: no helper call. __weak: on a kernel without it libbpf leaves the
 * extern unresolved, which is fine as long as the program calling it is not
 * loaded (checked with libbpf 1.1: the object loads with that program's
 * autoload off; with it on the kernel refuses the program, and the loader then
 * takes block_bio_queue_btf_compat).
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/*
 * The syscall number at `regs`, an address bpf_task_pt_regs() gave for the
 * current thread earlier. Measured at ~150k bios/s (bench/cost_variants.sh):
 * calling bpf_task_pt_regs() on every hit costs ~25 ns, about 0.4x an empty
 * program; this direct load costs nothing measurable. It is correct because a
 * thread's saved user registers stay at the same address for its whole life:
 * task_pt_regs() is computed from task->stack, which is allocated at fork
 * and never moves (x86_64 and arm64 alike), and a hit has checked that the
 * current thread is the one (pid and start time) the address was taken from
 * (a slot left over from an exited thread is never read: no live thread
 * matches it; and the load is fault-checked anyway).
 * The value itself is read live, so a thread alternating write() and fsync()
 * gets each bio's own syscall.
 */
static __always_inline s32 saved_syscall(u64 regs, bool fast)
{
	if (fast)
		return syscall_in((struct pt_regs *)bpf_rdonly_cast(
			(void *)regs, bpf_core_type_id_kernel(struct pt_regs)));
	/* Kernels before 6.2: the helper, for the current task (the same thread). */
	return user_syscall(bpf_get_current_task_btf());
}

/* The syscall a task is in, or a marker for threads that make none. */
static __always_inline s32 current_syscall(struct task_struct *task)
{
	u32 flags = task->flags;

	if (flags & PF_IO_WORKER)
		return DISKIDLE_SYSCALL_IO_WORKER;
	if (flags & PF_KTHREAD)
		return DISKIDLE_SYSCALL_KERNEL_THREAD;
	return user_syscall(task);
}

/*
 * Records the process name on every new key, not only the first: a process
 * that did I/O and then exec()ed (sh -c "sync", a JVM launcher script) shows
 * under its new name, as ps does, from its next new key on.
 */
static __always_inline void remember_process(struct task_struct *leader,
					     const struct process_key *pkey)
{
	struct process_info info;

	bpf_probe_read_kernel_str(info.comm, sizeof(info.comm), leader->comm);
	if (bpf_map_update_elem(&processes, pkey, &info, BPF_ANY))
		count_drop(DISKIDLE_DROP_PROCESS_MAP_FULL, 1);
}

/*
 * Adds bios/bytes to `key` in bio_counts. Returns 1 if the key is new (then
 * the caller records the process name), 0 if it existed, -1 if the map was
 * full (then the bios are counted as dropped if `drop_if_full`).
 */
static __always_inline int add_to_map(const struct bio_key *key, u64 bios, u64 bytes,
				      bool drop_if_full)
{
	struct bio_value *value, first = { .bios = bios, .bytes = bytes };

	value = bpf_map_lookup_elem(&bio_counts, key);
	if (value) { /* this CPU's slot: no atomics */
		value->bios += bios;
		value->bytes += bytes;
		return 0;
	}
	if (!bpf_map_update_elem(&bio_counts, key, &first, BPF_NOEXIST))
		return 1;
	/* Lost a race with another CPU inserting the key, or the map is full. */
	value = bpf_map_lookup_elem(&bio_counts, key);
	if (!value) {
		if (drop_if_full)
			count_drop(DISKIDLE_DROP_BIO_MAP_FULL, bios);
		return -1;
	}
	value->bios += bios;
	value->bytes += bytes;
	return 0;
}

#include "owner_attribution.bpf.h"

/* The bits of bi_opf that classify_op() looks at besides the size. */
static __always_inline u32 op_bits(u32 opf)
{
	return opf & (REQ_OP_MASK |
		      1U << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH));
}

/*
 * The sizes in bucket b (bio_stats.h) as [min, min + span]: b = 0 and 1 hold
 * 0 and 1; b >= 2 holds (2^(b-2), 2^(b-1)], capped at the largest u32 (bi_size
 * is 32 bits). Same op bits and a size in the range means the same op and
 * bucket: classify_op() depends on the size only through size == 0, and
 * bucket 0 holds nothing else.
 */
static __always_inline void bucket_range(u8 bucket, u32 *min, u32 *span)
{
	u64 low, high;

	if (bucket <= 1) {
		*min = bucket;
		*span = 0;
		return;
	}
	low = (1ULL << ((bucket - 2) & 63)) + 1;
	high = 1ULL << ((bucket - 1) & 63);
	if (high > 0xffffffffULL)
		high = 0xffffffffULL;
	*min = low;
	*span = high - low;
}

/*
 * Counts one bio of the current task to `bdev` (device number `bd_dev`).
 * `fast`: read the syscall number on a hit through bpf_rdonly_cast() (6.2+).
 */
static __always_inline int count_bio(struct bio *bio, u32 opf, u32 bytes,
				     struct block_device *bdev, u32 bd_dev, bool fast)
{
	struct task_struct *task = bpf_get_current_task_btf();
	u64 task_start = task->start_time;
	u32 pid = task->pid;
	struct bio_cache *slot;
	struct task_struct *leader;
	struct bio_key key = {};
	u32 index;
	u8 op, bucket;
	int added;
	bool slot_taken = false; /* still holds counts the map had no room for */

	index = (pid * 2654435761u ^ bd_dev) >> 7 & (DISKIDLE_CACHE_SLOTS - 1);
	slot = bpf_map_lookup_elem(&cache, &index);
	if (!slot)
		return 0;
	if (!cache_bypass && slot->pid == pid && slot->task_start_ns == task_start &&
	    slot->bd_dev == bd_dev && slot->opf_bits == op_bits(opf) &&
	    bytes - slot->bytes_min <= slot->bytes_span &&
	    (!slot->regs || slot->syscall_nr == saved_syscall(slot->regs, fast))) {
		/* hot path: the same key again on this CPU */
		slot->pending_bios += 1;
		slot->pending_bytes += bytes;
		return 0;
	}

	op = classify_op(opf, bytes);
	bucket = size_bucket(bytes);

	leader = task->group_leader;
	key.start_boottime_ns = leader->start_boottime;
	key.tgid = task->tgid;
	key.dev = whole_disk(bdev);
	key.syscall_nr = current_syscall(task);
	/* A kernel thread's bio for a process (writeback of its pages, a journal
	 * commit it forced) is counted for that process, outside the cache. */
	if (key.syscall_nr == DISKIDLE_SYSCALL_KERNEL_THREAD &&
	    count_owned_bio(bio, op, bytes, bdev))
		return 0;
	key.op = op;
	key.size_bucket = bucket;
	/* The current task's cgroup2 id; 0 is never a valid id. A thread moved to
	 * another cgroup while it hits the cache keeps the old id until the next
	 * snapshot's bypass (at most a second). */
	key.cgroup_id = bpf_get_current_cgroup_id();
	if (record_threads)
		__builtin_memcpy(key.thread, task->comm, sizeof(key.thread));

	if (slot->pending_bios) {
		/* Move the pending counts into the map; seq is odd meanwhile. If the
		 * map is full they stay where they are: user space counts them from
		 * the slot (it may have done so already, so they are no drop), and
		 * this bio is counted without the slot. */
		slot->seq += 1;
		if (add_to_map(&slot->key, slot->pending_bios, slot->pending_bytes, false) < 0) {
			slot_taken = true;
		} else {
			slot->pending_bios = 0;
			slot->pending_bytes = 0;
		}
		slot->seq += 1;
	}
	added = add_to_map(&key, 1, bytes, true);
	if (added < 0)
		return 0; /* not in the map: do not cache what was dropped */
	if (added > 0) {
		struct process_key pkey = {
			.start_boottime_ns = key.start_boottime_ns,
			.tgid = key.tgid,
		};
		remember_process(leader, &pkey);
	}
	/* Cache this key: its next bios on this CPU take the hot path. Never a
	 * kernel thread's: its next bio may be another process's writeback or
	 * forced commit, which a hit would merge into this key; so its bios all
	 * take this path, where count_owned_bio() decides. */
	if (!cache_bypass && !slot_taken && key.syscall_nr != DISKIDLE_SYSCALL_KERNEL_THREAD) {
		slot->key = key;
		slot->pid = pid;
		slot->task_start_ns = task_start;
		slot->bd_dev = bd_dev;
		slot->opf_bits = op_bits(opf);
		bucket_range(bucket, &slot->bytes_min, &slot->bytes_span);
		/* Kernel threads and io workers make no syscall: nothing to read on
		 * a hit (their key says which kind they are, and a thread never
		 * changes kind). */
		if (task->flags & (PF_KTHREAD | PF_IO_WORKER)) {
			slot->regs = 0;
			slot->syscall_nr = 0;
		} else {
			struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

			slot->regs = (u64)regs;
			slot->syscall_nr = syscall_in(regs);
		}
	}
	return 0;
}

/* BTF-typed tracepoint: direct, verifier-checked reads of the bio (5.5+).
 * Needs bpf_rdonly_cast() (6.2+); the loader takes the twin below otherwise. */
SEC("tp_btf/block_bio_queue")
int block_bio_queue_btf(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev; /* bi_bdev: 5.12+ */

	return count_bio(bio, bio->bi_opf, bio->bi_iter.bi_size, bdev, bdev->bd_dev, true);
}

/* The same for kernels without bpf_rdonly_cast() (5.15 to 6.1): a hit calls
 * bpf_task_pt_regs() instead. */
SEC("tp_btf/block_bio_queue")
int block_bio_queue_btf_compat(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev;

	return count_bio(bio, bio->bi_opf, bio->bi_iter.bi_size, bdev, bdev->bd_dev, false);
}

/* Twin for kernels where tp_btf cannot attach: same logic, reads through
 * bpf_probe_read_kernel. The single-argument prototype is 5.11+. */
SEC("raw_tp/block_bio_queue")
int block_bio_queue_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct bio *bio = (struct bio *)ctx->args[0];
	struct block_device *bdev = BPF_CORE_READ(bio, bi_bdev);

	return count_bio(bio, BPF_CORE_READ(bio, bi_opf), BPF_CORE_READ(bio, bi_iter.bi_size), bdev,
			 BPF_CORE_READ(bdev, bd_dev), false);
}

/* A process renames itself: its new name in `processes` (process_rename.bpf.h). */
SEC("tp_btf/task_rename")
int task_rename_btf(u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];

	rename_in_table(&processes, task->pid, task->tgid, task->start_boottime,
			(const char *)ctx[1]);
	return 0;
}

SEC("raw_tp/task_rename")
int task_rename_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];

	rename_in_table(&processes, BPF_CORE_READ(task, pid), BPF_CORE_READ(task, tgid),
			BPF_CORE_READ(task, start_boottime), (const char *)ctx->args[1]);
	return 0;
}
