/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keeps a process table (process_key -> process_info, bio_stats.h) current
 * when a process renames itself, for the task_rename programs of
 * bio_stats.bpf.c and syscall_stats.bpf.c.
 *
 * task_rename fires in __set_task_comm() just before the copy, with the new
 * name as its argument: on exec() (by then the exec'ing thread has become the
 * group leader, with the leader's pid and start time), prctl(PR_SET_NAME) and
 * writes to /proc/<pid>/comm. Only the leader's name is the process's `comm`.
 * A process already in the table takes the new name at once, so the exporter
 * follows it even if the process's events keep their keys (`sh -c "exec
 * prog"`: the shell read, and so does the program); one not yet there is
 * named at its first event. Fires per rename, never per event.
 */
#ifndef DISKIDLE_PROCESS_RENAME_BPF_H
#define DISKIDLE_PROCESS_RENAME_BPF_H

static __always_inline void rename_in_table(void *table, u32 pid, u32 tgid,
					    u64 start_boottime_ns, const char *comm)
{
	struct process_key pkey = {
		.start_boottime_ns = start_boottime_ns,
		.tgid = tgid,
	};
	struct process_info info;

	if (pid != tgid || !bpf_map_lookup_elem(table, &pkey))
		return;
	/* A whole new value (BPF_EXIST): a reader never sees half a name. */
	bpf_probe_read_kernel_str(info.comm, sizeof(info.comm), comm);
	bpf_map_update_elem(table, &pkey, &info, BPF_EXIST);
}

#endif /* DISKIDLE_PROCESS_RENAME_BPF_H */
