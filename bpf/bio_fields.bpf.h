/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every block_bio_queue program derives from a bio in the same way: the
 * diskidle op (read/write/flush/...) and the whole disk it goes to. Shared by
 * bio_stats.bpf.c and stack_trace.bpf.c so that `op=flush` on /debug/stacks
 * means exactly what op="flush" means in the metrics.
 */
#ifndef DISKIDLE_BIO_FIELDS_BPF_H
#define DISKIDLE_BIO_FIELDS_BPF_H

#include <bpf/bpf_core_read.h>
#include "bio_stats.h"
#include "core_fixes.bpf.h"

#define REQ_OP_MASK 0xff /* REQ_OP_BITS == 8 since Linux 4.10 */

static __always_inline u8 classify_op(u32 opf, u32 bytes)
{
	u32 op = opf & REQ_OP_MASK;
	u32 preflush = 1U << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH);

	if (op == DISKIDLE_REQ_OP(REQ_OP_WRITE)) {
		/* An empty write with PREFLUSH is how filesystems ask for a cache
		 * flush (blkdev_issue_flush); REQ_OP_FLUSH only exists below bios. */
		if (bytes == 0 && (opf & preflush))
			return DISKIDLE_OP_FLUSH;
		return DISKIDLE_OP_WRITE;
	}
	if (op == 0) /* REQ_OP_READ is 0 on every kernel */
		return DISKIDLE_OP_READ;
	if (op == DISKIDLE_REQ_OP(REQ_OP_FLUSH))
		return DISKIDLE_OP_FLUSH;
	if (op == DISKIDLE_REQ_OP(REQ_OP_DISCARD) ||
	    op == DISKIDLE_REQ_OP(REQ_OP_SECURE_ERASE))
		return DISKIDLE_OP_DISCARD;
	if (op == DISKIDLE_REQ_OP(REQ_OP_WRITE_ZEROES))
		return DISKIDLE_OP_WRITE_ZEROES;
	return DISKIDLE_OP_OTHER;
}

/* The whole disk of a block device, as MKDEV(major, first_minor). */
static __always_inline u32 whole_disk(struct block_device *bdev)
{
	struct gendisk *disk = BPF_CORE_READ(bdev, bd_disk);

	return (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

#endif /* DISKIDLE_BIO_FIELDS_BPF_H */
