/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel drift that bio_stats.bpf.c must survive, in one place. */
#ifndef DISKIDLE_CORE_FIXES_BPF_H
#define DISKIDLE_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * enum req_op was `enum req_opf` before Linux 5.19 (commit ff07a02e9e8e
 * "treewide: use enum req_op"). Same values, other name: try both.
 */
enum req_opf___old {
	REQ_OP_WRITE___old = 1,
	REQ_OP_FLUSH___old = 2,
	REQ_OP_DISCARD___old = 3,
	REQ_OP_SECURE_ERASE___old = 5,
	REQ_OP_WRITE_ZEROES___old = 9,
};

#define DISKIDLE_REQ_OP(name)                                              \
	(bpf_core_enum_value_exists(enum req_op, name) ?                   \
		 bpf_core_enum_value(enum req_op, name) :                  \
		 bpf_core_enum_value(enum req_opf___old, name##___old))

#endif /* DISKIDLE_CORE_FIXES_BPF_H */
