"""The container image, built from the Dockerfile with podman: it is small
(the runtime stage holds only the exporter, its libraries and CA certificates;
under MAX_IMAGE_BYTES); run with the least privilege the docs promise it
attributes a host process's fsync loop on a loop device to its pid and comm
(per-process view) and to its comm on that device (complete view), exactly; and
in its own network namespace it answers on 127.0.0.1:9436 inside that namespace
(the path `kubectl port-forward` takes) while nothing of it listens on the host.

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
# Issue 12: the node_exporter image is ~23 MB; ours was 216 MB on bookworm-slim.
MAX_IMAGE_BYTES = 60_000_000
# The least privilege of docs/kubernetes.md, nothing more: no fallback to
# --privileged or an unconfined seccomp profile (a test that could fall back
# would pass without proving the profile we ship).
LEAST_PRIVILEGE = ["--pid=host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                   "--read-only", "--cap-drop=ALL", "--cap-add=BPF", "--cap-add=PERFMON",
                   f"--security-opt=seccomp={SECCOMP_PROFILE}"]


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


def listening_sockets(net_dir, port=None):
    """Inodes of TCP sockets listening on `port` (None: any port) in the network
    namespace whose /proc/<pid>/net directory is `net_dir`."""
    inodes = set()
    for name in ("tcp", "tcp6"):
        with open(os.path.join(net_dir, name)) as f:
            next(f)
            for line in f:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if fields[3] == "0A" and port in (None, local_port):  # 0A: TCP_LISTEN
                    inodes.add(fields[9])
    return inodes


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def effective_caps(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))


class ContainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """Builds the image once for every test here."""
        cls.image_built = False
        if os.geteuid() != 0:
            return  # setUp fails each test with the reason
        ensure_base_image()
        started = time.time()
        sh("podman", "build", "--isolation=chroot", "--network=host", "--pull=never",
           "-t", IMAGE, SOURCE_DIR)
        cls.image_built = True
        cls.build_seconds = time.time() - started

    @classmethod
    def tearDownClass(cls):
        if cls.image_built:
            checked("podman", "rmi", IMAGE)

    def setUp(self):
        lib.require_privileges(self)
        for tool in ("podman", "runc", "nsenter", "curl"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found: apt-get install podman runc debootstrap "
                          "util-linux curl")
        self.assertTrue(self.image_built, "the image was not built")

    def test_image_holds_only_the_exporter_and_is_small(self):
        size = int(sh("podman", "image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
        print(f"\nimage {IMAGE}: {size / 1e6:.1f} MB, built in {self.build_seconds:.0f}s",
              flush=True)
        self.assertLess(size, MAX_IMAGE_BYTES,
                        f"the image is {size / 1e6:.1f} MB; the runtime stage must hold only the "
                        f"exporter, its shared libraries and CA certificates")
        labels = sh("podman", "image", "inspect", IMAGE, "--format",
                    "{{json .Labels}}").stdout
        self.assertIn("org.opencontainers.image.title", labels)
        # What is in it: export the file system and list it.
        name = f"diskidle-ctest-files-{os.getpid()}"
        sh("podman", "create", "--name", name, IMAGE)
        self.addCleanup(checked, "podman", "rm", "--ignore", "-f", name)
        listing = subprocess.run(f"podman export {name} | tar -t", shell=True, check=True,
                                 capture_output=True, text=True).stdout.split()
        files = [f for f in listing if not f.endswith("/")]
        self.assertIn("usr/bin/diskidle_exporter", files)
        self.assertIn("etc/ssl/certs/ca-certificates.crt", files)
        for forbidden in ("bin/sh", "usr/bin/apt-get", "usr/bin/dpkg"):
            self.assertNotIn(forbidden, files, "no shell or package manager in the image")
        others = [f for f in files if f not in ("usr/bin/diskidle_exporter",
                                                "etc/ssl/certs/ca-certificates.crt")
                  and "/lib" not in "/" + f and not f.startswith("lib")
                  and not f.startswith("etc/") and not f.startswith("run/")
                  and not f.startswith("dev/") and not f.startswith("proc/")
                  and not f.startswith("sys/")]
        self.assertEqual(others, [], "only the exporter, shared libraries and CA certificates")
        for lib_name in ("libcivetweb", "libprometheus-cpp-pull"):
            self.assertFalse([f for f in files if lib_name in f],
                             f"{lib_name} is not loaded at run time (the server is our own)")

    def start_container(self, port):
        """The least privilege of docs/kubernetes.md, nothing more."""
        self.assertTrue(host_can_grant_bpf_caps(),
                        "this host cannot grant CAP_BPF/CAP_PERFMON (Linux >= 5.8 and both in "
                        "the bounding set are needed); the image's least-privilege run cannot work")
        name = f"diskidle-ctest-{os.getpid()}"
        self.addCleanup(checked, "podman", "rm", "--ignore", "-f", "-t", "5", name)
        sh(*PODMAN_RUN, "-d", "--name", name, "--network=host", *LEAST_PRIVILEGE,
           IMAGE, f"--web.listen-address=127.0.0.1:{port}")
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

    def test_port_forward_path_in_its_own_network_namespace(self):
        """As in a pod without hostNetwork: the container has its own network
        namespace and the exporter its default listen address (:9436). A client
        in that namespace (what `kubectl port-forward` is: a connection to
        127.0.0.1 inside the pod) gets /healthz and /metrics; the host's own
        interfaces have no socket of the exporter listening."""
        self.assertTrue(host_can_grant_bpf_caps(), "CAP_BPF/CAP_PERFMON cannot be granted here")
        name = f"diskidle-ctest-netns-{os.getpid()}"
        self.addCleanup(checked, "podman", "rm", "--ignore", "-f", "-t", "5", name)
        # --network=none: a private network namespace with only loopback, the
        # part of a pod's namespace that port-forward uses. No -p: nothing published.
        sh(*PODMAN_RUN, "-d", "--name", name, "--network=none", *LEAST_PRIVILEGE, IMAGE)
        pid = int(sh("podman", "inspect", name, "--format", "{{.State.Pid}}").stdout)
        self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/net"), os.readlink("/proc/self/ns/net"),
                            "the container must have its own network namespace")

        def in_pod(path):
            return sh("nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-sS", "--max-time", "30",
                      "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:9436{path}",
                      check=False)

        deadline = time.time() + 60
        while True:
            result = in_pod("/healthz")
            if result.stdout.endswith("\n200"):
                break
            state = sh("podman", "inspect", name, "--format", "{{.State.Status}}", check=False)
            if state.stdout.strip() not in ("running", "created", "configured") or \
                    time.time() > deadline:
                logs = sh("podman", "logs", name, check=False)
                self.fail(f"/healthz never answered 200 on 127.0.0.1:9436 in the container's "
                          f"namespace ({result.stdout!r} {result.stderr!r}): {logs.stderr}")
            time.sleep(0.5)
        metrics = in_pod("/metrics")
        self.assertTrue(metrics.stdout.endswith("\n200"), metrics.stdout[-200:])
        samples = lib.parse_metrics(metrics.stdout.rsplit("\n", 1)[0])
        self.assertTrue(lib.series(samples, "diskidle_exporter_build_info"))
        self.assertTrue(lib.series(samples, "diskidle_bpf_map_capacity"),
                        "the BPF collector runs in the container")

        # The exporter's listening socket lives in the container's namespace...
        ours = socket_inodes(pid)
        in_container = listening_sockets(f"/proc/{pid}/net", 9436) & ours
        self.assertTrue(in_container, "the exporter listens on 9436 in its own namespace")
        # ...and none of its sockets listens in the host's, on any port.
        self.assertEqual(ours & listening_sockets("/proc/self/net"), set(),
                         "an exporter socket listens on the host's interfaces")
        print(f"port-forward path: 127.0.0.1:9436 in the container's namespace answered, "
              f"{len(samples)} samples; host listeners on 9436 from the exporter: none", flush=True)

if __name__ == "__main__":
    unittest.main()
