/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bios a kernel thread submits on behalf of a process (issue 10):
 *
 *  - page-cache writeback: a flusher kworker writes pages some process
 *    dirtied. writeback_dirty_folio fires in the dirtier's context once per
 *    newly dirtied folio (write(), and mmap stores through page_mkwrite); it
 *    records the dirtier per inode. A kernel thread's data write whose first
 *    page belongs to a recorded inode is counted for that dirtier with
 *    syscall DISKIDLE_SYSCALL_WRITEBACK.
 *  - forced journal commits: fsync() on ext4 asks the jbd2 thread to commit.
 *    ext4_sync_file_enter (and ext4_sync_fs for sync/syncfs) record the caller
 *    as the journal's pending forcer; jbd2_start_commit, in the jbd2 thread,
 *    takes the pending forcer (the latest one wins) as the owner of this
 *    commit, and every bio that thread submits until jbd2_end_commit is
 *    counted for the forcer under the forcer's syscall.
 *
 * Included by bio_stats.bpf.c after its maps and helpers (add_to_map,
 * count_drop, record_threads, current_syscall). count_bio() calls
 * count_owned_bio() on its miss path for kernel threads, which it never
 * caches, so a cache hit can never merge two owners, and a user task's bio
 * pays nothing for any of this.
 */
#ifndef DISKIDLE_OWNER_ATTRIBUTION_BPF_H
#define DISKIDLE_OWNER_ATTRIBUTION_BPF_H

#include "owner_types.bpf.h"

#define DISKIDLE_S_IFMT 00170000
#define DISKIDLE_S_IFBLK 0060000
#define DISKIDLE_S_IFREG 0100000
/* btrfs's super magic, and the inode number of its btree inode, whose page
 * cache holds every tree block (metadata) of the filesystem. */
#define DISKIDLE_BTRFS_SUPER_MAGIC 0x9123683EUL
#define DISKIDLE_BTRFS_BTREE_INODE 1
/* Low bits of page->mapping that mark anon, KSM and movable pages. */
#define DISKIDLE_MAPPING_FLAGS 3UL
/* How long a forcer recorded by ext4_sync_fs (which has no exit tracepoint)
 * may wait for its commit to start: sync() starts it right away. */
#define DISKIDLE_SYNC_FS_FORCE_NS 1000000000ULL

#define DISKIDLE_EEXIST 17 /* bpf_map_update_elem(BPF_NOEXIST) on an existing key */

/* A process (and thread) bios are counted for, captured in its own context. */
struct owner {
	u64 start_boottime_ns; /* group leader's, as in bio_key */
	u64 cgroup_id;
	u32 tgid;
	u32 pid; /* the thread */
	s32 syscall_nr; /* the forcer's syscall; unused for dirtiers */
	u32 pad;
	char comm[DISKIDLE_COMM_LEN]; /* group leader's name, for `processes` */
	char thread[DISKIDLE_COMM_LEN]; /* the thread's name, if record_threads */
};

/*
 * Inodes by (filesystem device, inode number, generation, struct inode
 * address). The numbers alone are not unique: btrfs subvolumes and snapshots
 * share one superblock, so one s_dev in the kernel (stat() shows each its
 * own, made up by btrfs), and their files repeat inode numbers and
 * generations (every subvolume's first file is 257; a snapshot's files keep
 * the original's). Two such files are two struct inodes, so the address
 * tells them apart. The address alone is not enough either: an evicted
 * inode's memory is reused for another inode, which would inherit a stale
 * dirtier; with the numbers in the key it can only inherit its own. The
 * generation tells a deleted inode's reused number apart on filesystems that
 * set it (ext4, XFS). An inode is not evicted while it has dirty pages, so
 * the dirtying and the writeback of one page see the same address.
 */
struct inode_key {
	u32 dev;
	u32 generation;
	u64 ino;
	u64 inode_addr;
};

/* Last dirtier of each inode; LRU so that many files never fail an insert. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct inode_key);
	__type(value, struct owner);
} dirtiers SEC(".maps");

/* The latest caller of a journal's filesystem, as a commit credits it. */
struct forcer {
	struct owner owner;
	u64 expires_ns; /* 0: pending until the caller's ext4_sync_file_exit */
};

/* By the filesystem's device. Written only when the caller changes (a new
 * thread, or sync()): an update replaces the element as a whole, so a commit
 * never copies a half-written owner. One entry per ext4 filesystem ever
 * synced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct forcer);
} forcers SEC(".maps");

/*
 * What every fsync() reads and writes: whether the recorded caller still
 * waits, and which of its calls. An array slot picked by a hash of the
 * device, because an array lookup compiles to an index computation while a
 * hash lookup is a call: two per fsync cost ~75 ns more on a 6.18 VM
 * (bpf_stats over a 3 s storm). Each field is one naturally aligned word, so
 * a reader on another CPU sees each one old or new, never torn; a slot
 * written by a different thread in between only makes a check below fail
 * (the commit stays `kernel`), never credits the wrong process. Two
 * filesystems sharing a slot only take each other's fast path away.
 */
struct forcer_slot {
	u32 fs_dev; /* whose slot it is now */
	u32 pid; /* the thread recorded in `forcers`; 0 after sync(): no fast path */
	u32 tgid;
	u32 pending_pid; /* that thread while its call waits for a commit; else 0 */
	u64 start_boottime_ns; /* of its process */
	s32 syscall_nr; /* of its latest call */
	u32 tid; /* the journal transaction its latest call waits for */
	u32 has_tid; /* 0: unknown (sync(), a directory): no precedence */
	u32 pad;
};

#define DISKIDLE_FORCER_SLOTS 1024

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DISKIDLE_FORCER_SLOTS);
	__type(key, u32);
	__type(value, struct forcer_slot);
} forcer_slots SEC(".maps");

static __always_inline struct forcer_slot *forcer_slot_of(u32 fs_dev)
{
	u32 index = (fs_dev * 2654435761u) >> 22; /* the top 10 bits: 1024 slots */

	return bpf_map_lookup_elem(&forcer_slots, &index);
}

/* The owner of the commit a journal thread (by pid) is writing now. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct owner);
} forced_commits SEC(".maps");

/* Fills `o` with the current task (a user task) as it is now. */
static __always_inline void capture_owner(struct owner *o, struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;

	o->start_boottime_ns = leader->start_boottime;
	o->tgid = task->tgid;
	o->pid = task->pid;
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_probe_read_kernel_str(o->comm, sizeof(o->comm), leader->comm);
	if (record_threads)
		__builtin_memcpy(o->thread, task->comm, sizeof(o->thread));
}

/* Whether `inode` is a block device's (its page cache holds filesystem
 * metadata: superblocks, bitmaps, the journal's blocks). */
static __always_inline bool is_block_device_inode(struct inode *inode)
{
	return (BPF_CORE_READ(inode, i_mode) & DISKIDLE_S_IFMT) == DISKIDLE_S_IFBLK;
}

static __always_inline void inode_key_of(struct inode *inode, struct inode_key *k)
{
	k->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	k->generation = BPF_CORE_READ(inode, i_generation);
	k->ino = BPF_CORE_READ(inode, i_ino);
	k->inode_addr = (u64)inode;
}

/* Where note_dirtier() leaves a dirtier's cgroup id for user space
 * (bio_stats.h). Its own cache lines, apart from `hot`. */
volatile __u64 dirtier_cgroups[DISKIDLE_DIRTIER_CGROUP_SLOTS] __attribute__((aligned(64)));

static __always_inline void publish_dirtier_cgroup(u64 cgroup_id)
{
	u32 slot = (u32)((cgroup_id * 0x9E3779B97F4A7C15ULL) >> 56); /* 0..255 */

	if (dirtier_cgroups[slot] != cgroup_id)
		dirtier_cgroups[slot] = cgroup_id;
}

/*
 * A folio of `mapping` became dirty in the current task. The common case,
 * the same process dirtying page after page of one file, is one hash lookup
 * and a compare; the record is rewritten only when the dirtier changes.
 */
static __always_inline int note_dirtier(struct address_space *mapping)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct inode *inode;
	struct inode_key k = {};
	struct owner *old, o = {};

	/* A kernel thread's dirtying (the loop driver writing its backing
	 * file, a filesystem's own work) names no process: the inode keeps its
	 * last user dirtier, or has none and stays `kernel`. */
	if (!mapping || (task->flags & PF_KTHREAD))
		return 0;
	inode = BPF_CORE_READ(mapping, host);
	if (!inode || is_block_device_inode(inode))
		return 0; /* metadata through the block device's cache */
	inode_key_of(inode, &k);
	/* btrfs metadata: a tree block is dirtied by whichever task changes the
	 * tree (a file create, a rename, a subvolume ioctl) and written back
	 * with every other task's changes in the transaction's commit. As one
	 * "file" with a latest dirtier it would hand the whole filesystem's
	 * metadata to the last task that touched a new tree block, so it stays
	 * `kernel` like other filesystems' metadata. */
	if (k.ino == DISKIDLE_BTRFS_BTREE_INODE &&
	    BPF_CORE_READ(inode, i_sb, s_magic) == DISKIDLE_BTRFS_SUPER_MAGIC)
		return 0;
	old = bpf_map_lookup_elem(&dirtiers, &k);
	/* The thread only matters when its name is recorded: otherwise the
	 * threads of one process writing a file in turn are one dirtier. */
	if (old && old->tgid == task->tgid && (!record_threads || old->pid == task->pid) &&
	    old->start_boottime_ns == task->group_leader->start_boottime)
		return 0;
	capture_owner(&o, task);
	o.syscall_nr = DISKIDLE_SYSCALL_WRITEBACK;
	bpf_map_update_elem(&dirtiers, &k, &o, BPF_ANY);
	publish_dirtier_cgroup(o.cgroup_id);
	return 0;
}

/* The recorded dirtier of the file page a data write starts with, if any.
 * Sets *fileless when that page has no mapping at all (a page the filesystem
 * allocated for itself, such as btrfs's compressed copy). */
static __always_inline struct owner *page_dirtier(struct bio *bio, bool *fileless)
{
	struct bio___owner *b = (void *)bio;
	struct page *page;
	unsigned long head, mapping;
	struct inode *inode;
	struct inode_key k = {};

	if (!bio) /* tp_btf arguments may be NULL to the verifier: check first */
		return NULL;
	page = BPF_CORE_READ(b, bi_io_vec, bv_page);
	if (!page)
		return NULL;
	if (bpf_core_field_exists(((struct page___compound_info *)page)->compound_info)) {
		/* 7.x: bio_add_folio() puts the folio's head page first, so a tail
		 * page here is rare; do not guess its head from compound_info. */
		head = BPF_CORE_READ((struct page___compound_info *)page, compound_info);
		if (head & 1)
			return NULL;
	} else {
		head = BPF_CORE_READ(page, compound_head);
		if (head & 1) /* a tail page of a large folio: its head has the mapping */
			page = (struct page *)(head - 1);
	}
	mapping = (unsigned long)BPF_CORE_READ(page, mapping);
	*fileless = !mapping;
	if (!mapping || (mapping & DISKIDLE_MAPPING_FLAGS))
		return NULL; /* anonymous (swap) or not a page-cache page */
	inode = BPF_CORE_READ((struct address_space *)mapping, host);
	if (!inode || is_block_device_inode(inode))
		return NULL;
	inode_key_of(inode, &k);
	return bpf_map_lookup_elem(&dirtiers, &k);
}

/*
 * btrfs's completion handlers of a bio that is the struct btrfs_bio it
 * allocated itself, not a clone: btrfs_simple_end_io (one stripe) and
 * btrfs_orig_write_end_io (the first copy of a mirrored write). Typeless
 * ksyms: libbpf takes their addresses from /proc/kallsyms (static functions
 * are listed there; btrfs as a module too, once loaded); __weak: 0 where they
 * are missing (btrfs not loaded at start-up, before 6.3), and then no bio
 * matches.
 */
extern const void btrfs_simple_end_io __ksym __weak;
extern const void btrfs_orig_write_end_io __ksym __weak;
/* The btrfs-level completion (btrfs_bio->end_io) of a compressed write:
 * end_compressed_bio_write until 6.8, end_bbio_compressed_write since 6.9. */
extern const void end_compressed_bio_write __ksym __weak;
extern const void end_bbio_compressed_write __ksym __weak;

/*
 * The recorded dirtier of the file a btrfs compressed write belongs to, read
 * from the btrfs_bio around it: btrfs writes compressed data from pages of
 * its own, which belong to no file, so page_dirtier() finds nothing (and says
 * so: only then is this asked). Only a bio whose bi_end_io is one of the two
 * handlers above is a struct btrfs_bio, and only one whose end_io is the
 * compressed write's is taken (not, say, direct I/O to an image file whose
 * pages are another filesystem's own). The types are checked first, so on a
 * kernel without them (or with btrfs a module whose BTF is not loaded) the
 * verifier drops this code.
 */
static __always_inline struct owner *btrfs_bio_dirtier(struct bio *bio)
{
	unsigned long end_io, simple = (unsigned long)&btrfs_simple_end_io,
			      orig = (unsigned long)&btrfs_orig_write_end_io;
	struct btrfs_bio___owner *bbio;
	struct btrfs_inode___owner *bi;
	struct inode *inode;
	struct inode_key k = {};

	if (!bpf_core_field_exists(struct btrfs_bio___owner, inode) ||
	    !bpf_core_field_exists(struct btrfs_bio___owner, end_io) ||
	    !bpf_core_field_exists(struct btrfs_bio___owner, bio) ||
	    !bpf_core_field_exists(struct btrfs_inode___owner, vfs_inode))
		return NULL;
	end_io = (unsigned long)BPF_CORE_READ((struct bio___owner *)bio, bi_end_io);
	if (!end_io || (end_io != simple && end_io != orig))
		return NULL;
	bbio = (void *)bio - bpf_core_field_offset(struct btrfs_bio___owner, bio);
	end_io = (unsigned long)BPF_CORE_READ(bbio, end_io);
	if (!end_io || (end_io != (unsigned long)&end_bbio_compressed_write &&
			end_io != (unsigned long)&end_compressed_bio_write))
		return NULL;
	bi = BPF_CORE_READ(bbio, inode);
	if (!bi)
		return NULL;
	inode = (void *)bi + bpf_core_field_offset(struct btrfs_inode___owner, vfs_inode);
	inode_key_of(inode, &k);
	return bpf_map_lookup_elem(&dirtiers, &k);
}

/*
 * Counts a kernel thread's bio for the process it works for, if there is
 * one: the forcer of the journal commit this thread is writing, else the
 * dirtier of the file pages being written back. Returns 1 if counted.
 */
static __always_inline int count_owned_bio(struct bio *bio, u8 op, u32 bytes,
					   struct block_device *bdev)
{
	u32 pid = bpf_get_current_pid_tgid();
	struct owner *o;
	struct bio_key key = {};
	bool fileless = false;
	s32 nr;
	int added;

	o = bpf_map_lookup_elem(&forced_commits, &pid);
	if (o) {
		nr = o->syscall_nr;
	} else {
		if (op != DISKIDLE_OP_WRITE)
			return 0;
		o = page_dirtier(bio, &fileless);
		/* Only for pages of no file: a bio carrying another file's pages
		 * (a loop device's direct I/O to its backing file) must not be
		 * credited to whoever once dirtied the file it lands in. */
		if (!o && fileless)
			o = btrfs_bio_dirtier(bio);
		if (!o)
			return 0;
		nr = DISKIDLE_SYSCALL_WRITEBACK;
	}
	key.start_boottime_ns = o->start_boottime_ns;
	key.tgid = o->tgid;
	key.dev = whole_disk(bdev);
	key.syscall_nr = nr;
	key.op = op;
	key.size_bucket = size_bucket(bytes);
	key.cgroup_id = o->cgroup_id;
	if (record_threads)
		__builtin_memcpy(key.thread, o->thread, sizeof(key.thread));
	added = add_to_map(&key, 1, bytes, true);
	if (added > 0) {
		struct process_key pkey = {
			.start_boottime_ns = key.start_boottime_ns,
			.tgid = key.tgid,
		};
		struct process_info info;
		long err;

		/* The owner's name was captured when it dirtied the pages or
		 * asked for the commit; the process may have exec()ed since.
		 * So it only names a process not yet in the table: a name
		 * already there may be newer (the process's own bios record its
		 * live name), and the exporter follows renames, so writing the
		 * older one would flip the process back to it. */
		__builtin_memcpy(info.comm, o->comm, sizeof(info.comm));
		err = bpf_map_update_elem(&processes, &pkey, &info, BPF_NOEXIST);
		if (err && err != -DISKIDLE_EEXIST)
			count_drop(DISKIDLE_DROP_PROCESS_MAP_FULL, 1);
	}
	return 1; /* counted, or counted as dropped by add_to_map */
}

/*
 * The journal transaction an fsync() of `inode` (a regular file) will wait
 * for, as ext4 recorded it when the inode (or, for fdatasync, its data) last
 * changed: ext4_fsync_journal() reads the same field after writing back the
 * file's dirty pages. Read from the struct ext4_inode_info around the VFS
 * inode, as btrfs_bio_dirtier() reads the btrfs_bio around a bio. Returns
 * false where it is unknown: not a regular file (ext4_force_commit() commits
 * whatever is running), or a kernel without these fields.
 */
static __always_inline bool fsync_tid(struct inode *inode, u16 mode, int datasync, u32 *tid)
{
	struct ext4_inode_info___owner *ei;

	if ((mode & DISKIDLE_S_IFMT) != DISKIDLE_S_IFREG ||
	    !bpf_core_field_exists(struct ext4_inode_info___owner, i_sync_tid) ||
	    !bpf_core_field_exists(struct ext4_inode_info___owner, i_datasync_tid))
		return false;
	ei = (void *)inode - bpf_core_field_offset(struct ext4_inode_info___owner, vfs_inode);
	if (datasync)
		*tid = BPF_CORE_READ(ei, i_datasync_tid);
	else
		*tid = BPF_CORE_READ(ei, i_sync_tid);
	return true;
}

/*
 * The current task asks the journal of filesystem `fs_dev` for a commit.
 * `has_tid`/`tid`: the transaction it waits for (fsync_tid()), if known.
 */
static __always_inline int note_forcer(u32 fs_dev, u64 expires_ns, bool has_tid, u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct forcer_slot *slot;
	struct forcer f = {};
	u64 start;
	s32 nr;

	/* A kernel thread forcing a commit (the loop driver's fsync of its
	 * backing file, nfsd) names no process. */
	if (task->flags & PF_KTHREAD)
		return 0;
	start = task->group_leader->start_boottime;
	slot = forcer_slot_of(fs_dev);
	if (!slot)
		return 0;
	/* A caller still waiting for a later transaction than ours keeps its
	 * place: transactions commit in order, so every commit that can start
	 * before ours is done is one it needs too, and ours (already committed,
	 * or committing now) needs no new one. Without this, a process that
	 * fsync()s an unchanged file in a loop is the latest caller nearly all
	 * the time and takes the commits other processes' fsync()s force. The
	 * tid is read before the fsync writes back dirty pages, which can move
	 * its inode to a newer transaction; such a caller is then not recorded,
	 * and its commit goes to the waiting caller or stays `kernel`. Two words
	 * of the slot read racily: at worst the latest caller wins, as without
	 * tids. Signed difference: tids wrap around. */
	if (has_tid && slot->fs_dev == fs_dev && slot->pending_pid &&
	    slot->pending_pid != task->pid && slot->has_tid && (s32)(tid - slot->tid) < 0)
		return 0;
	nr = current_syscall(task);
	/* The common case, one thread syncing again and again: it is the
	 * recorded caller already, so only the syscall (fsync, then fdatasync)
	 * and the pending mark are written. */
	if (!expires_ns && slot->fs_dev == fs_dev && slot->pid == task->pid &&
	    slot->tgid == task->tgid && slot->start_boottime_ns == start) {
		slot->syscall_nr = nr;
		slot->tid = tid;
		slot->has_tid = has_tid;
		slot->pending_pid = task->pid;
		return 0;
	}
	capture_owner(&f.owner, task);
	f.owner.syscall_nr = nr;
	f.expires_ns = expires_ns;
	bpf_map_update_elem(&forcers, &fs_dev, &f, BPF_ANY);
	slot->fs_dev = fs_dev;
	slot->pid = expires_ns ? 0 : task->pid; /* sync(): its record expires */
	slot->tgid = task->tgid;
	slot->start_boottime_ns = start;
	slot->syscall_nr = nr;
	slot->tid = tid;
	slot->has_tid = has_tid;
	slot->pending_pid = task->pid;
	return 0;
}

/* The caller's fsync is over: if its request is still pending (it needed no
 * new commit, or waited for one already running), it must not be credited
 * with a later commit it did not ask for. */
static __always_inline int on_sync_file_exit(u32 fs_dev)
{
	u32 pid = bpf_get_current_pid_tgid();
	struct forcer_slot *slot = forcer_slot_of(fs_dev);

	if (slot && slot->fs_dev == fs_dev && slot->pending_pid == pid)
		slot->pending_pid = 0;
	return 0;
}

static __always_inline int on_sync_fs(struct super_block *sb)
{
	if (!sb)
		return 0;
	return note_forcer(BPF_CORE_READ(sb, s_dev),
			   bpf_ktime_get_ns() + DISKIDLE_SYNC_FS_FORCE_NS, false, 0);
}

/* In the journal thread: a commit starts. It is forced if a caller is
 * pending for this journal's filesystem; the latest such caller owns it. */
static __always_inline int on_commit_start(struct journal_s *journal)
{
	u32 pid = bpf_get_current_pid_tgid();
	struct forcer_slot *slot;
	struct forcer *f;
	struct owner o;
	u32 fs_dev, forcer_pid;
	s32 nr;

	if (!journal)
		return 0;
	fs_dev = BPF_CORE_READ(journal, j_fs_dev, bd_dev);
	slot = forcer_slot_of(fs_dev);
	if (!slot || slot->fs_dev != fs_dev || !slot->pending_pid) {
		bpf_map_delete_elem(&forced_commits, &pid); /* a periodic commit */
		return 0;
	}
	forcer_pid = slot->pending_pid;
	nr = slot->syscall_nr;
	slot->pending_pid = 0; /* this commit takes it */
	f = bpf_map_lookup_elem(&forcers, &fs_dev);
	/* The record must be the pending thread's (another thread may be
	 * replacing it right now) and, after sync(), not expired. */
	if (!f || f->owner.pid != forcer_pid ||
	    (f->expires_ns && bpf_ktime_get_ns() > f->expires_ns)) {
		bpf_map_delete_elem(&forced_commits, &pid);
		return 0;
	}
	o = f->owner;
	o.syscall_nr = nr;
	bpf_map_update_elem(&forced_commits, &pid, &o, BPF_ANY);
	return 0;
}

static __always_inline int on_commit_end(void)
{
	u32 pid = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&forced_commits, &pid);
	return 0;
}

/* Each hook as a BTF-typed tracepoint and as a raw_tp twin (the loader
 * picks the same mode as for block_bio_queue). The ext4_sync_file_* hooks run
 * on every fsync(), so their tp_btf programs read the filesystem's device
 * through the typed pointers (plain fault-checked loads, no helper call:
 * three bpf_probe_read_kernel() calls cost more than the rest of the hook);
 * the raw_tp twins need BPF_CORE_READ. The rare hooks use it in both. */

/* writeback_dirty_folio(struct folio *, struct address_space *): 5.17+ */
SEC("tp_btf/writeback_dirty_folio")
int wb_folio_btf(u64 *ctx)
{
	return note_dirtier((struct address_space *)ctx[1]);
}

SEC("raw_tp/writeback_dirty_folio")
int wb_folio_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return note_dirtier((struct address_space *)ctx->args[1]);
}

/* writeback_dirty_page(struct page *, struct address_space *): before 5.17 */
SEC("tp_btf/writeback_dirty_page")
int wb_page_btf(u64 *ctx)
{
	return note_dirtier((struct address_space *)ctx[1]);
}

SEC("raw_tp/writeback_dirty_page")
int wb_page_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return note_dirtier((struct address_space *)ctx->args[1]);
}

/* ext4_sync_file_enter(struct file *, int datasync) */
SEC("tp_btf/ext4_sync_file_enter")
int jf_sync_btf(u64 *ctx)
{
	struct file *file = (struct file *)ctx[0];
	struct inode *inode;
	bool has_tid;
	u32 tid = 0;

	if (!file)
		return 0;
	inode = file->f_inode;
	has_tid = fsync_tid(inode, inode->i_mode, (int)ctx[1], &tid);
	return note_forcer(inode->i_sb->s_dev, 0, has_tid, tid);
}

SEC("raw_tp/ext4_sync_file_enter")
int jf_sync_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct file *file = (struct file *)ctx->args[0];
	struct inode *inode;
	bool has_tid;
	u32 tid = 0;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	has_tid = fsync_tid(inode, BPF_CORE_READ(inode, i_mode), (int)ctx->args[1], &tid);
	return note_forcer(BPF_CORE_READ(inode, i_sb, s_dev), 0, has_tid, tid);
}

/* ext4_sync_file_exit(struct inode *, int ret) */
SEC("tp_btf/ext4_sync_file_exit")
int jf_sync_x_btf(u64 *ctx)
{
	struct inode *inode = (struct inode *)ctx[0];

	if (!inode)
		return 0;
	return on_sync_file_exit(inode->i_sb->s_dev);
}

SEC("raw_tp/ext4_sync_file_exit")
int jf_sync_x_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct inode *inode = (struct inode *)ctx->args[0];

	if (!inode)
		return 0;
	return on_sync_file_exit(BPF_CORE_READ(inode, i_sb, s_dev));
}

SEC("tp_btf/ext4_sync_fs")
int jf_syncfs_btf(u64 *ctx)
{
	return on_sync_fs((struct super_block *)ctx[0]);
}

SEC("raw_tp/ext4_sync_fs")
int jf_syncfs_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_sync_fs((struct super_block *)ctx->args[0]);
}

SEC("tp_btf/jbd2_start_commit")
int jf_start_btf(u64 *ctx)
{
	return on_commit_start((struct journal_s *)ctx[0]);
}

SEC("raw_tp/jbd2_start_commit")
int jf_start_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_commit_start((struct journal_s *)ctx->args[0]);
}

SEC("tp_btf/jbd2_end_commit")
int jf_end_btf(u64 *ctx)
{
	return on_commit_end();
}

SEC("raw_tp/jbd2_end_commit")
int jf_end_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_commit_end();
}

#endif /* DISKIDLE_OWNER_ATTRIBUTION_BPF_H */
