"""The container image, built from the Dockerfile with podman and run with the
least privilege the docs promise, attributes a host process's fsync loop on a
loop device to its pid and comm (per-process view) and to its comm on that
device (complete view), exactly.

Recipe (PLATFORM.md): no registry here, so a debootstrapped bookworm minbase
(cached in /var/cache/diskidle-test/) is imported as debian:bookworm-slim;
`podman build --isolation=chroot --network=host --pull=never`; runc with the
cgroupfs manager. The container runs with --pid=host, --read-only, every
capability dropped but BPF and PERFMON, and the shipped seccomp profile
(deploy/seccomp/diskidle-exporter.json): podman's default profile refuses
bpf() without CAP_SYS_ADMIN, and running unconfined would not prove the
profile we ship.

Needs root, podman, runc, debootstrap (first run only) and network access to
deb.debian.org for apt inside the build.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "privileged"))
import diskidle_testlib as lib  # noqa: E402

SOURCE_DIR = os.environ.get("DISKIDLE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CACHE_DIR = "/var/cache/diskidle-test"
BASE_TARBALL = os.path.join(CACHE_DIR, "bookworm-minbase.tar")
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
# A tag of this run's own: other worktrees build their own images concurrently.
IMAGE = f"localhost/diskidle_exporter:ctest-{os.getpid()}"
SECCOMP_PROFILE = os.path.join(SOURCE_DIR, "deploy", "seccomp", "diskidle-exporter.json")
PODMAN_RUN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run"]
CAP_PERFMON, CAP_BPF = 38, 39


def sh(*cmd, timeout=1800, check=True):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def ensure_base_image():
    """Imports the cached debootstrap rootfs as debian:bookworm-slim (both stages)."""
    if sh("podman", "image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    if not os.path.exists(BASE_TARBALL):
        os.makedirs(CACHE_DIR, exist_ok=True)
        rootfs = tempfile.mkdtemp(prefix="rootfs.", dir=CACHE_DIR)
        try:
            sh("debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian")
            sh("tar", "-C", rootfs, "-cf", BASE_TARBALL + ".tmp", ".")
            os.rename(BASE_TARBALL + ".tmp", BASE_TARBALL)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
    sh("podman", "import", BASE_TARBALL, BASE_IMAGE)


def checked(*cmd, timeout=120):
    """Cleanup step: a failure (a container or image left behind) fails the test."""
    sh(*cmd, timeout=timeout)


def host_can_grant_bpf_caps():
    """CAP_BPF/CAP_PERFMON exist (Linux 5.8+) and are in our bounding set."""
    with open("/proc/self/status") as f:
        bounding = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return bool(bounding >> CAP_BPF & 1) and bool(bounding >> CAP_PERFMON & 1)


def effective_caps(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))


class ContainerTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        for tool in ("podman", "runc"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found: apt-get install podman runc debootstrap")

    def build_image(self):
        ensure_base_image()
        started = time.time()
        sh("podman", "build", "--isolation=chroot", "--network=host", "--pull=never",
           "-t", IMAGE, SOURCE_DIR)
        self.addCleanup(checked, "podman", "rmi", IMAGE)
        size = int(sh("podman", "image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
        base = int(sh("podman", "image", "inspect", BASE_IMAGE, "--format", "{{.Size}}").stdout)
        print(f"\nimage {IMAGE}: {size / 1e6:.1f} MB (base {base / 1e6:.1f} MB, "
              f"exporter layers {(size - base) / 1e6:.1f} MB), built in {time.time() - started:.0f}s",
              flush=True)
        labels = sh("podman", "image", "inspect", IMAGE, "--format",
                    "{{json .Labels}}").stdout
        self.assertIn("org.opencontainers.image.title", labels)

    def start_container(self, port):
        """The least privilege of docs/kubernetes.md, nothing more: no fallback to
        --privileged or an unconfined seccomp profile (a test that could fall back
        would pass without proving the profile we ship)."""
        self.assertTrue(host_can_grant_bpf_caps(),
                        "this host cannot grant CAP_BPF/CAP_PERFMON (Linux >= 5.8 and both in "
                        "the bounding set are needed); the image's least-privilege run cannot work")
        name = f"diskidle-ctest-{os.getpid()}"
        self.addCleanup(checked, "podman", "rm", "--ignore", "-f", "-t", "5", name)
        sh(*PODMAN_RUN, "-d", "--name", name, "--network=host", "--pid=host",
           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--read-only",
           "--cap-drop=ALL", "--cap-add=BPF", "--cap-add=PERFMON",
           f"--security-opt=seccomp={SECCOMP_PROFILE}",
           IMAGE, f"--listen_address=127.0.0.1:{port}")
        deadline = time.time() + 60
        while time.time() < deadline:
            state = sh("podman", "inspect", name, "--format", "{{.State.Status}}", check=False)
            if state.stdout.strip() not in ("running", "created", "configured"):
                logs = sh("podman", "logs", name, check=False)
                self.fail(f"container stopped ({state.stdout.strip()}): {logs.stdout}{logs.stderr}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return name
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        logs = sh("podman", "logs", name, check=False)
        self.fail(f"container not ready after 60s: {logs.stdout}{logs.stderr}")

    def test_image_attributes_host_fsync_loop_with_least_privilege(self):
        self.build_image()
        fs = lib.tmpfs_loop_filesystem(self, "ext4", size_mb=64)
        port = lib.free_port()
        name = self.start_container(port)

        pid = int(sh("podman", "inspect", name, "--format", "{{.State.Pid}}").stdout)
        self.assertEqual(effective_caps(pid), 1 << CAP_BPF | 1 << CAP_PERFMON,
                         "the exporter must hold exactly CAP_BPF and CAP_PERFMON")
        with open(f"/proc/{pid}/status") as f:
            seccomp = next(line.split()[1] for line in f if line.startswith("Seccomp:"))
        self.assertEqual(seccomp, "2", "the exporter runs under a seccomp filter")

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                return lib.parse_metrics(r.read().decode())

        n = 300
        gen = lib.IoGen(self, "fsync-loop", fs.path("data"), n, wait=True)
        want = {"syscall": "fsync", "op": "flush", "device": fs.name, "comm": gen.comm}
        # The set-up's own fsync may have flushed too: count from after it.
        before = scrape()
        gen.go()
        gen.wait_done(self)
        deadline = time.monotonic() + 30
        while True:
            samples = scrape()
            own = lib.series(samples, lib.PROCESS_ZERO_BYTE_BIOS, pid=gen.pid, **want)
            if (own and lib.process_delta(before, samples, pid=gen.pid, **want).zero_byte_bios
                    >= n) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertTrue(
            own, f"no zero-byte fsync flush for pid {gen.pid} ({gen.comm}) on {fs.name}; "
                 f"per-process series seen: {lib.series(samples, lib.PROCESS_BIOS)[:10]}")
        # Strict from here: a missing series fails, it never reads as 0.
        counted = lib.process_delta(before, samples, pid=gen.pid, **want)
        self.assertEqual(counted.zero_byte_bios, n,
                         "one zero-byte flush bio per fsync of the unchanged file, exactly")
        self.assertEqual(counted.bios, n, "no flush of another size")
        self.assertEqual(lib.complete_delta(before, samples, **want), counted,
                         "the complete view of the name on the disk counts the same bios")
        # The container read nothing wrong: the pid is the host's pid.
        self.assertTrue(os.path.exists(f"/proc/{gen.pid}"))
        print(f"container attributed {counted.zero_byte_bios:.0f} zero-byte flushes to pid "
              f"{gen.pid} comm {gen.comm} on {fs.name}", flush=True)

        # Shutdown under the same profile: SIGTERM, exit status 0.
        sh("podman", "stop", "-t", "10", name, timeout=60)
        state = sh("podman", "inspect", name, "--format",
                   "{{.State.Status}} {{.State.ExitCode}}").stdout.split()
        logs = sh("podman", "logs", name, check=False)
        self.assertEqual(state, ["exited", "0"],
                         f"the exporter must exit 0 on SIGTERM: {logs.stdout}{logs.stderr}")

if __name__ == "__main__":
    unittest.main()
