// SPDX-License-Identifier: GPL-2.0
/*
 * Times the write and sync syscalls (collectors.syscalls, off by default) per
 * process, whole disk and syscall: a duration histogram, a histogram of the
 * bytes the write family returned, and failed calls.
 *
 * Each syscall has two pairs of programs that share every line of the
 * counting (on_enter() and on_exit()) and differ only in where they read the
 * argument, the syscall number and the result:
 *  - fentry/fexit on the architecture's syscall entry function
 *    (__x64_sys_<name>, __arm64_sys_<name>): only the traced syscalls pay.
 *    Their SEC names start with "?": not loaded unless the loader asks, so a
 *    kernel that refuses function tracing (EPERM in locked-down VMs, no BTF
 *    for the function) still loads the tracepoint pair from this object;
 *  - the per-syscall tracepoints syscalls:sys_enter_<name>/sys_exit_<name>.
 *    Attaching any of them makes every syscall of every process take the
 *    kernel's slow syscall path (docs/benchmarks.md measures what that costs).
 * The loader (exporter/bpf/syscall_program.cc) loads one pair or the other,
 * never both. Either way the collector is off unless asked for.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "syscall_stats.h"
#include "size_bucket.bpf.h"
#include "process_rename.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * Kernel types read here and not by bio_stats.bpf.c. The ___syscalls suffix
 * keeps them apart from vmlinux_min.h's struct task_struct; libbpf ignores
 * the suffix when it relocates the fields against the running kernel (CO-RE).
 */
struct super_block {
	struct block_device *s_bdev;
} __attribute__((preserve_access_index));

struct inode {
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct___syscalls {
	int pid;
	int tgid;
	struct task_struct___syscalls *group_leader;
	u64 start_boottime;
	char comm[16];
	struct files_struct *files;
} __attribute__((preserve_access_index));

/*
 * The user registers saved at syscall entry, which the syscall entry functions
 * take as their only argument: the first argument of the call and the syscall
 * number (the same number the tracepoints report, syscall_get_nr()).
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs___syscalls {
	unsigned long di;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));
#define SYSCALL_ENTRY_PREFIX "__x64_sys_"
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_NR(regs) ((s32)(regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs___syscalls {
	u64 regs[31];
	s32 syscallno;
} __attribute__((preserve_access_index));
#define SYSCALL_ENTRY_PREFIX "__arm64_sys_"
#define SYSCALL_ARG0(regs) ((regs)->regs[0])
#define SYSCALL_NR(regs) ((regs)->syscallno)
#endif

/* The layout of a syscalls:sys_enter_* / sys_exit_* record (see the format
 * file under /sys/kernel/tracing/events/syscalls/): an 8-byte common header,
 * the syscall number, then each argument, or the return value, in 8 bytes. */
struct syscall_enter_args {
	u64 common;
	s32 syscall_nr;
	u32 pad;
	u64 args[6];
};

struct syscall_exit_args {
	u64 common;
	s32 syscall_nr;
	u32 pad;
	s64 ret;
};

/* Sizes of the maps are set by the loader before load (config). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_key);
	__type(value, struct syscall_value);
} syscall_counts SEC(".maps");

/* Comm of each process, as bio_stats.bpf.c's `processes`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct process_key);
	__type(value, struct process_info);
} syscall_processes SEC(".maps");

/*
 * The call in progress of each thread, in the thread's own task storage
 * (Linux 5.11+): a lookup in the task itself instead of an insert into and a
 * delete from a shared hash map at every call (measured: the hash map made the
 * entry program about twice as expensive), and the kernel frees it with the
 * thread, so a thread that dies inside a call leaks nothing.
 */
#define DISKIDLE_MAP_TYPE_TASK_STORAGE 29 /* BPF_MAP_TYPE_TASK_STORAGE, UAPI */
#define DISKIDLE_F_NO_PREALLOC 1 /* BPF_F_NO_PREALLOC, UAPI; local storage needs it */
#define DISKIDLE_LOCAL_STORAGE_GET_F_CREATE 1

struct {
	__uint(type, DISKIDLE_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, DISKIDLE_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISKIDLE_SYSCALL_DROP_REASONS);
	__type(key, u32);
	__type(value, u64);
} syscall_drops SEC(".maps");

/* What a new syscall_counts entry starts from (the value is too large for the
 * BPF stack). */
const struct syscall_value zero_value = {};

static const u64 duration_bounds_ns[DISKIDLE_SYSCALL_DURATION_BOUNDS] =
	DISKIDLE_SYSCALL_DURATION_BOUNDS_NS;

static __always_inline void count_drop(u32 reason)
{
	u64 *n = bpf_map_lookup_elem(&syscall_drops, &reason);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

/* on_exit() masks the bucket index with DURATION_BUCKETS - 1 for the verifier. */
_Static_assert((DISKIDLE_SYSCALL_DURATION_BUCKETS & (DISKIDLE_SYSCALL_DURATION_BUCKETS - 1)) == 0,
	       "the number of duration buckets must be a power of two");

static __always_inline u32 duration_bucket(u64 ns)
{
	u32 bucket = DISKIDLE_SYSCALL_DURATION_BOUNDS;

	/* Unrolled into constant compares, largest bound first. */
#pragma unroll
	for (int i = DISKIDLE_SYSCALL_DURATION_BOUNDS - 1; i >= 0; --i) {
		if (ns <= duration_bounds_ns[i])
			bucket = i;
	}
	return bucket;
}

/*
 * The whole disk under the filesystem of the current task's `fd`, or 0: a
 * pipe, socket, tmpfs or block-device file has no s_bdev. A few reads along
 * task->files->fdt->fd[fd]->f_inode->i_sb->s_bdev->bd_disk, each checked.
 * Up to fdt->fd they are direct loads through the BTF-typed task pointer
 * (bpf_get_current_task_btf(): the verifier knows the types, a fault reads 0);
 * fd[fd] is an array of pointers, which BTF does not follow, so from there on
 * they go through bpf_probe_read_kernel. (Direct loads took the entry program
 * from ~325 to ~230 ns per call in bpf_stats.)
 */
static __always_inline u32 fd_disk(u64 fd)
{
	struct task_struct___syscalls *task = (void *)bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file **fds;
	struct file *file = 0;
	struct block_device *bdev;
	struct gendisk *disk;

	if (!fdt || fd >= fdt->max_fds)
		return 0;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	bdev = BPF_CORE_READ(file, f_inode, i_sb, s_bdev);
	if (!bdev)
		return 0;
	disk = BPF_CORE_READ(bdev, bd_disk);
	if (!disk)
		return 0;
	return (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

static __always_inline int on_enter(u32 dev)
{
	struct syscall_inflight *call = bpf_task_storage_get(
		&inflight, bpf_get_current_task_btf(), 0, DISKIDLE_LOCAL_STORAGE_GET_F_CREATE);

	if (!call) {
		/* No memory for the thread's storage, or the storage was busy
		 * on this CPU (a nested program run). */
		count_drop(DISKIDLE_SYSCALL_DROP_INFLIGHT_UNAVAILABLE);
		return 0;
	}
	call->dev = dev;
	call->start_ns = bpf_ktime_get_ns(); /* last: the time excludes our own work */
	return 0;
}

/* The value of `key` on this CPU, created (and the process's comm recorded)
 * when new; NULL when the map is full. */
static __always_inline struct syscall_value *
counts_of(const struct syscall_key *key, struct task_struct___syscalls *leader)
{
	struct syscall_value *value = bpf_map_lookup_elem(&syscall_counts, key);
	struct process_key pkey = {};
	struct process_info info;

	if (value)
		return value;
	/* BPF_NOEXIST: another CPU may have created it meanwhile, which is fine. */
	bpf_map_update_elem(&syscall_counts, key, &zero_value, BPF_NOEXIST);
	value = bpf_map_lookup_elem(&syscall_counts, key);
	if (!value) {
		count_drop(DISKIDLE_SYSCALL_DROP_COUNT_MAP_FULL);
		return 0;
	}
	pkey.start_boottime_ns = key->start_boottime_ns;
	pkey.tgid = key->tgid;
	bpf_probe_read_kernel_str(info.comm, sizeof(info.comm), leader->comm);
	if (bpf_map_update_elem(&syscall_processes, &pkey, &info, BPF_ANY))
		count_drop(DISKIDLE_SYSCALL_DROP_PROCESS_MAP_FULL);
	return value;
}

/* A traced syscall returned `ret`: counts the call that on_enter() timed. */
static __always_inline int on_exit(s32 syscall_nr, s64 ret, bool write_family)
{
	u64 now = bpf_ktime_get_ns(), thread = bpf_get_current_pid_tgid();
	struct syscall_inflight *call =
		bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	struct task_struct___syscalls *task, *leader;
	struct syscall_key key = {};
	struct syscall_value *value;
	u64 ns;

	if (!call || !call->start_ns)
		return 0; /* entered before the program was attached */
	ns = now - call->start_ns;
	key.dev = call->dev;
	call->start_ns = 0; /* done: a stray exit without entry is not counted again */

	task = (void *)bpf_get_current_task_btf();
	leader = task->group_leader;
	key.start_boottime_ns = leader->start_boottime;
	key.tgid = thread >> 32;
	key.syscall_nr = syscall_nr;
	value = counts_of(&key, leader);
	if (!value)
		return 0;
	/* This CPU's slot: plain adds. */
	value->duration_buckets[duration_bucket(ns) & (DISKIDLE_SYSCALL_DURATION_BUCKETS - 1)] += 1;
	value->duration_ns += ns;
	if (ret < 0) {
		value->errors += 1;
	} else if (write_family) {
		/* A write returns at most 0x7ffff000 bytes (MAX_RW_COUNT): fits a u32. */
		u32 bytes = ret > 0xffffffffLL ? 0xffffffffU : (u32)ret;
		u32 bucket = size_bucket(bytes);

		/* The compiler knows the bucket is below 34 and would drop this
		 * check; the verifier does not know it and needs the check. */
		barrier_var(bucket);
		if (bucket < DISKIDLE_SIZE_BUCKETS)
			value->size_buckets[bucket] += 1;
		value->bytes += bytes;
	}
	return 0;
}

/*
 * The programs of one syscall, both attach paths. `fd_arg` says whether the
 * first argument is a file descriptor (every traced syscall but sync and
 * msync).
 *
 * fentry/fexit: the entry function's argument is the saved user registers
 * (a BTF pointer: direct loads); fexit also gets its return value, which is
 * the syscall's result, as sys_exit_<name> reports it. CI's kernels refuse
 * fentry, so the bodies are one call each into the same helpers as the
 * tracepoint programs, and tests/qemu/check_fentry.sh compares both paths'
 * counts on Debian kernels. x86_64's `sync` has no __x64_sys_sync in BTF: the
 * loader retargets it to __do_sys_sync (same pt_regs argument).
 */
#define TRACE_SYSCALL(name, fd_arg, write_family)                            \
	SEC("tracepoint/syscalls/sys_enter_" #name)                          \
	int sc_enter_##name(struct syscall_enter_args *ctx)                  \
	{                                                                    \
		return on_enter((fd_arg) ? fd_disk(ctx->args[0]) : 0);       \
	}                                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                           \
	int sc_exit_##name(struct syscall_exit_args *ctx)                    \
	{                                                                    \
		return on_exit(ctx->syscall_nr, ctx->ret, write_family);     \
	}                                                                    \
	SEC("?fentry/" SYSCALL_ENTRY_PREFIX #name)                           \
	int BPF_PROG(sc_fentry_##name, const struct pt_regs___syscalls *regs) \
	{                                                                    \
		return on_enter((fd_arg) ? fd_disk(SYSCALL_ARG0(regs)) : 0); \
	}                                                                    \
	SEC("?fexit/" SYSCALL_ENTRY_PREFIX #name)                            \
	int BPF_PROG(sc_fexit_##name, const struct pt_regs___syscalls *regs, \
		     long ret)                                               \
	{                                                                    \
		return on_exit(SYSCALL_NR(regs), ret, write_family);         \
	}

TRACE_SYSCALL(write, true, true)
TRACE_SYSCALL(pwrite64, true, true)
TRACE_SYSCALL(writev, true, true)
TRACE_SYSCALL(pwritev, true, true)
TRACE_SYSCALL(pwritev2, true, true)
TRACE_SYSCALL(fsync, true, false)
TRACE_SYSCALL(fdatasync, true, false)
TRACE_SYSCALL(sync_file_range, true, false)
TRACE_SYSCALL(syncfs, true, false)
TRACE_SYSCALL(sync, false, false)
TRACE_SYSCALL(msync, false, false)

/* A process renames itself: its new name in `syscall_processes`
 * (process_rename.bpf.h). raw_tp: the same on both paths (tracepoints and
 * fentry), and needs no BTF of the tracepoint. */
SEC("raw_tp/task_rename")
int syscall_task_rename(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___syscalls *task = (struct task_struct___syscalls *)ctx->args[0];

	rename_in_table(&syscall_processes, BPF_CORE_READ(task, pid), BPF_CORE_READ(task, tgid),
			BPF_CORE_READ(task, start_boottime), (const char *)ctx->args[1]);
	return 0;
}
