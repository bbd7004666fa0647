/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between disk_latency.bpf.c and the exporter: the map key and value,
 * and the latency bucket function, which both sides compile from this one
 * definition (the unit tests check the exporter's `le` bounds against it).
 * Plain __u32/__u64 types only; include <linux/types.h> first in user space.
 */
#ifndef DISKIDLE_DISK_LATENCY_H
#define DISKIDLE_DISK_LATENCY_H

/* op of a request, grouped as /proc/diskstats groups them (op_stat_group()). */
enum diskidle_latency_op {
	DISKIDLE_LAT_READ = 0,
	DISKIDLE_LAT_WRITE = 1, /* every other write-direction op: write zeroes, zone ops */
	DISKIDLE_LAT_FLUSH = 2, /* REQ_OP_FLUSH: the request the flush machinery sends */
	DISKIDLE_LAT_DISCARD = 3, /* REQ_OP_DISCARD and REQ_OP_SECURE_ERASE */
	DISKIDLE_LAT_OPS = 4,
};

/*
 * Log2 buckets in whole microseconds, rounded up: bucket 0 holds durations
 * <= 1 us, bucket b (1 <= b < LAST) holds (2^(b-1), 2^b] us, and the last
 * bucket everything above 2^(LAST-1) us (about 67 s). Each bucket's upper edge
 * is a whole number of microseconds, so a Prometheus `le` of 2^b us counts
 * buckets 0..b exactly.
 */
#define DISKIDLE_LATENCY_BUCKETS 28

static inline __u32 diskidle_latency_bucket(__u64 ns)
{
	/* ceil(ns / 1000): the duration in microseconds, rounded up (written
	 * so that it cannot overflow) */
	__u64 us = ns / 1000 + (ns % 1000 != 0);
	__u32 b = 0;

	if (us <= 1)
		return 0;
	us -= 1; /* now b = floor(log2(us)) + 1 */
	/* Unrolled binary search: the verifier sees no loop. */
	if (us >> 32) { b += 32; us >>= 32; }
	if (us >> 16) { b += 16; us >>= 16; }
	if (us >> 8) { b += 8; us >>= 8; }
	if (us >> 4) { b += 4; us >>= 4; }
	if (us >> 2) { b += 2; us >>= 2; }
	if (us >> 1) { b += 1; us >>= 1; }
	b += 1;
	return b < DISKIDLE_LATENCY_BUCKETS ? b : DISKIDLE_LATENCY_BUCKETS - 1;
}

struct latency_key {
	__u32 dev; /* whole disk: major << 20 | first_minor (kernel dev_t encoding) */
	__u32 op; /* enum diskidle_latency_op */
};

struct latency_value {
	__u64 buckets[DISKIDLE_LATENCY_BUCKETS];
	__u64 sum_ns;
};

/* Indexes of the per-CPU counters in the `events` map. */
enum diskidle_latency_event {
	/* a completed request not timed: its (dev, op) did not fit in the map */
	DISKIDLE_LAT_DROP_MAP_FULL = 0,
	/* timed from allocation (start_time_ns): the queue keeps no issue time */
	DISKIDLE_LAT_FROM_ALLOC = 1,
	DISKIDLE_LAT_EVENTS = 2,
};

#endif /* DISKIDLE_DISK_LATENCY_H */
