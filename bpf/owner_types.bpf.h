/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel types owner_attribution.bpf.h reads (page cache, inodes, jbd2),
 * kept apart from vmlinux_min.h for the same reason and in the same way:
 * hand-written, every struct preserve_access_index (CO-RE relocates each
 * field against the running kernel), only the fields read. Checked against
 * the BTF of Linux 6.18. Fields inside anonymous unions (page->mapping,
 * page->compound_head) are found by name by libbpf's CO-RE matching.
 */
#ifndef DISKIDLE_OWNER_TYPES_BPF_H
#define DISKIDLE_OWNER_TYPES_BPF_H

/* UAPI value (include/uapi/linux/bpf.h) vmlinux_min.h does not list. */
enum { BPF_MAP_TYPE_LRU_HASH = 9 };

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct address_space;
struct inode;

struct page {
	unsigned long compound_head; /* bit 0 set: tail page, head = value - 1 */
	struct address_space *mapping; /* low bits set: anon/KSM/movable, no file */
};

/* Linux 7.x renamed compound_head to compound_info, and a tail page's value
 * there is no longer always head + 1 (it can be a mask for the vmemmap
 * optimisation). Only bit 0, "this is a tail page", is read from it. */
struct page___compound_info {
	unsigned long compound_info;
};

struct bio_vec {
	struct page *bv_page;
};

/* The part of struct bio that vmlinux_min.h does not list: the "___owner"
 * flavour is matched to the kernel's struct bio by CO-RE. */
struct bio___owner {
	struct bio_vec *bi_io_vec;
	void *bi_end_io; /* bio_end_io_t *: who completes it */
};

struct address_space {
	struct inode *host;
};

struct super_block {
	u32 s_dev;
	unsigned long s_magic;
};

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	u32 i_generation;
	struct super_block *i_sb;
};

struct file {
	struct inode *f_inode;
};

struct journal_s {
	struct block_device *j_fs_dev; /* the filesystem's device (its s_dev) */
};

/* ext4's in-memory inode embeds the VFS inode. The two tids are the journal
 * transactions that last changed the inode (for fsync) and its data (for
 * fdatasync): what ext4_fsync_journal() waits for. tid_t is unsigned int. */
struct ext4_inode_info___owner {
	struct inode vfs_inode;
	unsigned int i_sync_tid;
	unsigned int i_datasync_tid;
};

/* btrfs (6.3+ layout): the bio it submits is embedded in a struct btrfs_bio
 * that names the file's inode; a struct btrfs_inode embeds the VFS inode. */
struct btrfs_inode___owner {
	struct inode vfs_inode;
};

struct btrfs_bio___owner {
	struct btrfs_inode___owner *inode;
	void *end_io; /* btrfs_bio_end_io_t: btrfs's own completion */
	struct bio bio;
};

#pragma clang attribute pop

#endif /* DISKIDLE_OWNER_TYPES_BPF_H */
