"""The container image, built from the Dockerfile with podman and run with the
least privilege the docs promise, attributes a host process's fsync loop on a
loop device to its pid and comm.

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
IMAGE = "localhost/diskidle_exporter:ctest"
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
        size = int(sh("podman", "image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
        base = int(sh("podman", "image", "inspect", BASE_IMAGE, "--format", "{{.Size}}").stdout)
        print(f"\nimage {IMAGE}: {size / 1e6:.1f} MB (base {base / 1e6:.1f} MB, "
              f"exporter layers {(size - base) / 1e6:.1f} MB), built in {time.time() - started:.0f}s",
              flush=True)
        labels = sh("podman", "image", "inspect", IMAGE, "--format",
                    "{{json .Labels}}").stdout
        self.assertIn("org.opencontainers.image.title", labels)

    def start_container(self, port):
        name = f"diskidle-ctest-{os.getpid()}"
        self.addCleanup(sh, "podman", "rm", "-f", "-t", "5", name, check=False)
        if host_can_grant_bpf_caps():
            privileges = ["--cap-drop=ALL", "--cap-add=BPF", "--cap-add=PERFMON",
                          f"--security-opt=seccomp={SECCOMP_PROFILE}"]
            print("running with --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON "
                  "and the shipped seccomp profile", flush=True)
        else:
            privileges = ["--privileged"]
            print("WARNING: this kernel cannot grant CAP_BPF/CAP_PERFMON: FALLING BACK TO "
                  "--privileged", flush=True)
        sh(*PODMAN_RUN, "-d", "--name", name, "--network=host", "--pid=host",
           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--read-only",
           *privileges, IMAGE, f"--listen_address=127.0.0.1:{port}")
        deadline = time.time() + 60
        while time.time() < deadline:
            state = sh("podman", "inspect", name, "--format", "{{.State.Status}}", check=False)
            if state.stdout.strip() not in ("running", "created", "configured"):
                logs = sh("podman", "logs", name, check=False)
                self.fail(f"container stopped ({state.stdout.strip()}): {logs.stdout}{logs.stderr}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return name, privileges
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        logs = sh("podman", "logs", name, check=False)
        self.fail(f"container not ready after 60s: {logs.stdout}{logs.stderr}")

    def test_image_attributes_host_fsync_loop_with_least_privilege(self):
        self.build_image()
        fs = lib.LoopFilesystem(self, "ext4", size_mb=256)
        port = lib.free_port()
        name, privileges = self.start_container(port)

        if "--privileged" not in privileges:
            pid = int(sh("podman", "inspect", name, "--format", "{{.State.Pid}}").stdout)
            self.assertEqual(effective_caps(pid), 1 << CAP_BPF | 1 << CAP_PERFMON,
                             "the exporter must hold exactly CAP_BPF and CAP_PERFMON")

        gen = lib.IoGen(self, "fsync-loop", fs.path("data"), 300)
        gen.wait_done(self)
        want = {"le": "0", "syscall": "fsync", "op": "flush", "device": fs.name,
                "comm": gen.comm, "pid": str(gen.pid)}
        deadline = time.time() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                samples = lib.parse_metrics(r.read().decode())
            flushes = lib.total(samples, "diskidle_bio_size_bytes_bucket", **want)
            if flushes > 0 or time.time() > deadline:
                break
            time.sleep(1)
        self.assertGreater(
            flushes, 0,
            f"no zero-byte fsync flush for pid {gen.pid} ({gen.comm}) on {fs.name}; bio series "
            f"seen: {lib.series(samples, 'diskidle_bio_size_bytes_count')[:10]}")
        # The container read nothing wrong: the pid is the host's pid.
        self.assertTrue(os.path.exists(f"/proc/{gen.pid}"))
        print(f"container attributed {flushes:.0f} zero-byte flushes to pid {gen.pid} "
              f"comm {gen.comm} on {fs.name}", flush=True)


if __name__ == "__main__":
    unittest.main()
