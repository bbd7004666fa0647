// SPDX-License-Identifier: GPL-2.0
/*
 * Cut-down copies of bio_stats.bpf.c's cache-hit path, one program per idea,
 * for bench/cost_variants.sh: attached to the same tracepoint at the same time,
 * they run for the very same bios, so the kernel's per-program statistics
 * compare them directly (issue 13, "where the time goes"). None of them counts
 * anything anyone reads; a miss only refills the slot.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bio_stats.h"
#include "bio_fields.bpf.h"
#include "size_bucket.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The hit-path fields of a slot, as bio_stats.h has them (no key: never read on a hit). */
struct variant_slot {
	u64 task_start;
	u32 pid;
	u32 bd_dev;
	u64 regs;
	s32 syscall_nr;
	u8 op;
	u8 bucket;
	u8 user;
	u8 pad;
	u64 pending_bios;
	u64 pending_bytes;
};

enum syscall_read {
	READ_NONE = 0, /* no syscall number at all */
	READ_TASK_PT_REGS = 1, /* bpf_task_pt_regs(task)->orig_ax per bio (main before issue 13) */
	READ_PROBE = 2, /* cached address, bpf_probe_read_kernel() */
	READ_RDONLY_CAST = 3, /* cached address, bpf_rdonly_cast() (the exporter's, with v_stack's identity) */
};

#define VARIANTS 5
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8 * VARIANTS);
	__type(key, u32);
	__type(value, struct variant_slot);
} slots SEC(".maps");

__u64 sink; /* keeps the partial variants' loads from being optimized away */

/* Where the syscall number sits in pt_regs (x86_64 orig_ax, arm64 syscallno). */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_FIELD orig_ax
#else
#define SYSCALL_FIELD syscallno
#endif

static __always_inline s32 syscall_at(struct pt_regs *regs)
{
	return (s32)regs->SYSCALL_FIELD;
}

static __always_inline int hit_path(u64 *ctx, u32 variant, enum syscall_read how)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev;
	u32 bd_dev = bdev->bd_dev, opf = bio->bi_opf, bytes = bio->bi_iter.bi_size;
	struct task_struct *task = bpf_get_current_task_btf();
	u64 start = task->start_time;
	u32 pid = task->pid;
	u8 op = classify_op(opf, bytes), bucket = size_bucket(bytes);
	u32 index = ((pid * 2654435761u ^ bd_dev) >> 7 & 7) + variant * 8;
	struct variant_slot *s = bpf_map_lookup_elem(&slots, &index);
	s32 nr = 0;

	if (!s)
		return 0;
	if (s->pid == pid && s->task_start == start && s->bd_dev == bd_dev && s->op == op &&
	    s->bucket == bucket) {
		if (!s->user || how == READ_NONE)
			goto hit;
		if (how == READ_TASK_PT_REGS)
			nr = syscall_at((struct pt_regs *)bpf_task_pt_regs(task));
		else if (how == READ_PROBE)
			bpf_probe_read_kernel(&nr, sizeof(nr),
					      &((struct pt_regs *)s->regs)->SYSCALL_FIELD);
		else
			nr = syscall_at((struct pt_regs *)bpf_rdonly_cast(
				(void *)s->regs, bpf_core_type_id_kernel(struct pt_regs)));
		if (nr == s->syscall_nr)
			goto hit;
	}
	s->pid = pid;
	s->task_start = start;
	s->bd_dev = bd_dev;
	s->op = op;
	s->bucket = bucket;
	s->user = !(task->flags & PF_KTHREAD);
	s->regs = (u64)bpf_task_pt_regs(task);
	s->syscall_nr = s->user ? syscall_at((struct pt_regs *)s->regs) : 0;
	s->pending_bios = 0;
	return 0;
hit:
	s->pending_bios += 1;
	s->pending_bytes += bytes;
	return 0;
}

/*
 * v_stack: the exporter's hit path (bio_stats.bpf.c, bio_stats.h). The thread
 * is told by the stack the tracepoint's arguments lie on, relative to &vhot
 * (a pointer difference is the one pointer arithmetic the verifier turns into
 * a number), instead of bpf_get_current_task_btf(); a task creation
 * (v_newtask) bumps its stack's counter (seven, hashed, in one cache line),
 * which a slot must match, since the new task may have an exited one's stack.
 */
struct {
	__u64 pad;
	__u64 births[7];
} vhot __attribute__((aligned(64)));

static __always_inline u32 birth_index(u64 stack)
{
	u32 h = (u32)(((stack >> 14) * 0x9E3779B97F4A7C15ULL) >> 32);
	u32 index = (u32)(((u64)h * 7) >> 32);

	asm volatile("" : "+r"(index)); /* keeps the callers' bounds check */
	return index;
}

struct stack_slot {
	u64 stack_lo; /* relative to &vhot */
	u64 stack_span;
	u64 births;
	u32 birth_index;
	u32 pad2;
	u64 scratch;
	u32 bd_dev;
	s32 syscall_nr;
	u64 regs;
	u8 op;
	u8 bucket;
	u8 user;
	u8 pad[5];
	u64 pending_bios;
	u64 pending_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 32);
	__type(key, u32);
	__type(value, struct stack_slot);
} stack_slots SEC(".maps");

/*
 * A miss: the slot takes the current thread's stack (relative to &vhot, as
 * `rel` is) and its task-creation counter, or stack_span = 0 when the
 * tracepoint's arguments are not on that stack (an interrupt stack).
 */
static __always_inline void refill_stack_slot(struct stack_slot *s, u64 *ctx, u64 rel,
					      struct task_struct *task, u64 regs_ptr)
{
	u64 abs, base, lo, regs;
	u32 b;

	*(volatile u64 *)&s->scratch = (u64)ctx;
	abs = *(volatile u64 *)&s->scratch; /* read back: a number */
	base = abs - rel;
	lo = (u64)BPF_CORE_READ(task, stack);
	b = birth_index(lo);
	s->regs = regs_ptr;
	regs = *(volatile u64 *)&s->regs;
	if (b < 7 && abs - lo < regs - lo) {
		s->birth_index = b;
		s->births = vhot.births[b];
		s->stack_lo = lo - base;
		s->stack_span = regs - lo;
	} else {
		s->stack_span = 0;
	}
}

/*
 * v_stack_bss: v_stack with its slots in the program's global data, indexed by
 * CPU (bpf_get_smp_processor_id(), inlined), instead of a per-CPU array: the
 * slot's address is a constant plus an offset, with no load of the array's
 * per-CPU pointer first (compare v_count with v_count_percpu). 128 bytes per
 * slot, eight slots per CPU, CPUs 0..7 (others count nothing).
 */
#define BSS_SLOT_WORDS 16
#define BSS_CPUS 8
__u64 bss_stack_slots[BSS_CPUS * 8 * BSS_SLOT_WORDS] __attribute__((aligned(64)));

_Static_assert(sizeof(struct stack_slot) <= BSS_SLOT_WORDS * 8, "stack_slot fits a bss slot");

static __always_inline struct stack_slot *stack_slot_of(u32 index, bool bss)
{
	u32 cpu, word;

	if (!bss)
		return bpf_map_lookup_elem(&stack_slots, &index);
	cpu = bpf_get_smp_processor_id();
	if (cpu >= BSS_CPUS || index >= 8)
		return 0;
	word = (cpu * 8 + index) * BSS_SLOT_WORDS;
	asm volatile("" : "+r"(word)); /* keeps the bounds the verifier needs */
	if (word > (BSS_CPUS * 8 - 1) * BSS_SLOT_WORDS)
		return 0;
	return (struct stack_slot *)&bss_stack_slots[word];
}

static __always_inline int hit_path_stack(u64 *ctx, bool bss)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev;
	u32 bd_dev = bdev->bd_dev, opf = bio->bi_opf, bytes = bio->bi_iter.bi_size;
	u64 rel = (u64)ctx;
	u8 op = classify_op(opf, bytes), bucket = size_bucket(bytes);
	u32 index;
	struct stack_slot *s;
	struct task_struct *task;
	struct pt_regs *regs_ptr;
	s32 nr;

	asm volatile("%[rel] -= %[base]" : [rel] "+r"(rel) : [base] "r"(&vhot));
	index = ((u32)(rel >> 14) * 2654435761u ^ bd_dev) >> 7 & 7;
	s = stack_slot_of(index, bss);
	if (!s)
		return 0;
	if (rel - s->stack_lo < s->stack_span && s->bd_dev == bd_dev && s->op == op &&
	    s->bucket == bucket) {
		u32 b = s->birth_index;

		if (b >= 7 || vhot.births[b] != s->births)
			goto miss;
		if (!s->user)
			goto hit;
		nr = syscall_at((struct pt_regs *)bpf_rdonly_cast(
			(void *)s->regs, bpf_core_type_id_kernel(struct pt_regs)));
		if (nr == s->syscall_nr)
			goto hit;
	}
miss:
	task = bpf_get_current_task_btf();
	regs_ptr = (struct pt_regs *)bpf_task_pt_regs(task);
	refill_stack_slot(s, ctx, rel, task, (u64)regs_ptr);
	s->bd_dev = bd_dev;
	s->op = op;
	s->bucket = bucket;
	s->user = !(task->flags & PF_KTHREAD);
	s->syscall_nr = s->user ? syscall_at(regs_ptr) : 0;
	s->pending_bios = 0;
	return 0;
hit:
	s->pending_bios += 1;
	s->pending_bytes += bytes;
	return 0;
}

/*
 * v_stack taken apart, one step more per program, to see which step costs:
 * v_lookup  the slot of this stack and device, two adds (no compare at all)
 * v_match   + the compares of stack range, device, op and size bucket
 * v_births  + the stack's task-creation counter (v_stack without the syscall)
 * Their slots are their own (stack_slots indexes 8..31), filled by v_stack's
 * miss path logic through the same function.
 */
enum stack_step { STEP_LOOKUP = 1, STEP_MATCH = 2, STEP_BIRTHS = 3 };

static __always_inline int stack_step(u64 *ctx, enum stack_step step)
{
	struct bio *bio = (struct bio *)ctx[0];
	struct block_device *bdev = bio->bi_bdev;
	u32 bd_dev = bdev->bd_dev, opf = bio->bi_opf, bytes = bio->bi_iter.bi_size;
	u64 rel = (u64)ctx;
	u32 index;
	struct stack_slot *s;

	asm volatile("%[rel] -= %[base]" : [rel] "+r"(rel) : [base] "r"(&vhot));
	index = (((u32)(rel >> 14) * 2654435761u ^ bd_dev) >> 7 & 7) + step * 8;
	s = bpf_map_lookup_elem(&stack_slots, &index);
	if (!s)
		return 0;
	if (step == STEP_LOOKUP)
		goto hit;
	if (rel - s->stack_lo < s->stack_span && s->bd_dev == bd_dev &&
	    s->op == classify_op(opf, bytes) && s->bucket == size_bucket(bytes)) {
		u32 b = s->birth_index;

		if (step == STEP_MATCH)
			goto hit;
		if (b < 7 && vhot.births[b] == s->births)
			goto hit;
	}
	/* miss: v_stack's refill, without the syscall */
	{
		struct task_struct *task = bpf_get_current_task_btf();

		refill_stack_slot(s, ctx, rel, task, (u64)bpf_task_pt_regs(task));
		s->bd_dev = bd_dev;
		s->op = classify_op(opf, bytes);
		s->bucket = size_bucket(bytes);
		return 0;
	}
hit:
	s->pending_bios += 1;
	s->pending_bytes += bytes;
	return 0;
}

SEC("tp_btf/block_bio_queue")
int v_lookup(u64 *ctx)
{
	return stack_step(ctx, STEP_LOOKUP);
}

SEC("tp_btf/block_bio_queue")
int v_match(u64 *ctx)
{
	return stack_step(ctx, STEP_MATCH);
}

SEC("tp_btf/block_bio_queue")
int v_births(u64 *ctx)
{
	return stack_step(ctx, STEP_BIRTHS);
}

SEC("tp_btf/block_bio_queue")
int v_stack(u64 *ctx)
{
	return hit_path_stack(ctx, false);
}

SEC("tp_btf/block_bio_queue")
int v_stack_bss(u64 *ctx)
{
	return hit_path_stack(ctx, true);
}

SEC("tp_btf/task_newtask")
int v_newtask(u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	u32 b = birth_index((u64)BPF_CORE_READ(task, stack));

	if (b < 7)
		__sync_fetch_and_add(&vhot.births[b], 1);
	return 0;
}

SEC("tp_btf/block_bio_queue")
int v_empty(u64 *ctx)
{
	return 0;
}

/* bpf_get_current_task_btf() and one field: the helper call alone. */
SEC("tp_btf/block_bio_queue")
int v_task(u64 *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (task->pid == 0x7fffffff)
		sink++;
	return 0;
}

/* The bio's fields the program reads, and nothing else. */
SEC("tp_btf/block_bio_queue")
int v_bio(u64 *ctx)
{
	struct bio *bio = (struct bio *)ctx[0];

	if ((bio->bi_bdev->bd_dev ^ bio->bi_opf ^ bio->bi_iter.bi_size) == 0x7fffffff)
		sink++;
	return 0;
}

/*
 * The least any counting program can do: one add to one counter, in the
 * program's own global data (v_count: .bss, a direct address, no lookup) or
 * in a per-CPU array slot (v_count_percpu: the inlined lookup the bio
 * program's cache uses). They put a floor under every design that counts in
 * BPF memory: where they cost 2x the empty program, no keyed program can meet
 * 1.5x (docs/benchmarks.md, "On a changed host").
 */
__u64 counters[8 * 8] __attribute__((aligned(64))); /* one 64-byte line per CPU (up to 8) */

struct count_slot {
	u64 n;
	u64 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct count_slot);
} count_slots SEC(".maps");

SEC("tp_btf/block_bio_queue")
int v_count(u64 *ctx)
{
	u32 line = bpf_get_smp_processor_id() & 7;

	counters[line * 8] += 1;
	return 0;
}

SEC("tp_btf/block_bio_queue")
int v_count_percpu(u64 *ctx)
{
	u32 zero = 0;
	struct count_slot *c = bpf_map_lookup_elem(&count_slots, &zero);

	if (c)
		c->n += 1;
	return 0;
}

/* v_count_kmalloc: v_count's add in a small plain array (not mmapable, so the
 * kernel allocates it with kmalloc, in the direct map with its 2 MiB pages,
 * instead of vmalloc's 4 KiB pages as for .bss). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, struct count_slot);
} count_array SEC(".maps");

SEC("tp_btf/block_bio_queue")
int v_count_kmalloc(u64 *ctx)
{
	u32 line = bpf_get_smp_processor_id() & 7;
	struct count_slot *c = bpf_map_lookup_elem(&count_array, &line);

	if (c)
		c->n += 1;
	return 0;
}

SEC("tp_btf/block_bio_queue")
int v_key(u64 *ctx)
{
	return hit_path(ctx, 0, READ_NONE);
}

SEC("tp_btf/block_bio_queue")
int v_task_pt_regs(u64 *ctx)
{
	return hit_path(ctx, 1, READ_TASK_PT_REGS);
}

SEC("tp_btf/block_bio_queue")
int v_probe_read(u64 *ctx)
{
	return hit_path(ctx, 2, READ_PROBE);
}

SEC("tp_btf/block_bio_queue")
int v_rdonly_cast(u64 *ctx)
{
	return hit_path(ctx, 3, READ_RDONLY_CAST);
}

/*
 * v_page_a, v_page_b, v_page_c: one add each, to a cache line of their own in
 * `pages` (program global data: vmalloc'ed 4 KiB pages): a and b in the same
 * 4 KiB page, c in another. Attached together, the one that comes after
 * another of the same page shows what a new line of an already-touched page
 * costs; c after a or b what a new page costs (docs/benchmarks.md).
 */
__u64 pages[16 * 512] __attribute__((aligned(4096)));

/* One add to this CPU's line (CPUs 0..7) at `word` of `pages`. */
static __always_inline int add_to_page(u32 word)
{
	pages[word + (bpf_get_smp_processor_id() & 7) * 8] += 1;
	return 0;
}

SEC("tp_btf/block_bio_queue")
int v_page_a(u64 *ctx)
{
	return add_to_page(4 * 512);
}

SEC("tp_btf/block_bio_queue")
int v_page_b(u64 *ctx)
{
	return add_to_page(4 * 512 + 256);
}

SEC("tp_btf/block_bio_queue")
int v_page_c(u64 *ctx)
{
	return add_to_page(12 * 512);
}
