/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types bio_stats.bpf.c reads, written by hand instead of a full
 * vmlinux.h so that the build never depends on the build host's /sys/kernel/btf.
 *
 * Provenance: field names and types checked against the BTF of Linux 6.18
 * (`bpftool btf dump file /sys/kernel/btf/vmlinux format c`). Offsets do not
 * matter: every struct carries preserve_access_index, so libbpf relocates each
 * field access against the running kernel's BTF at load time (CO-RE). Only the
 * fields we read are listed; a struct may have any number of other fields.
 */
#ifndef DISKIDLE_VMLINUX_MIN_H
#define DISKIDLE_VMLINUX_MIN_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

/* UAPI values (include/uapi/linux/bpf.h); stable by ABI promise. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct bvec_iter {
	u64 bi_sector;
	unsigned int bi_size;
};

struct gendisk {
	int major;
	int first_minor;
};

struct block_device {
	struct gendisk *bd_disk;
	u32 bd_dev;
};

struct bio {
	struct block_device *bi_bdev;
	unsigned int bi_opf;
	struct bvec_iter bi_iter;
};

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	struct task_struct *group_leader;
	u64 start_time;
	u64 start_boottime;
	char comm[16];
	void *stack;
};

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long orig_ax;
};
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	int syscallno;
};
#else
#error "diskidle: syscall attribution needs __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

#pragma clang attribute pop

struct bpf_raw_tracepoint_args {
	u64 args[0];
};

/* Block layer op codes and flag bits. Values differ across kernels, so the
 * program reads them with bpf_core_enum_value() against the running kernel. */
enum req_op {
	REQ_OP_READ = 0,
	REQ_OP_WRITE = 1,
	REQ_OP_FLUSH = 2,
	REQ_OP_DISCARD = 3,
	REQ_OP_SECURE_ERASE = 5,
	REQ_OP_WRITE_ZEROES = 9,
};

enum req_flag_bits {
	__REQ_PREFLUSH = 18,
	__REQ_SWAP = 24,
};

#endif /* DISKIDLE_VMLINUX_MIN_H */
