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

/*
 * Task creations by kernel stack, hashed (stack_birth_index()): a new task may
 * get the stack an exited thread had, and a cache slot filled for that thread
 * must not match the new task (bio_stats.h). task_newtask (below) bumps the
 * counter of the new task's stack; a slot remembers its counter's value when
 * it was filled and matches only while it is unchanged. Seven counters, so
 * that a fork elsewhere leaves most slots alone (a build server forks
 * thousands of times a second), and all of them in the cache line that a hit
 * reads anyway for cache_bypass: a counter of its own per stack (a 4096-entry
 * array) cost a cold cache line per bio, 5-12 ns more on the fsync storm
 * (docs/benchmarks.md).
 */
volatile struct hot_line hot __attribute__((aligned(64)));

/* The slots of CPUs below DISKIDLE_BSS_CACHE_CPUS (bio_stats.h). Declared
 * right after `hot`, which clang then puts first in .bss, so that a hit on
 * CPUs 0-2 reads one 4 KiB page of global data, not two (about 2 ns per bio
 * measured alone on a 2-vCPU VM; docs/benchmarks.md). */
struct bio_cache cache_slots[DISKIDLE_BSS_CACHE_CPUS * DISKIDLE_CACHE_SLOTS]
	__attribute__((aligned(64)));

_Static_assert(sizeof(struct bio_cache) % 8 == 0, "eight slots fill whole cache lines");

/* Kernel stacks are at least 16 KiB (THREAD_SIZE on x86_64 and arm64) and
 * never overlap, so the bits above the 14th tell them apart. */
static __always_inline u32 stack_birth_index(u64 stack)
{
	u32 h = (u32)(((stack >> 14) * 0x9E3779B97F4A7C15ULL) >> 32);
	u32 index = (u32)(((u64)h * DISKIDLE_STACK_BIRTH_SLOTS) >> 32); /* 0..6 */

	/* Hidden from the compiler, so that it keeps the callers' bounds check,
	 * which the verifier (tracking ranges less exactly) needs. */
	asm volatile("" : "+r"(index));
	return index;
}

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
 * current thread is the one the address was taken from (by its stack, with no
 * task created on it since: a slot left over from an exited thread is never
 * read; and the load is fault-checked anyway).
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
 * `a - b` for two pointers, as a plain number. The verifier allows a pointer
 * difference (and only that) to a program loaded with CAP_PERFMON, and types
 * the result as a number; written as one instruction so that the compiler
 * cannot turn it into a negation and an addition, which it would refuse.
 */
static __always_inline u64 address_difference(const void *a, const void *b)
{
	u64 diff = (u64)a;

	asm volatile("%[diff] -= %[b]" : [diff] "+r"(diff) : [b] "r"(b));
	return diff;
}

/*
 * Where the tracepoint's arguments lie, relative to &hot (any fixed address
 * would do: only differences of such positions are used). The
 * kernel's glue (bpf_trace_run1() in kernel/trace/bpf_trace.c, for tp_btf
 * and raw_tp alike, every version) copies them into a local array and passes
 * its address as the program's context, so this is an address on the stack
 * the tracepoint fired on: the current thread's kernel stack, or an
 * interrupt stack when a bio is submitted from an interrupt.
 */
static __always_inline u64 stack_position(const void *tp_args)
{
	return address_difference(tp_args, (const void *)&hot);
}

/*
 * Fills the slot's stack fields with the current thread's kernel stack below
 * its saved registers `regs`, relative to &hot as stack_position() is, if
 * `here` lies in it; otherwise (an interrupt stack) stack_span = 0, which no
 * bio matches. task->stack is where the thread's stack starts
 * (allocated at fork, never moved; x86_64 and arm64 keep pt_regs at its top).
 * The register address is stored into the slot first: read back from map
 * memory, it is a plain number.
 */
static __always_inline void remember_stack(struct bio_cache *slot, u64 here,
					   struct task_struct *task, struct pt_regs *regs)
{
	u64 regs_rel = address_difference(regs, (const void *)&hot);
	/* Read with a helper, not typed: newer kernels type a void * field as
	 * memory, which the verifier then keeps from being used as a number. */
	u64 lo_abs = (u64)BPF_CORE_READ(task, stack), regs_abs, span;
	u32 index = stack_birth_index(lo_abs);

	slot->stack_span = 0;
	slot->regs = (u64)regs;
	regs_abs = *(volatile u64 *)&slot->regs;
	span = regs_abs - lo_abs;
	if (index >= DISKIDLE_STACK_BIRTH_SLOTS || !lo_abs || span > 0xffffffffULL ||
	    here - (regs_rel - span) >= span)
		return;
	slot->birth_index = index;
	slot->births = hot.stack_births[index];
	slot->stack_lo = regs_rel - span;
	slot->stack_span = span;
}

/* Whether no task was created on the slot's stack since it was filled. */
static __always_inline bool stack_not_reborn(const struct bio_cache *slot)
{
	u32 index = slot->birth_index;

	return index < DISKIDLE_STACK_BIRTH_SLOTS && hot.stack_births[index] == slot->births;
}

/* This CPU's cache slot `index` (bio_stats.h: .bss, or the per-CPU map on
 * CPUs past DISKIDLE_BSS_CACHE_CPUS). */
static __always_inline struct bio_cache *cache_slot(u32 index)
{
	u32 cpu = bpf_get_smp_processor_id();
	u32 i;

	if (cpu >= DISKIDLE_BSS_CACHE_CPUS)
		return bpf_map_lookup_elem(&cache, &index);
	i = cpu * DISKIDLE_CACHE_SLOTS + (index & (DISKIDLE_CACHE_SLOTS - 1));
	/* Hidden from the compiler, so that it keeps the bounds check the
	 * verifier needs for a variable offset into the array. */
	asm volatile("" : "+r"(i));
	if (i >= DISKIDLE_BSS_CACHE_CPUS * DISKIDLE_CACHE_SLOTS)
		return 0;
	return &cache_slots[i];
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

/* REQ_SWAP: set on every swap-out bio (mm/page_io.c) since Linux 4.14. */
static __always_inline u32 req_swap(void)
{
	return 1U << bpf_core_enum_value(enum req_flag_bits, __REQ_SWAP);
}

/* The bits of bi_opf that classify_op() looks at besides the size, and
 * REQ_SWAP: a swap-out bio is never a hit for a slot of the same thread's
 * other bios, nor the other way round, at no cost to the compare. */
static __always_inline u32 op_mask(void)
{
	return REQ_OP_MASK | 1U << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH) |
	       req_swap();
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
 * A bio that found no slot of its key (count_bio()): counts it in bio_counts
 * and caches its key in `slot`. A function of its own, called rather than
 * inlined, so that the hit path keeps its few values in registers: inlined,
 * the compiler spilled them to the stack and cleared this key there before
 * the hit check, on every bio. `opf_bytes`: bi_opf << 32 | bi_iter.bi_size.
 * The device number is read again here rather than passed: a sixth argument
 * is not allowed, and handing the values over in a struct cost the hit path
 * four more instructions (stores to the stack) on every bio, for a helper
 * call saved on a miss only.
 */
static __noinline int count_bio_miss(const void *tp_args, struct bio_cache *slot, struct bio *bio,
				     struct block_device *bdev, u64 opf_bytes)
{
	u64 here = stack_position(tp_args);
	u32 opf = opf_bytes >> 32, bytes = (u32)opf_bytes;
	u32 bd_dev = BPF_CORE_READ(bdev, bd_dev);
	struct task_struct *task, *leader;
	struct bio_key key = {};
	u8 op, bucket;
	int added;
	bool slot_taken = false; /* still holds counts the map had no room for */
	bool kernel_thread;

	op = classify_op(opf, bytes);
	bucket = size_bucket(bytes);

	task = bpf_get_current_task_btf();
	leader = task->group_leader;
	key.start_boottime_ns = leader->start_boottime;
	key.tgid = task->tgid;
	key.dev = whole_disk(bdev);
	key.syscall_nr = current_syscall(task);
	kernel_thread = key.syscall_nr == DISKIDLE_SYSCALL_KERNEL_THREAD;
	/* A kernel thread's bio for a process (writeback of its pages, a journal
	 * commit it forced) is counted for that process, outside the cache. */
	if (kernel_thread && count_owned_bio(bio, op, bytes, bdev))
		return 0;
	/* Swap-out is memory pressure, not the syscall the reclaiming task (or
	 * kswapd) happens to be in. */
	if (opf & req_swap())
		key.syscall_nr = DISKIDLE_SYSCALL_SWAP;
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
			/* Nothing moved: seq goes back, so a snapshot taken while the
			 * map stays full still settles. */
			slot_taken = true;
			slot->seq -= 1;
		} else {
			slot->pending_bios = 0;
			slot->pending_bytes = 0;
			slot->seq += 1;
		}
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
	if (!hot.cache_bypass && !slot_taken && !kernel_thread) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		slot->key = key;
		remember_stack(slot, here, task, regs);
		slot->bd_dev = bd_dev;
		slot->opf_mask = op_mask();
		slot->opf_bits = opf & slot->opf_mask;
		bucket_range(bucket, &slot->bytes_min, &slot->bytes_span);
		/* io workers make no syscall, and a swap-out's key does not depend
		 * on it (only swap-outs hit its slot: op_mask()): nothing to read on
		 * a hit. */
		if ((task->flags & PF_IO_WORKER) || key.syscall_nr == DISKIDLE_SYSCALL_SWAP) {
			slot->regs = 0;
			slot->syscall_nr = 0;
		} else {
			slot->syscall_nr = syscall_in(regs);
		}
	}
	return 0;
}

/*
 * Counts one bio of the current task to `bdev` (device number `bd_dev`).
 * `tp_args`: the program's context (stack_position()). `fast`: read the
 * syscall number on a hit through bpf_rdonly_cast() (6.2+).
 */
static __always_inline int count_bio(const void *tp_args, struct bio *bio, u32 opf, u32 bytes,
				     struct block_device *bdev, u32 bd_dev, bool fast)
{
	u64 here = stack_position(tp_args);
	struct bio_cache *slot;
	u32 index;

	/* By the thread's stack (16 KiB on x86_64 and arm64) and the device. */
	index = ((u32)(here >> 14) * 2654435761u ^ bd_dev) >> 7 & (DISKIDLE_CACHE_SLOTS - 1);
	slot = cache_slot(index);
	if (!slot)
		return 0;
	if (!hot.cache_bypass && here - slot->stack_lo < slot->stack_span &&
	    slot->bd_dev == bd_dev && (opf & slot->opf_mask) == slot->opf_bits &&
	    bytes - slot->bytes_min <= slot->bytes_span && stack_not_reborn(slot) &&
	    (!slot->regs || slot->syscall_nr == saved_syscall(slot->regs, fast))) {
		/* hot path: the same key again on this CPU */
		slot->pending_bios += 1;
		slot->pending_bytes += bytes;
		return 0;
	}
	return count_bio_miss(tp_args, slot, bio, bdev, (u64)opf << 32 | bytes);
}

/* BTF-typed tracepoint: direct, verifier-checked reads of the bio (5.5+).
 * Needs bpf_rdonly_cast() (6.2+); the loader takes the twin below otherwise. */
SEC("tp_btf/block_bio_queue")
int block_bio_queue_btf(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev; /* bi_bdev: 5.12+ */

	return count_bio(ctx, bio, bio->bi_opf, bio->bi_iter.bi_size, bdev, bdev->bd_dev, true);
}

/* The same for kernels without bpf_rdonly_cast() (5.15 to 6.1): a hit calls
 * bpf_task_pt_regs() instead. */
SEC("tp_btf/block_bio_queue")
int block_bio_queue_btf_compat(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev;

	return count_bio(ctx, bio, bio->bi_opf, bio->bi_iter.bi_size, bdev, bdev->bd_dev, false);
}

/* Twin for kernels where tp_btf cannot attach: same logic, reads through
 * bpf_probe_read_kernel. The single-argument prototype is 5.11+. */
SEC("raw_tp/block_bio_queue")
int block_bio_queue_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct bio *bio = (struct bio *)ctx->args[0];
	struct block_device *bdev = BPF_CORE_READ(bio, bi_bdev);

	return count_bio(ctx, bio, BPF_CORE_READ(bio, bi_opf), BPF_CORE_READ(bio, bi_iter.bi_size), bdev,
			 BPF_CORE_READ(bdev, bd_dev), false);
}

/* Any task is created (fork, clone, a kernel thread, an io worker): its kernel
 * stack may be one an exited thread had, so the cache slots filled for that
 * stack stop matching (hot.stack_births). task_newtask fires in copy_process()
 * after the stack is allocated and before the new task can run (Linux 3.x+). */
static __always_inline int note_new_stack(u64 stack)
{
	u32 index = stack_birth_index(stack);

	if (index < DISKIDLE_STACK_BIRTH_SLOTS)
		__sync_fetch_and_add(&hot.stack_births[index], 1);
	return 0;
}

/* A process renames itself: its new name in `processes` (process_rename.bpf.h). */
SEC("tp_btf/task_rename")
int task_rename_btf(u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];

	rename_in_table(&processes, task->pid, task->tgid, task->start_boottime,
			(const char *)ctx[1]);
	/* The thread name is part of the key (the thread label): the renamed
	 * thread's cache slots, on every CPU, must stop matching. The thread
	 * renames itself (prctl, exec) before its next bio; a write to another
	 * thread's /proc/<pid>/comm can race with that thread's next bio (this
	 * hook runs before the new name is copied), which may then cache the old
	 * name again on its CPU until that slot is replaced. */
	if (record_threads)
		note_new_stack((u64)BPF_CORE_READ(task, stack));
	return 0;
}

SEC("raw_tp/task_rename")
int task_rename_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];

	rename_in_table(&processes, BPF_CORE_READ(task, pid), BPF_CORE_READ(task, tgid),
			BPF_CORE_READ(task, start_boottime), (const char *)ctx->args[1]);
	if (record_threads)
		note_new_stack((u64)BPF_CORE_READ(task, stack));
	return 0;
}

/* task_newtask(struct task_struct *task, unsigned long clone_flags) */
SEC("tp_btf/task_newtask")
int task_newtask_btf(u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];

	return note_new_stack((u64)BPF_CORE_READ(task, stack)); /* a number: see remember_stack() */
}

SEC("raw_tp/task_newtask")
int task_newtask_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];

	return note_new_stack((u64)BPF_CORE_READ(task, stack));
}
