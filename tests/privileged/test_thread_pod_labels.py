"""The thread label and the Kubernetes labels (namespace, pod, container) of
the bio views, from a real exporter and real workloads (docs/metrics.md,
docs/kubernetes.md).

Threads: a process names one of its threads with prctl(PR_SET_NAME) and that
thread does the I/O; with `thread` in the label sets the series carry that
name, without it there is no thread label at all.

Pods are faked faithfully: the cgroups Kubernetes creates (containerd with the
systemd driver, CRI-O with the cgroupfs driver) are made in this machine's
cgroup2 hierarchy, the runtimes' config.json files with their annotations are
written into temp dirs configured as the state dirs, and a workload is moved
into each cgroup (its pid written to cgroup.procs) before it does O_DIRECT
writes, so its bios are exactly known. Every cgroup is removed on the way out,
also when the test fails."""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from diskidle_testlib import (EXPORTER, Exporter, IoGen, LoopFilesystem, complete_counts, process_counts,
                              require_privileges, series, total, wait_for, BIO)

N = 16  # O_DIRECT 4 KiB writes per workload: exactly N write bios

# A thread that names itself, then writes N blocks with O_DIRECT from its own
# context (and, given more names, renames itself and writes N more under each);
# the process is named too, so the comm is ours alone on the machine.
THREAD_WORKLOAD = r"""
import ctypes, mmap, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
libc.prctl(PR_SET_NAME, sys.argv[2].encode(), 0, 0, 0)
path, thread_name, n = sys.argv[1], sys.argv[3], int(sys.argv[4])
later_names = sys.argv[5:]
with open(path, "wb") as f:  # allocate first: the O_DIRECT writes are pure data
    f.write(b"\0" * 4096 * n)
    f.flush()
    os.fsync(f.fileno())
def work():
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    block = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
    block.write(b"x" * 4096)
    for name in [thread_name] + later_names:
        libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
        for i in range(n):
            assert os.pwrite(fd, block, i * 4096) == 4096
    os.close(fd)
t = threading.Thread(target=work)
t.start()
t.join()
print("done", flush=True)
"""


def cgroup2_mount():
    """The cgroup2 mount point, from /proc/self/mountinfo (field 5; the
    filesystem type follows the " - " separator)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    raise AssertionError("no cgroup2 mount in /proc/self/mountinfo")


class ThreadLabelTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4", size_mb=64)
        self.comm = f"dkthr{os.getpid() % 100000}"

    def run_workload(self, thread_name, *later_names):
        out = subprocess.run([sys.executable, "-c", THREAD_WORKLOAD, self.fs.path("t"),
                              self.comm, thread_name, str(N), *later_names],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_thread_named_by_prctl_is_the_label(self):
        thread = "wal-writer-7"
        exporter = Exporter(self, "collectors:\n  bio:\n"
                                  "    labels: [device, comm, thread, syscall, op]\n"
                                  "    process_labels: [device, pid, comm, thread, syscall, op]\n"
                                  "    exited_process_ttl: 1h\n")
        self.run_workload(thread)
        match = dict(device=self.fs.name, comm=self.comm, syscall="pwrite", op="write")
        # Housekeeping applies the counts within a second; poll for them.
        wait_for("the workload's writes", lambda: complete_counts(
            exporter.scrape(), absent_ok=True, **match).bios >= N)
        samples = exporter.scrape()
        self.assertEqual(complete_counts(samples, thread=thread, **match).bios, N)
        self.assertEqual(process_counts(samples, thread=thread, **match).bios, N)
        # The process's main thread did the buffered set-up, not these writes.
        self.assertEqual({labels.get("thread") for labels, _ in
                          series(samples, BIO + "_count", **match)}, {thread})

    def test_a_thread_that_renames_itself_counts_under_each_name(self):
        # Back-to-back bios of one thread hit the per-CPU cache, whose key holds
        # the thread name: a rename (prctl) must end that, or every later bio
        # stays under the first name.
        exporter = Exporter(self, "collectors:\n  bio:\n"
                                  "    labels: [device, comm, thread, syscall, op]\n"
                                  "    process_labels: [device, pid, comm, thread, syscall, op]\n"
                                  "    exited_process_ttl: 1h\n")
        names = ("phase-one", "phase-two", "phase-three")
        self.run_workload(*names)
        match = dict(device=self.fs.name, comm=self.comm, syscall="pwrite", op="write")
        wait_for("the workload's writes", lambda: complete_counts(
            exporter.scrape(), absent_ok=True, **match).bios >= len(names) * N)
        samples = exporter.scrape()
        for name in names:
            self.assertEqual(complete_counts(samples, absent_ok=True, thread=name, **match).bios, N,
                             f"{N} bios after the rename to {name}")
            self.assertEqual(process_counts(samples, absent_ok=True, thread=name, **match).bios, N,
                             name)

    def test_no_thread_label_unless_configured(self):
        exporter = Exporter(self, "collectors:\n  bio:\n    exited_process_ttl: 1h\n")
        self.run_workload("wal-writer-7")
        match = dict(device=self.fs.name, comm=self.comm, syscall="pwrite", op="write")
        wait_for("the workload's writes", lambda: complete_counts(
            exporter.scrape(), absent_ok=True, **match).bios >= N)
        samples = exporter.scrape()
        self.assertEqual(complete_counts(samples, **match).bios, N)
        labelled = [labels for _, labels, _ in samples if "thread" in labels]
        self.assertEqual(labelled, [], "a thread label without thread in the label sets")


class OpenWatch:
    """inotify IN_OPEN on one file: tells, without asking the exporter, that
    it has read the file."""

    IN_OPEN = 0x20

    def __init__(self, test, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, path.encode(), self.IN_OPEN) < 0:
            test.fail(f"inotify on {path}: {os.strerror(ctypes.get_errno())}")
        test.addCleanup(os.close, self.fd)

    def opened(self):
        try:
            return len(os.read(self.fd, 4096)) > 0
        except BlockingIOError:
            return False


def container_id():
    return uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like a runtime's


class PodLabelsTest(unittest.TestCase):
    """containerd + systemd driver, CRI-O + cgroupfs driver, a host process,
    and a pod cgroup removed before the scrape."""

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4", size_mb=64)
        self.root = cgroup2_mount()
        self.state = tempfile.mkdtemp(prefix="diskidle-runtime-state-")
        self.addCleanup(shutil.rmtree, self.state, ignore_errors=True)
        self.containerd_dir = os.path.join(self.state, "containerd")
        self.crio_dir = os.path.join(self.state, "crio")
        self.exporter = Exporter(
            self,
            "collectors:\n  bio:\n"
            "    labels: [device, namespace, pod, container, syscall, op]\n"
            "    process_labels: [device, namespace, pod, container, pid, comm, syscall, op]\n"
            "    exited_process_ttl: 1h\n"
            "kubernetes:\n"
            f"  containerd_state_dir: {self.containerd_dir}\n"
            f"  crio_state_dir: {self.crio_dir}\n"
            # One entry: the resolver's LRU forgets all but the latest cgroup,
            # so labels that survive a cgroup's removal are the exporter's
            # own, fixed at first sight, not a lucky cache hit.
            "  cgroup_cache_entries: 1\n")

    def make_cgroup(self, relative):
        """Creates each missing level of `relative` under the cgroup2 root;
        cleanup removes them deepest first (rmdir fails while a process is in
        one: workloads are cleaned up before, as cleanups run in reverse)."""
        path = self.root
        for part in relative.split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.addCleanup(self.remove_cgroup, path)
        return path

    @staticmethod
    def remove_cgroup(path):
        # A process that has just exited leaves its cgroup a moment later.
        deadline = time.monotonic() + 10
        while os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def write_state(self, runtime, cid, namespace, pod, container):
        if runtime == "containerd":
            directory = os.path.join(self.containerd_dir, cid)
            annotations = {"io.kubernetes.cri.container-type": "container",
                           "io.kubernetes.cri.sandbox-namespace": namespace,
                           "io.kubernetes.cri.sandbox-name": pod,
                           "io.kubernetes.cri.container-name": container}
        else:
            directory = os.path.join(self.crio_dir, cid, "userdata")
            annotations = {"io.kubernetes.pod.namespace": namespace,
                           "io.kubernetes.pod.name": pod,
                           "io.kubernetes.container.name": container}
        os.makedirs(directory)
        path = os.path.join(directory, "config.json")
        with open(path, "w") as f:
            json.dump({"ociVersion": "1.0.2", "annotations": annotations}, f)
        return path

    def workload_in(self, cgroup, name):
        """An O_DIRECT writer moved into `cgroup` before it writes."""
        gen = IoGen(self, "direct-pwrite", self.fs.path(name), N, wait=True)
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(gen.pid))
        gen.go()
        self.assertEqual(gen.wait_done(self), N)
        return gen

    def pod_writes(self, samples, **labels):
        return complete_counts(samples, absent_ok=True, device=self.fs.name, syscall="pwrite",
                               op="write", **labels).bios

    def test_pods_of_both_runtimes_a_host_process_and_a_deleted_cgroup(self):
        tag = uuid.uuid4().hex[:8]
        uid1, uid2, uid3 = (str(uuid.uuid4()) for _ in range(3))
        cid1, cid2, cid3 = container_id(), container_id(), container_id()
        # containerd, systemd driver (burstable QoS).
        cg1 = self.make_cgroup(
            f"kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{uid1.replace('-', '_')}.slice/cri-containerd-{cid1}.scope")
        self.write_state("containerd", cid1, f"shop-{tag}", "web-7d9f8-x2x4q", "nginx")
        # CRI-O, cgroupfs driver (best effort QoS).
        cg2 = self.make_cgroup(f"kubepods/besteffort/pod{uid2}/crio-{cid2}")
        self.write_state("crio", cid2, f"batch-{tag}", "report-28391-abcde", "reporter")
        # A short-lived pod (a Job), deleted before its series is looked at.
        cg3 = self.make_cgroup(f"kubepods/besteffort/pod{uid3}/crio-{cid3}")
        job_state = self.write_state("crio", cid3, f"jobs-{tag}", "cleanup-1-zz9", "cleaner")

        # The short-lived pod first: it writes, exits, and its cgroup is
        # removed before anything is scraped. The exporter resolves a new
        # cgroup in its housekeeping pass (every second), which reads the
        # runtime's config.json: that read, seen through inotify, is when the
        # cgroup may go. (A scrape would resolve nothing; none happens here.)
        watch = OpenWatch(self, job_state)
        job = self.workload_in(cg3, "job")
        self.assertEqual(job.finish(), 0)
        wait_for("the exporter to read the job's config.json", watch.opened)
        self.remove_cgroup(cg3)

        web = self.workload_in(cg1, "web")
        report = self.workload_in(cg2, "report")
        host = IoGen(self, "direct-pwrite", self.fs.path("host"), N, wait=True)
        host.go()
        self.assertEqual(host.wait_done(self), N)
        wait_for("the web and report pods' writes", lambda: (
            lambda s: self.pod_writes(s, pod="web-7d9f8-x2x4q") >= N
            and self.pod_writes(s, pod="report-28391-abcde") >= N)(self.exporter.scrape()))
        samples = self.exporter.scrape()

        self.assertEqual(self.pod_writes(samples, namespace=f"shop-{tag}", pod="web-7d9f8-x2x4q",
                                         container="nginx"), N)
        self.assertEqual(self.pod_writes(samples, namespace=f"batch-{tag}",
                                         pod="report-28391-abcde", container="reporter"), N)
        self.assertEqual(self.pod_writes(samples, namespace=f"jobs-{tag}", pod="cleanup-1-zz9",
                                         container="cleaner"), N)
        # The per-process view carries the same labels next to the pid.
        self.assertEqual(process_counts(samples, pid=web.pid, namespace=f"shop-{tag}",
                                        pod="web-7d9f8-x2x4q", container="nginx",
                                        device=self.fs.name, op="write").bios, N)
        # The host process: no Kubernetes labels at all.
        own = series(samples, "diskidle_process_bios_total", pid=host.pid, device=self.fs.name,
                     op="write")
        self.assertTrue(own, "no series of the host process")
        for labels, _ in own:
            self.assertFalse({"namespace", "pod", "container"} & set(labels), labels)
        # Every write on the disk is one of the four workloads': N each.
        self.assertEqual(self.pod_writes(samples), 4 * N)
        # The misses counter exists (what it counts depends on the node).
        total(samples, "diskidle_cgroup_resolve_misses_total")
        for gen in (web, report, host):
            self.assertEqual(gen.finish(), 0)

    def test_writeback_after_the_jobs_cgroup_is_gone_keeps_its_labels(self):
        # A Job dirties pages through the page cache and finishes; the runtime
        # deletes its cgroup before the flusher writes the pages back (30 s
        # later on a real node; here `sync` after the removal). The exporter
        # must have looked the labels up while the pages were being dirtied,
        # when no bio of the Job had come yet: seen through inotify, as in
        # the test above.
        tag = uuid.uuid4().hex[:8]
        uid, cid = str(uuid.uuid4()), container_id()
        cgroup = self.make_cgroup(f"kubepods/besteffort/pod{uid}/crio-{cid}")
        state = self.write_state("crio", cid, f"jobs-{tag}", "export-28391-q7x", "exporter-job")
        watch = OpenWatch(self, state)
        dirty_mb = 8
        # Written and synced beforehand, so that the Job's overwrite needs no
        # read and no allocation: it sends no bio of its own, whose count would
        # make the exporter look its cgroup up anyway.
        path = self.fs.path("export")
        with open(path, "wb") as f:
            f.write(b"\0" * dirty_mb * 1024 * 1024)
            os.fsync(f.fileno())
        # The shell moves itself into the cgroup, then becomes dd: every page
        # is dirtied inside it.
        job = subprocess.Popen(["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec dd if=/dev/zero '
                                f'of="$2" bs=1M count={dirty_mb} conv=notrunc status=none',
                                "sh", cgroup, path])
        self.assertEqual(job.wait(timeout=60), 0)
        wait_for("the exporter to read the job's config.json", watch.opened)
        self.remove_cgroup(cgroup)
        subprocess.run(["sync"], check=True)  # another process; the flusher writes
        labels = dict(device=self.fs.name, syscall="writeback", op="write", namespace=f"jobs-{tag}",
                      pod="export-28391-q7x", container="exporter-job")
        wait_for("the job's writeback under its pod labels", lambda: complete_counts(
            self.exporter.scrape(), absent_ok=True, **labels).bytes >= dirty_mb * 1024 * 1024)
        samples = self.exporter.scrape()
        self.assertEqual(complete_counts(samples, **labels).bytes, dirty_mb * 1024 * 1024)
        self.assertEqual(process_counts(samples, pid=job.pid, comm="dd", **labels).bytes,
                         dirty_mb * 1024 * 1024)


class PodLabelsStartUpTest(unittest.TestCase):
    def test_a_cgroup2_mount_that_is_not_one_is_one_fatal_line(self):
        require_privileges(self)
        directory = tempfile.mkdtemp(prefix="diskidle-not-cgroup-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        config = os.path.join(directory, "config.yaml")
        with open(config, "w") as f:
            f.write("collectors:\n  bio:\n    labels: [device, pod]\n"
                    f"kubernetes:\n  cgroup2_mount: {directory}\n")
        result = subprocess.run([EXPORTER, f"--config.file={config}",
                                 "--web.listen-address=127.0.0.1:0"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1, result.stderr)
        fatal = [line for line in result.stderr.splitlines()
                 if line.startswith("diskidle_exporter: ")]
        self.assertEqual(len(fatal), 1, result.stderr)
        self.assertIn("kubernetes: ", fatal[0])
        self.assertIn(directory, fatal[0])
        # Nothing was loaded: the resolver is made before the BPF program.
        self.assertNotIn("BPF program attached", result.stderr)


if __name__ == "__main__":
    unittest.main()
