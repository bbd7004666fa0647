/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between syscall_stats.bpf.c and the exporter: map keys and values.
 * Plain __u32/__u64 types only; include <linux/types.h> first in user space.
 * Size buckets are those of bio_stats.h (DISKIDLE_SIZE_BUCKETS).
 */
#ifndef DISKIDLE_SYSCALL_STATS_H
#define DISKIDLE_SYSCALL_STATS_H

#include "bio_stats.h"

/*
 * Upper bounds (ns) of the duration buckets: 1-5 steps from 1 us to 10 s.
 * Bucket i counts calls of at most bound i (and above bound i-1); the last
 * bucket, DISKIDLE_SYSCALL_DURATION_BOUNDS, counts the longer ones (+Inf).
 * Decimal bounds, decided in the kernel, so the exposition's `le` values are
 * exact and read as people write them (0.001, not 0.001048576).
 */
#define DISKIDLE_SYSCALL_DURATION_BOUNDS 15
#define DISKIDLE_SYSCALL_DURATION_BOUNDS_NS                                              \
	{ 1000ULL, 5000ULL, 10000ULL, 50000ULL, 100000ULL, 500000ULL, 1000000ULL,       \
	  5000000ULL, 10000000ULL, 50000000ULL, 100000000ULL, 500000000ULL,             \
	  1000000000ULL, 5000000000ULL, 10000000000ULL }
#define DISKIDLE_SYSCALL_DURATION_BUCKETS (DISKIDLE_SYSCALL_DURATION_BOUNDS + 1)

struct syscall_key {
	__u64 start_boottime_ns; /* process start (group leader); tells PID reuse apart */
	__u32 tgid;
	__u32 dev; /* whole disk under the fd's filesystem (bio_key.dev encoding), 0: none */
	__s32 syscall_nr; /* the architecture's syscall number (from the tracepoint) */
	__u32 pad;
};

/*
 * Counts of one key on one CPU. There is no separate call counter: the calls
 * are the sum of duration_buckets, and the successful write-family calls the
 * sum of size_buckets, so a histogram's count always equals its buckets even
 * when user space reads a value while the program updates it.
 */
struct syscall_value {
	__u64 duration_buckets[DISKIDLE_SYSCALL_DURATION_BUCKETS];
	__u64 duration_ns; /* time spent, entry to exit */
	__u64 size_buckets[DISKIDLE_SIZE_BUCKETS]; /* bytes a write-family call returned */
	__u64 bytes;
	__u64 errors; /* calls that returned an error (< 0) */
};

/* A call in progress: what the exit tracepoint needs from the entry (in the
 * thread's task storage; start_ns 0: none). */
struct syscall_inflight {
	__u64 start_ns;
	__u32 dev;
	__u32 pad;
};

/* Indexes of the per-CPU drop counters. */
enum diskidle_syscall_drop_reason {
	DISKIDLE_SYSCALL_DROP_COUNT_MAP_FULL = 0, /* a call not counted: syscall_counts full */
	DISKIDLE_SYSCALL_DROP_PROCESS_MAP_FULL = 1, /* a comm not recorded */
	DISKIDLE_SYSCALL_DROP_INFLIGHT_UNAVAILABLE = 2, /* a call not timed: no task storage */
	DISKIDLE_SYSCALL_DROP_REASONS = 3,
};

#endif /* DISKIDLE_SYSCALL_STATS_H */
