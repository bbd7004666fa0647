/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The request fields disk_latency.bpf.c reads, by hand as in vmlinux_min.h
 * (checked against the BTF of Linux 6.18; CO-RE relocates every access).
 */
#ifndef DISKIDLE_DISK_LATENCY_TYPES_BPF_H
#define DISKIDLE_DISK_LATENCY_TYPES_BPF_H

#include "vmlinux_min.h"

enum mq_rq_state {
	MQ_RQ_IDLE = 0,
	MQ_RQ_IN_FLIGHT = 1,
	MQ_RQ_COMPLETE = 2,
};

/* Request flag bits: an enum since Linux 6.9, #defines before (where
 * RQF_FLUSH_SEQ was 1 << 4). */
enum rqf_flags {
	__RQF_FLUSH_SEQ = 1,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct request_queue {
	struct gendisk *disk; /* 5.15+ */
};

struct request {
	struct request_queue *q;
	unsigned int cmd_flags;
	unsigned int rq_flags;
	unsigned int __data_len;
	u64 start_time_ns;
	u64 io_start_time_ns;
	enum mq_rq_state state;
};

#pragma clang attribute pop

#endif /* DISKIDLE_DISK_LATENCY_TYPES_BPF_H */
