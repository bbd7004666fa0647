/* SPDX-License-Identifier: GPL-2.0 */
/* The log2 size buckets of bio_stats.h, shared by every program that counts
 * sizes in them (bio sizes, the bytes a write syscall returned). */
#ifndef DISKIDLE_SIZE_BUCKET_BPF_H
#define DISKIDLE_SIZE_BUCKET_BPF_H

/* floor(log2(v)) for v > 0, branch-free shift cascade. */
static __always_inline u32 floor_log2(u32 v)
{
	u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (v >> 1);
}

/* 0 for an empty bio, else the smallest b with bytes <= 2^(b-1) (bio_stats.h). */
static __always_inline u8 size_bucket(u32 bytes)
{
	if (bytes <= 1)
		return bytes;
	return floor_log2(bytes - 1) + 2;
}

#endif /* DISKIDLE_SIZE_BUCKET_BPF_H */
