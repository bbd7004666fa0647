// SPDX-License-Identifier: GPL-2.0
/*
 * Disk request latency: a log2 histogram per whole disk and op of the time
 * from a request's issue to the driver until its completion (biolatency).
 *
 * One hook, block_rq_complete; the issue time is the one the kernel already
 * keeps in the request, so there is no issue hook and no map of requests in
 * flight (a hash map shared by all CPUs, written twice per request):
 *   - io_start_time_ns is set by blk_mq_start_request(), i.e. at issue, when
 *     the queue collects blk-stat statistics (QUEUE_FLAG_STATS: writeback
 *     throttling (CONFIG_BLK_WBT, on by default for blk-mq disks, off under
 *     BFQ), blk-iolatency, hybrid polling). It is 0 for passthrough requests
 *     and when stats are off. Seen set on Linux 6.18 loop devices (wbt on).
 *   - otherwise start_time_ns, set when the request was allocated (when the
 *     queue keeps I/O statistics or has a scheduler; the flush machinery sets
 *     it when it sends its flush): that time includes queueing in the
 *     scheduler, as /proc/diskstats' *_time fields do. Such requests are
 *     counted in events[DISKIDLE_LAT_FROM_ALLOC], so it shows when it happens.
 *
 * Which completions count (this is what makes the flush count equal
 * /proc/diskstats' flush count):
 *   - A PREFLUSH write goes through the flush machinery (blk-flush.c). It sends
 *     one separate REQ_OP_FLUSH request (fq->flush_rq) for all the flushes
 *     pending at that moment, and /proc/diskstats counts exactly those
 *     (blk_account_io_flush() in flush_end_io()). We count them as op flush.
 *   - The empty PREFLUSH write that asked for it is never issued to the
 *     driver, and completes (block_rq_complete) when the flush is done; its
 *     state is still MQ_RQ_IDLE. Not counted: its time is the flush's.
 *   - A data write inside a flush sequence (FUA on a disk without FUA, or
 *     PREFLUSH with data) completes twice: once for its data (RQF_FLUSH_SEQ
 *     still set) and once at the end of the sequence. Counted once, at the
 *     end, from its issue: that is what the writer waited for.
 *   - block_rq_complete fires for each partial completion; a request counts
 *     at the one that completes its last bytes.
 *   - Passthrough requests (REQ_OP_DRV_IN/OUT: SG_IO, NVMe admin) are not
 *     disk I/O in /proc/diskstats either, and are left out.
 * Everything lands in per-CPU values: no atomics, no shared cache lines.
 */
#include "disk_latency_types.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "disk_latency.h"

char LICENSE[] SEC("license") = "GPL";

#define REQ_OP_MASK 0xff /* REQ_OP_BITS == 8 since Linux 4.10 */
#define REQ_OP_DRV_IN 34 /* passthrough ops: 34 and 35 since Linux 4.11 */
#define REQ_OP_DRV_OUT 35

/* 4 ops per disk: room for 256 disks. The exporter deletes a disk's entries
 * once the disk has been gone from /proc/diskstats for exited_process_ttl. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct latency_key);
	__type(value, struct latency_value);
} latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISKIDLE_LAT_EVENTS);
	__type(key, u32);
	__type(value, u64);
} events SEC(".maps");

static __always_inline void count_event(u32 event)
{
	u64 *n = bpf_map_lookup_elem(&events, &event);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline u32 flush_seq_flag(void)
{
	if (bpf_core_enum_value_exists(enum rqf_flags, __RQF_FLUSH_SEQ))
		return 1U << bpf_core_enum_value(enum rqf_flags, __RQF_FLUSH_SEQ);
	return 1U << 4;
}

/* op_stat_group() of the kernel: discard, flush, write (odd ops), read. */
static __always_inline u32 latency_op(u32 op)
{
	if (op == DISKIDLE_REQ_OP(REQ_OP_FLUSH))
		return DISKIDLE_LAT_FLUSH;
	if (op == DISKIDLE_REQ_OP(REQ_OP_DISCARD) || op == DISKIDLE_REQ_OP(REQ_OP_SECURE_ERASE))
		return DISKIDLE_LAT_DISCARD;
	if (op & 1) /* op_is_write(): every write-direction op is odd */
		return DISKIDLE_LAT_WRITE;
	return DISKIDLE_LAT_READ;
}

static __always_inline void record(const struct latency_key *key, u64 ns)
{
	u32 bucket = diskidle_latency_bucket(ns);
	struct latency_value *value;

	value = bpf_map_lookup_elem(&latency, key);
	if (!value) {
		/* First request of this (disk, op): insert a zeroed value. */
		static const struct latency_value zero;

		bpf_map_update_elem(&latency, key, &zero, BPF_NOEXIST);
		/* Another CPU may have inserted it first; that is fine too. */
		value = bpf_map_lookup_elem(&latency, key);
		if (!value) {
			count_event(DISKIDLE_LAT_DROP_MAP_FULL);
			return;
		}
	}
	if (bucket < DISKIDLE_LATENCY_BUCKETS) /* always; for the verifier */
		value->buckets[bucket] += 1; /* this CPU's slot: no atomics */
	value->sum_ns += ns;
}

/*
 * The fields arrive read already (tp_btf reads them directly, raw_tp through
 * bpf_probe_read_kernel), so both entry points share this.
 */
static __always_inline int on_complete(u32 cmd_flags, u32 rq_flags, u32 data_len, u32 nr_bytes,
				       u32 state, u64 io_start_ns, u64 start_ns,
				       struct gendisk *disk)
{
	u32 op = cmd_flags & REQ_OP_MASK;
	struct latency_key key = {};
	u64 now, since;

	if (nr_bytes < data_len)
		return 0; /* a partial completion: the request goes on */
	if (op == REQ_OP_DRV_IN || op == REQ_OP_DRV_OUT)
		return 0;
	if (state == MQ_RQ_IDLE)
		return 0; /* never issued: a PREFLUSH write that the flush served */
	if ((rq_flags & flush_seq_flag()) && op != DISKIDLE_REQ_OP(REQ_OP_FLUSH))
		return 0; /* data part of a flush sequence: counted at its end */
	if (!disk)
		return 0;

	now = bpf_ktime_get_ns(); /* the clock of blk_time_get_ns() */
	since = io_start_ns;
	if (!since) {
		since = start_ns;
		if (!since)
			return 0; /* no time kept at all: nothing to measure from */
		count_event(DISKIDLE_LAT_FROM_ALLOC);
	}
	key.dev = (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
	key.op = latency_op(op);
	record(&key, now > since ? now - since : 0);
	return 0;
}

/* BTF-typed tracepoint (5.5+): block_rq_complete(rq, error, nr_bytes). */
SEC("tp_btf/block_rq_complete")
int disk_lat_btf(u64 *ctx)
{
	struct request *rq = (struct request *)ctx[0];

	return on_complete(rq->cmd_flags, rq->rq_flags, rq->__data_len, (u32)ctx[2], rq->state,
			   rq->io_start_time_ns, rq->start_time_ns, rq->q->disk);
}

/* Twin for kernels where tp_btf cannot attach: the same, through probe reads. */
SEC("raw_tp/block_rq_complete")
int disk_lat_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct request *rq = (struct request *)ctx->args[0];

	return on_complete(BPF_CORE_READ(rq, cmd_flags), BPF_CORE_READ(rq, rq_flags),
			   BPF_CORE_READ(rq, __data_len), (u32)ctx->args[2],
			   BPF_CORE_READ(rq, state), BPF_CORE_READ(rq, io_start_time_ns),
			   BPF_CORE_READ(rq, start_time_ns), BPF_CORE_READ(rq, q, disk));
}
