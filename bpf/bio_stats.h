/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between bio_stats.bpf.c and the exporter: map keys, values and the
 * small enums stored in them. Plain __u32/__u64 types only; include
 * <linux/types.h> first in user space.
 */
#ifndef DISKIDLE_BIO_STATS_H
#define DISKIDLE_BIO_STATS_H

/* Operation of a bio, decided in the kernel from bi_opf and the bio size. */
enum diskidle_op {
	DISKIDLE_OP_READ = 0,
	DISKIDLE_OP_WRITE = 1,
	DISKIDLE_OP_FLUSH = 2, /* REQ_OP_FLUSH, or a zero-length REQ_PREFLUSH write */
	DISKIDLE_OP_DISCARD = 3, /* REQ_OP_DISCARD and REQ_OP_SECURE_ERASE */
	DISKIDLE_OP_WRITE_ZEROES = 4,
	DISKIDLE_OP_OTHER = 5, /* zone management, driver-private ops */
	DISKIDLE_OP_COUNT = 6,
};

/*
 * bio_key.syscall_nr holds the syscall number the submitting task is inside
 * (from its saved user registers), or one of these when there is none.
 * Real syscall numbers are >= 0; -1 is what the kernel stores when a user task
 * entered the kernel for something other than a syscall (a page fault: mmap
 * reads, and the readahead they start).
 */
#define DISKIDLE_SYSCALL_NONE (-1)
#define DISKIDLE_SYSCALL_KERNEL_THREAD (-2)
#define DISKIDLE_SYSCALL_IO_WORKER (-3)
/* A kernel thread wrote back pages this key's process dirtied (page cache
 * writeback by a flusher); the key names the dirtier, not the kernel thread. */
#define DISKIDLE_SYSCALL_WRITEBACK (-4)
/* A swap-out bio (REQ_SWAP): anonymous pages written to swap by whoever
 * reclaims memory, a process in direct reclaim or kswapd, from inside
 * whatever it was doing. Swap-in has no such flag (a fault reads it). */
#define DISKIDLE_SYSCALL_SWAP (-5)

/* Size bucket: 0 for a zero-byte bio, otherwise 1 + ceil(log2(bytes)), so
 * bucket b (b >= 1) holds sizes in (2^(b-2), 2^(b-1)]. bi_size is 32 bits. */
#define DISKIDLE_SIZE_BUCKETS 34

#define DISKIDLE_COMM_LEN 16

struct bio_key {
	__u64 start_boottime_ns; /* process start (group leader); tells PID reuse apart */
	__u32 tgid;
	__u32 dev; /* whole disk: major << 20 | first_minor (kernel dev_t encoding) */
	__s32 syscall_nr;
	__u8 op; /* enum diskidle_op */
	__u8 size_bucket;
	__u8 pad[2];
	/* cgroup v2 id (the cgroup2 directory's inode number) of the task the bio is
	 * counted for: user space maps it to a Kubernetes namespace/pod/container. */
	__u64 cgroup_id;
	/* The counted thread's name, only when the program's `record_threads` is
	 * set (collectors.bio thread label); all zero otherwise. */
	char thread[DISKIDLE_COMM_LEN];
};

struct bio_value {
	__u64 bios;
	__u64 bytes;
};

/* Key of the process table: the same identity as in bio_key. */
struct process_key {
	__u64 start_boottime_ns;
	__u32 tgid;
	__u32 pad;
};

struct process_info {
	char comm[DISKIDLE_COMM_LEN]; /* group leader's comm at its latest new bio_key */
};

/*
 * Per-CPU cache of recent keys and the bios counted for them since
 * (pending_bios/bytes, not yet in bio_counts). A storm repeats a few keys on a
 * CPU (the process's flush, the loop or dm worker's bio), so the hot path is
 * an array slot instead of a hash lookup. Direct-mapped by (thread's kernel
 * stack, device). A slot is a hit when the same thread sends a bio of the same
 * op and size bucket to the same block device under the same syscall: the key
 * is then the cached one, and deriving it (group leader, its start time, the
 * whole disk, cgroup) is skipped. So the key the miss path caches must be a
 * function of exactly those (plus what stays fixed for a thread's life).
 *
 * "The same thread" is told without asking the kernel who is running (a
 * helper call, not inlined on x86 with Linux 6.18: about a third of a hit's
 * cost): the tracepoint's arguments lie on the stack it fired on, and a
 * thread's kernel stack is its own from fork to exit. A stack freed at exit
 * is only ever reused by a task created later, and every task creation bumps
 * the program's count of creations on that stack (hot.stack_births,
 * hashed), which a slot must match; so a hit's stack is the live thread that filled
 * the slot.
 *
 * `seq` is odd while the program moves a slot's pending counts into
 * bio_counts; user space reads the cache, bio_counts, the cache again, and
 * accepts the snapshot only if no slot's seq or counts changed in between.
 * A slot whose pending counts find bio_counts full keeps them (they are
 * counted from the slot, so they are no drop) and caches nothing else until
 * the map has room for them.
 *
 * Layout: everything a hit reads or writes comes first (72 bytes, within two
 * cache lines however the per-CPU allocator aligns the slot); the full
 * key, read only on a miss and by user space, comes last.
 */
#define DISKIDLE_CACHE_SLOTS 8

/*
 * Where a CPU's slots are: CPUs below DISKIDLE_BSS_CACHE_CPUS in the
 * program's global `cache_slots` (.bss, DISKIDLE_CACHE_SLOTS per CPU, by
 * bpf_get_smp_processor_id()), the others in the per-CPU map `cache`. Both
 * are this CPU's alone: a tracing program never runs twice at once on one CPU
 * (the kernel skips a nested run as a recursion miss). The global array is
 * the fast one: a slot's address is a constant plus an offset, while a
 * per-CPU map's slot first needs its per-CPU pointer loaded from the map,
 * and on a VM whose cache misses are dear (docs/benchmarks.md) that first
 * load cost about as much as an empty program (bench/cost_variants.sh:
 * v_stack_bss against v_stack). A slot is a multiple of 8 bytes, so each
 * CPU's eight start on a cache line of their own.
 */
#define DISKIDLE_BSS_CACHE_CPUS 64

struct bio_cache {
	/* What a hit must match: */
	/* The thread's kernel stack below its saved user registers, as
	 * [stack_lo, stack_lo + stack_span) relative to the program's `hot`
	 * variable (the program sees addresses only as such differences);
	 * stack_span 0: matches nothing. */
	__u64 stack_lo;
	__u32 stack_span;
	__u32 bd_dev; /* dev_t of the block device (maybe a partition) */
	/* The stack's counter in hot.stack_births, and its value when the slot
	 * was filled. */
	__u64 births;
	__u32 birth_index;
	/* The bits of bi_opf a hit compares (op_mask() in bio_stats.bpf.c): the
	 * CO-RE enum values in it are constants only once loaded, so the
	 * program would otherwise compute the mask on every bio. */
	__u32 opf_mask;
	/* Kernel address of the thread's saved user registers (bpf_task_pt_regs()
	 * at the miss), where a hit reads the current syscall number; 0 for an
	 * io worker, which has no syscall to read. */
	__u64 regs;
	__s32 syscall_nr; /* the syscall number read there at the miss */
	/* bi_opf & opf_mask: all that classify_op() reads but the size, so the
	 * op need not be computed again on a hit. */
	__u32 opf_bits;
	/* The key's size bucket as a range of bytes: a hit is
	 * bytes - bytes_min <= bytes_span (unsigned), no log2 on the hot path. */
	__u32 bytes_min;
	__u32 bytes_span;
	/* Counted for `key` on this CPU, not yet in bio_counts: */
	__u64 pending_bios;
	__u64 pending_bytes;
	__u64 seq;
	struct bio_key key;
};

/*
 * The program's .bss: what every cache hit reads, in one cache line (.bss
 * starts page-aligned). cache_bypass is set by user space while it takes a
 * snapshot (below); .bss is mapped into the exporter's memory, so flipping
 * it needs no syscall. stack_births: task creations by kernel stack, hashed
 * (bio_stats.bpf.c, stack_birth_index()).
 */
#define DISKIDLE_STACK_BIRTH_SLOTS 7

struct hot_line {
	__u32 cache_bypass;
	__u32 pad;
	__u64 stack_births[DISKIDLE_STACK_BIRTH_SLOTS];
};

/*
 * Cgroup ids of recent dirtiers (the program's global `dirtier_cgroups`),
 * one slot per hash of the id, written when an inode's recorded dirtier
 * changes. User space reads them every second and looks up the Kubernetes
 * labels of each new id while its cgroup still exists: the writeback of a
 * container's pages comes 30 s or more later, when a finished Job's cgroup is
 * often gone already. A slot overwritten within the second by another id
 * (1 in 256 per pair of cgroups) only loses that early look-up.
 */
#define DISKIDLE_DIRTIER_CGROUP_SLOTS 256

/* While user space sets the program's global `cache_bypass` to 1, every CPU
 * moves its pending counts into bio_counts at its next bio and counts without
 * the cache: a snapshot then settles quickly. */

/* Indexes of the per-CPU drop counters. */
enum diskidle_drop_reason {
	DISKIDLE_DROP_BIO_MAP_FULL = 0, /* a bio not counted: bio_counts was full */
	DISKIDLE_DROP_PROCESS_MAP_FULL = 1, /* a comm not recorded: processes was full */
	DISKIDLE_DROP_REASONS = 2,
};

#endif /* DISKIDLE_BIO_STATS_H */
