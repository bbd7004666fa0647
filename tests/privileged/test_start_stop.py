"""Start and stop, as an operator meets them: a bad config, a busy port or
missing privileges give one clear line on stderr, exit status 1 and nothing
left in the kernel; --check_config, --version and --help do what they say;
SIGTERM and SIGINT detach and exit 0 promptly; SIGHUP applies the reloadable
settings and keeps (with a warning) the ones that need a restart. Every
exporter this file starts must exit 0 when it is stopped."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

from diskidle_testlib import (BIO, COMPLETE_LABELS, EXPORTER, PROCESS_BIOS, PROCESS_LABELS,
                              Exporter, IoGen, complete_counts, free_port, loaded_programs,
                              parse_metrics, process_counts, programs_held_by,
                              programs_held_by_live_processes, require_privileges, series,
                              tmpfs_loop_filesystem)

EXIT_FATAL = 1  # exporter/main.cc kExitFatal
SOURCE_DIR = os.environ.get("DISKIDLE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PREFIX = "diskidle_exporter: "
UNKNOWN_BIO_KEY = ("unknown key; expected one of enabled, attach, writeback_attribution, "
                   "journal_attribution, size_buckets_bytes, labels, max_processes, "
                   "process_labels, process_histogram, exited_process_ttl, max_comms, "
                   "max_threads, bio_map_entries, process_map_entries, dirtier_map_entries")
BUCKETS_EXPECTED = ("expected a list of increasing byte sizes, each 0 (first only) or a power of "
                    "two up to 4294967296, e.g. [0, 512, 4096]")


def shutdown_bound_seconds():
    """How soon after SIGTERM the exporter must be gone: half the grace period
    the shipped DaemonSet gives it before the kubelet's SIGKILL. That leaves a
    busy node (CPU steal, a scrape in flight) room for a correct but slow exit,
    and still fails a shutdown that waits for a timeout or a stuck thread."""
    with open(os.path.join(SOURCE_DIR, "deploy", "kubernetes", "daemonset.yaml")) as f:
        grace = yaml.safe_load(f)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    return grace / 2


def kill_if_running(proc):
    """Last-resort cleanup for a test that failed before its own checked stop."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class StartStopTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.dir = tempfile.mkdtemp(prefix="diskidle-startstop-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.chmod(self.dir, 0o755)  # the unprivileged run reads its config here

    def write_config(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def run_exporter(self, *args, prefix=(), exporter=EXPORTER, timeout=20):
        """Runs the exporter to its end (it is expected to exit by itself)."""
        cmd = [*prefix, exporter, *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{cmd} did not exit within {timeout}s (stderr so far: {e.stderr!r})")

    def assert_fatal_line(self, result, expected=None, contains=()):
        """Exit status 1, nothing on stdout, exactly one stderr line with our prefix."""
        self.assertEqual(result.returncode, EXIT_FATAL, f"stderr: {result.stderr!r}")
        self.assertEqual(result.stdout, "", "nothing on stdout for a start-up error")
        lines = result.stderr.splitlines()
        fatal = [line for line in lines if line.startswith(PREFIX)]
        self.assertEqual(len(fatal), 1, f"one error line expected: {result.stderr!r}")
        if expected is not None:
            self.assertEqual(fatal[0], PREFIX + expected)
        for word in contains:
            self.assertIn(word, fatal[0])
        return fatal[0]

    def stop_and_assert_exit_0(self, proc, log_path):
        """SIGTERM, then the exit status must be 0 within the shutdown bound.
        Returns how long the exit took."""
        bound = shutdown_bound_seconds()
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            with open(log_path) as f:
                self.fail(f"exporter still running {bound:.1f}s after SIGTERM (killed): {f.read()}")
        elapsed = time.monotonic() - start
        with open(log_path) as f:
            self.assertEqual(status, 0, f"exit status after SIGTERM; log: {f.read()}")
        return elapsed

    def stop_exporter(self, exporter):
        """Stops an Exporter fixture, asserting exit status 0."""
        self.stop_and_assert_exit_0(exporter.proc, exporter.log_path)

    def assert_no_program_left(self, before):
        """No new program of ours that no live process holds (a leak) after the run.
        Program ids are never reused, so `before` tells pre-existing ones apart."""
        deadline = time.time() + 2  # the kernel frees detached programs after an RCU grace period
        while True:
            new = {i: n for i, n in loaded_programs().items() if i not in before}
            leaked = {i: n for i, n in new.items() if i not in programs_held_by_live_processes()}
            if not leaked or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(leaked, {}, "BPF programs left loaded with no process holding them")

    # --- bad config files ---

    def bad_config(self, text):
        path = self.write_config("bad.yaml", text)
        before = loaded_programs()
        result = self.run_exporter(f"--config={path}", f"--listen_address=127.0.0.1:{free_port()}")
        self.assert_no_program_left(before)
        return path, result

    def test_unknown_key_is_one_exact_line_and_exit_1(self):
        path, result = self.bad_config("collectors:\n  bio:\n    max_processes: 50\n    bogus: 1\n")
        self.assert_fatal_line(result, f"{path} line 4: collectors.bio.bogus: {UNKNOWN_BIO_KEY}")

    def test_wrong_type_is_one_exact_line_and_exit_1(self):
        path, result = self.bad_config("collectors:\n  bio:\n    max_processes: fifty\n")
        self.assert_fatal_line(result, f'{path} line 3: collectors.bio.max_processes: expected an '
                                       f'integer from 0 to 1000000, got "fifty"')

    def test_bad_regex_is_one_line_naming_key_and_exit_1(self):
        path, result = self.bad_config(
            "collectors:\n  diskstats:\n    device_include: 'loop[0-9'\n")
        line = self.assert_fatal_line(result)
        # The tail is libstdc++'s own explanation of the regex error.
        self.assertTrue(line.startswith(
            f'{PREFIX}{path} line 3: collectors.diskstats.device_include: expected a regular '
            f'expression (ECMAScript syntax), got "loop[0-9": '), line)

    def test_non_power_of_two_bucket_is_one_exact_line_and_exit_1(self):
        path, result = self.bad_config(
            "collectors:\n  bio:\n    size_buckets_bytes: [0, 512, 1000]\n")
        self.assert_fatal_line(result, f"{path} line 3: collectors.bio.size_buckets_bytes[2]: "
                                       f"{BUCKETS_EXPECTED}; 1000 is not a power of two (sizes "
                                       f"are counted in log2 buckets)")

    def test_bad_duration_is_one_line_naming_key_and_exit_1(self):
        path, result = self.bad_config("collectors:\n  bio:\n    exited_process_ttl: 5 minutes\n")
        self.assert_fatal_line(result, contains=(f"{path} line 3:", '"5 minutes"',
                                                 "collectors.bio.exited_process_ttl"))

    def test_missing_config_file_is_one_line_and_exit_1(self):
        path = os.path.join(self.dir, "absent.yaml")
        result = self.run_exporter(f"--config={path}", f"--listen_address=127.0.0.1:{free_port()}")
        self.assert_fatal_line(result, contains=(path,))

    # --- informational flags ---

    def test_check_config_prints_the_effective_yaml_and_exits_0(self):
        path = self.write_config("ok.yaml", "collectors:\n  bio:\n    exited_process_ttl: 2s\n"
                                            "    max_processes: 50\n")
        result = self.run_exporter(f"--config={path}", "--check_config")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        lines = result.stdout.splitlines()
        # Block YAML, nested by two spaces: collectors > bio > keys.
        self.assertIn("collectors:", lines)
        self.assertIn("  bio:", lines)
        self.assertIn("    exited_process_ttl: 2s", lines)
        self.assertIn("    max_processes: 50", lines)
        self.assertIn("    max_comms: 500", lines, "keys left out keep their defaults")
        self.assertIn("  listen_address: ':9436'", lines)
        self.assertIn("  telemetry_path: '/metrics'", lines)
        # What it printed is itself a valid config that means the same.
        again = self.run_exporter(f"--config={self.write_config('again.yaml', result.stdout)}",
                                  "--check_config")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, result.stdout)

    def test_check_config_rejects_a_bad_config_with_exit_1(self):
        path = self.write_config("bad.yaml", "collectors:\n  bio:\n    max_processes: fifty\n")
        result = self.run_exporter(f"--config={path}", "--check_config")
        self.assert_fatal_line(result, contains=("collectors.bio.max_processes",))

    def test_check_config_refuses_the_paths_start_up_refuses(self):
        # The same line as start-up (test_a_missing_proc_or_sys_root_names_the_setting),
        # and no privileges needed to say so.
        cases = (("paths:\n  procfs: /nonexistent\n",
                  "paths.procfs: /nonexistent is not a directory (in a container, mount the "
                  "host's /proc there and point paths.procfs at it)"),
                 ("paths:\n  sysfs: /tmp\n",
                  "kernel BTF not found at /tmp/kernel/btf/vmlinux: check paths.sysfs (it must "
                  "be the host's /sys; the kernel also needs CONFIG_DEBUG_INFO_BTF=y, Linux "
                  "5.15+)"))
        for text, expected in cases:
            path = self.write_config("paths.yaml", text)
            for prefix in ((), ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")):
                with self.subTest(config=text, prefix=prefix):
                    self.assert_fatal_line(self.run_exporter(f"--config={path}", "--check_config",
                                                             prefix=prefix), expected)
                    started = self.run_exporter(f"--config={path}",
                                                f"--listen_address=127.0.0.1:{free_port()}",
                                                prefix=prefix)
                    self.assert_fatal_line(started, expected)
                    self.assertNotIn("listening on", started.stderr)

    def test_version_exits_0_and_matches_build_info(self):
        result = self.run_exporter("--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        words = result.stdout.split()
        self.assertEqual(len(words), 2, result.stdout)
        self.assertEqual(words[0], "diskidle_exporter")
        exporter = Exporter(self)
        build_info = [labels for name, labels, _ in exporter.scrape()
                      if name == "diskidle_exporter_build_info"]
        self.assertEqual(len(build_info), 1)
        self.assertEqual(build_info[0]["version"], words[1])
        self.stop_exporter(exporter)

    def test_help_exits_0_and_describes_the_flags(self):
        result = self.run_exporter("--help")
        for flag in ("--config.file", "--web.listen-address", "--web.config.file",
                     "--web.telemetry-path", "--log.level", "--log.format", "--check_config"):
            self.assertIn(flag, result.stdout + result.stderr)
        # The older names still work (test_ecosystem_and_old_flag_names...) but are not advertised.
        for old in ("--config ", "--config=", "--listen_address", "--web_config_file"):
            self.assertNotIn(old, result.stdout + result.stderr)
        # Asking for help is not an error: scripts and packagers run `--help` and check $?.
        self.assertEqual(result.returncode, 0,
                         "--help must exit 0 (abseil's default for --help is exit status 1)")

    def serve_with(self, names, port, web_config, config, telemetry_flag=()):
        """Starts the exporter with the listen address, web config and config file
        given under `names` (new or old spellings); returns the process and its log."""
        log_path = os.path.join(self.dir, f"exporter-{port}.log")
        log = open(log_path, "w")
        self.addCleanup(log.close)
        listen, web, conf = names
        proc = subprocess.Popen(
            [EXPORTER, f"{listen}=127.0.0.1:{port}", f"{web}={web_config}", conf, config,
             *telemetry_flag, "--log.level=debug", "--log.format=json"],
            stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(kill_if_running, proc)
        return proc, log_path

    def get(self, port, path, auth=None):
        """Status code of GET path, with basic auth `auth` (user, password) if given."""
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        if auth:
            import base64
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def wait_healthy(self, proc, port, log_path):
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                with open(log_path) as f:
                    self.fail(f"exporter exited with {proc.returncode}: {f.read()}")
            try:
                if self.get(port, "/healthz")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        with open(log_path) as f:
            self.fail(f"exporter not ready after 30s: {f.read()}")

    def test_ecosystem_and_old_flag_names_serve_alike(self):
        """--web.listen-address, --web.config.file, --config.file (exporter-toolkit
        names) and --listen_address, --web_config_file, --config (this exporter's
        older names) start the same exporter: listening where told, behind the web
        config's basic auth, with the config file's settings applied."""
        if shutil.which("htpasswd") is None:
            self.fail("htpasswd not found: apt-get install apache2-utils")
        line = subprocess.run(["htpasswd", "-nbBC", "10", "scraper", "s3cret"],
                              capture_output=True, text=True, check=True).stdout.strip()
        web_config = self.write_config("web.yml", "basic_auth_users:\n  scraper: '%s'\n"
                                       % line.partition(":")[2])
        # A setting whose effect is visible in a scrape: diskstats of one device only.
        with open("/proc/diskstats") as f:
            device = f.readline().split()[2]
        config = self.write_config("c.yaml", "collectors:\n  bio:\n    enabled: false\n"
                                   f"  diskstats:\n    device_include: '^{device}$'\n"
                                   "    device_exclude: ''\n")
        cases = {
            "new": (("--web.listen-address", "--web.config.file", "--config.file"),
                    ("--web.telemetry-path=/custom-metrics",), "/custom-metrics"),
            "old": (("--listen_address", "--web_config_file", "--config"), (), "/metrics"),
        }
        for spelling, (names, extra, path) in cases.items():
            with self.subTest(spelling):
                port = free_port()
                proc, log_path = self.serve_with(names, port, web_config, config, extra)
                self.wait_healthy(proc, port, log_path)
                self.assertEqual(self.get(port, path)[0], 401, "the web config's basic auth applies")
                status, body = self.get(port, path, auth=("scraper", "s3cret"))
                self.assertEqual(status, 200)
                devices = {labels.get("device") for name, labels, _ in parse_metrics(body)
                           if name.startswith("diskidle_disk_")} - {None}
                self.assertEqual(devices, {device}, "the config file's device_include applies")
                self.assertFalse(any(name.startswith("diskidle_bio_")
                                     for name, _, _ in parse_metrics(body)))
                if path != "/metrics":
                    self.assertEqual(self.get(port, "/metrics", auth=("scraper", "s3cret"))[0],
                                     404, "--web.telemetry-path moves the metrics")
                self.stop_and_assert_exit_0(proc, log_path)
                # --log.format=json --log.level=debug: every line one JSON object
                # with ts, level and msg, and the debug line is there.
                with open(log_path) as f:
                    lines = [json.loads(l) for l in f.read().splitlines()]
                self.assertTrue(lines)
                for entry in lines:
                    self.assertEqual(set(entry), {"ts", "level", "msg"}, entry)
                self.assertIn("debug", {e["level"] for e in lines})

    def test_conflicting_flag_spellings_are_one_line_and_exit_1(self):
        result = self.run_exporter(f"--listen_address=127.0.0.1:{free_port()}",
                                   "--web.listen-address=127.0.0.1:1")
        self.assert_fatal_line(result, contains=("--listen_address=", "--web.listen-address=",
                                                 "conflict"))

    def test_json_log_format_makes_start_up_errors_json_too(self):
        result = self.run_exporter("--log.format=json",
                                   f"--config.file={os.path.join(self.dir, 'missing.yaml')}")
        self.assertEqual(result.returncode, EXIT_FATAL)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        entry = json.loads(lines[0])
        self.assertEqual(entry["level"], "error")
        self.assertIn("missing.yaml", entry["msg"])

    def test_log_level_filters_and_rejects_unknown_levels(self):
        # Filters: at "error" a clean start and stop log nothing (at the default
        # "info" they log "listening on ...", "BPF program attached", ...).
        quiet = Exporter(self, extra_args=("--log.level=error",))
        self.stop_exporter(quiet)
        self.assertEqual(quiet.read_log(), "")
        chatty = Exporter(self)
        self.stop_exporter(chatty)
        self.assertIn("level=info", chatty.read_log())
        self.assert_fatal_line(self.run_exporter("--log.level=verbose"),
                               contains=("--log.level",))
        self.assert_fatal_line(self.run_exporter("--log.format=text"), contains=("--log.format",))

    def test_flag_mistakes_are_one_exact_line_and_exit_1(self):
        """Mistakes on the command line each get one line of ours (never
        abseil's own multi-line or unprefixed output) and start nothing."""
        port = f"--web.listen-address=127.0.0.1:{free_port()}"
        before = loaded_programs()
        cases = [
            (("--web.listen-adress=:1", port),
             "unknown flag --web.listen-adress (see --help for the flags there are)"),
            # Would otherwise mean plain HTTP without auth, silently.
            (("--web.config.file=", port),
             "--web.config.file: empty value; leave the flag out for its default"),
            (("--check_config", "--check_config=false", port),
             "--check_config given twice with different values: give it once"),
            (("--flagfile=/etc/passwd", port),
             "--flagfile is not supported: give flags on the command line, settings in "
             "--config.file"),
        ]
        for args, expected in cases:
            with self.subTest(args=args):
                self.assert_fatal_line(self.run_exporter(*args), expected)
        self.assert_no_program_left(before)

    def test_a_missing_proc_or_sys_root_names_the_setting(self):
        for key, host in (("procfs", "/proc"), ("sysfs", "/sys")):
            with self.subTest(key=key):
                _, result = self.bad_config(f"paths:\n  {key}: /nonexistent/{key}\n")
                self.assert_fatal_line(
                    result, f"paths.{key}: /nonexistent/{key} is not a directory (in a "
                            f"container, mount the host's {host} there and point paths.{key} "
                            f"at it)")

    def test_listening_is_logged_only_once_start_up_cannot_fail(self):
        # The pod resolver fails after the port is bound: no "listening on" line.
        _, result = self.bad_config("collectors:\n  bio:\n    labels: [device, pod]\n"
                                    f"kubernetes:\n  cgroup2_mount: {self.dir}\n")
        self.assert_fatal_line(result, contains=(
            f"set kubernetes.cgroup2_mount to the cgroup2 mount (on hybrid nodes "
            f"{self.dir}/unified)",))
        self.assertNotIn("listening on", result.stderr)
        # A good start logs it after the programs are attached.
        exporter = Exporter(self)
        self.stop_exporter(exporter)
        log = exporter.read_log()
        self.assertIn("listening on", log)
        self.assertLess(log.index("BPF program attached"), log.index("listening on"), log)

    def test_a_proc_root_that_is_not_a_procfs_names_the_setting(self):
        # An empty mount point: a directory, but no procfs mounted on it.
        empty = os.path.join(self.dir, "proc")
        os.mkdir(empty)
        _, result = self.bad_config(f"paths:\n  procfs: {empty}\n")
        self.assert_fatal_line(
            result, f"paths.procfs: {empty} has no stat file, so it is not a procfs (in a "
                    "container, mount the host's /proc there and point paths.procfs at it)")

    def test_a_fifo_or_device_as_config_file_is_one_line_not_a_hang(self):
        fifo = os.path.join(self.dir, "config.fifo")
        os.mkfifo(fifo)
        for flag, path, kind, what in (("--config.file", fifo, "a named pipe (FIFO)", "config file"),
                                       ("--web.config.file", fifo, "a named pipe (FIFO)",
                                        "web config file"),
                                       ("--config.file", "/dev/zero", "a character device",
                                        "config file")):
            with self.subTest(flag=flag, path=path):
                result = self.run_exporter(f"{flag}={path}", "--check_config", timeout=10)
                self.assert_fatal_line(
                    result, f"{what}: {path} is {kind}, not a regular file: give a file's path")

    def test_stray_argument_is_one_line_and_exit_1(self):
        result = self.run_exporter("extra", f"--listen_address=127.0.0.1:{free_port()}")
        self.assert_fatal_line(result, contains=('"extra"',))

    # --- environment problems ---

    def test_port_in_use_exits_1_and_leaves_no_program(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            before = loaded_programs()
            result = self.run_exporter(f"--listen_address=127.0.0.1:{port}")
        line = self.assert_fatal_line(result, contains=(f"127.0.0.1:{port}", "--web.listen-address"))
        self.assertIn("address already in use", line.lower())
        self.assert_no_program_left(before)

    def unprivileged_copy(self):
        """The exporter binary where user nobody can run it (the build tree may not be)."""
        path = os.path.join(self.dir, "diskidle_exporter")
        shutil.copy(EXPORTER, path)
        os.chmod(path, 0o755)
        return path

    def test_unprivileged_user_exits_1_naming_the_privileges(self):
        before = loaded_programs()
        result = self.run_exporter(
            f"--listen_address=127.0.0.1:{free_port()}",
            exporter=self.unprivileged_copy(),
            prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "--inh-caps=-all"))
        self.assert_fatal_line(result, contains=("CAP_BPF", "CAP_PERFMON", "root"))
        self.assert_no_program_left(before)

    def test_cap_bpf_and_cap_perfmon_are_enough(self):
        """The least privilege the docs promise: an unprivileged user with just
        CAP_BPF and CAP_PERFMON runs the exporter, and it counts a real workload's
        bios exactly: 300 fsyncs of an unchanged file are 300 zero-byte flush
        bios under the workload's pid, comm, device and syscall (per-process
        view), and under its comm, device and syscall (complete view)."""
        fs = tmpfs_loop_filesystem(self, "ext4", size_mb=64)
        port = free_port()
        log_path = os.path.join(self.dir, "unprivileged.log")
        log = open(log_path, "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon",
             self.unprivileged_copy(), f"--listen_address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(kill_if_running, proc)

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                return parse_metrics(r.read().decode())
        deadline = time.time() + 20
        while True:
            if proc.poll() is not None:
                with open(log_path) as f:
                    self.fail(f"exporter exited with {proc.returncode}: {f.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            self.assertLess(time.time(), deadline, "exporter not serving after 20 s")
            time.sleep(0.1)
        with open(f"/proc/{proc.pid}/status") as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        self.assertEqual(uid_line.split()[2], "65534", "the exporter runs unprivileged")

        n = 300
        gen = IoGen(self, "fsync-loop", fs.path("data"), n, wait=True)
        flush = dict(comm=gen.comm, device=fs.name, syscall="fsync", op="flush")
        # The set-up (write + fsync before "ready") may have sent flushes of its
        # own: count from a baseline taken after it (absent series read as 0 there).
        before = scrape()
        base_own = process_counts(before, absent_ok=True, pid=gen.pid, **flush)
        base_complete = complete_counts(before, absent_ok=True, **flush)
        gen.go()
        gen.wait_done(self)
        deadline = time.monotonic() + 30  # counts are read at scrape time; poll, don't sleep
        while True:
            after = scrape()
            own = series(after, PROCESS_BIOS, pid=gen.pid, **flush)
            if (own and sum(v for _, v in own) - base_own.bios >= n
                    or time.monotonic() > deadline):
                break
            time.sleep(0.2)
        self.assertTrue(own, f"no flush series {flush} of pid {gen.pid}; its series: "
                             f"{series(after, PROCESS_BIOS, pid=gen.pid)}")
        # Strict reads from here: a missing series fails, it never reads as 0.
        counted = process_counts(after, pid=gen.pid, **flush) - base_own
        self.assertEqual(counted.zero_byte_bios, n,
                         "one zero-byte flush bio per fsync of the unchanged file, exactly")
        self.assertEqual(counted.bios, n, "no flush bio of another size")
        self.assertEqual(process_counts(after, pid=gen.pid, **flush).bytes, 0,
                         "flushes carry no bytes")
        complete = complete_counts(after, **flush)
        self.assertEqual(complete - base_complete, counted,
                         "the complete view of the name on the disk counts the same bios")
        self.assertEqual(complete.bytes, 0)
        self.stop_and_assert_exit_0(proc, log_path)

    # --- signals ---

    def check_signal_stops_cleanly(self, sig):
        exporter = Exporter(self)
        ours = programs_held_by(exporter.proc.pid)
        self.assertTrue(ours, "the running exporter holds its BPF programs")
        loaded = loaded_programs()
        self.assertTrue(ours & set(loaded), f"bpftool lists our programs ({ours}): {loaded}")
        exporter.scrape_text()  # as Prometheus would, just before the signal
        bound = shutdown_bound_seconds()
        start = time.monotonic()
        exporter.proc.send_signal(sig)
        try:
            status = exporter.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.fail(f"exporter still running {bound:.1f}s after {sig.name}")
        elapsed = time.monotonic() - start
        self.assertEqual(status, 0, exporter.read_log())
        self.assertIn(f"received {signal.strsignal(sig)}, shutting down", exporter.read_log())
        deadline = time.time() + 2  # programs are freed after an RCU grace period
        while ours & set(loaded_programs()) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(ours & set(loaded_programs()), set(),
                         f"programs of ours still loaded after {sig.name}")
        print(f"\n{sig.name}: exited 0 after {elapsed:.2f}s (bound {bound:.1f}s)", flush=True)

    def test_sigterm_detaches_and_exits_0_promptly(self):
        self.check_signal_stops_cleanly(signal.SIGTERM)

    def test_sigint_detaches_and_exits_0_promptly(self):
        self.check_signal_stops_cleanly(signal.SIGINT)

    def test_sighup_applies_reloadable_settings_and_keeps_restart_only_ones(self):
        """A reload applies what can change at run time (here the diskstats device
        filter) and keeps what needs a restart (the kernel map size, the metrics
        path, the label sets of both bio views and the per-process histogram),
        logging a warning that names each kept key."""
        fs = tmpfs_loop_filesystem(self, "ext4", size_mb=64)
        capacity = 16384
        exporter = Exporter(self, (
            "web:\n  telemetry_path: /metrics\n"
            f"collectors:\n  bio:\n    bio_map_entries: {capacity}\n"
            "  diskstats:\n    device_exclude: '^ram[0-9]+$'\n"))
        before = exporter.scrape()
        self.assertTrue(series(before, "diskidle_disk_info", device=fs.name),
                        f"{fs.name} is exported before the reload")
        self.assertEqual([v for _, v in series(before, "diskidle_bpf_map_capacity",
                                               map="bio_counts")], [capacity])

        with open(exporter.config_path, "w") as f:
            f.write("web:\n  telemetry_path: /renamed\n"
                    f"collectors:\n  bio:\n    bio_map_entries: {capacity * 2}\n"
                    "    labels: [device]\n    process_labels: [pid]\n"
                    "    process_histogram: true\n"
                    f"  diskstats:\n    device_exclude: '^(ram[0-9]+|{fs.name})$'\n")
        exporter.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "config reloaded" not in exporter.read_log():
            self.assertIsNone(exporter.proc.poll(), f"exporter died on SIGHUP: {exporter.read_log()}")
            self.assertLess(time.monotonic(), deadline, f"no reload logged: {exporter.read_log()}")
            time.sleep(0.1)

        log = exporter.read_log()
        warnings = [line for line in log.splitlines()
                    if "level=warn" in line and "restart" in line]
        self.assertEqual(len(warnings), 1, f"one warning about restart-only keys: {log}")
        for key in ("collectors.bio.bio_map_entries", "web.telemetry_path",
                    "collectors.bio.labels", "collectors.bio.process_labels",
                    "collectors.bio.process_histogram"):
            self.assertIn(key, warnings[0], f"the warning names the kept key {key}")
        self.assertNotIn("device_exclude", warnings[0], "device_exclude is reloadable")

        after = exporter.scrape()  # still on the running path
        self.assertEqual([v for _, v in series(after, "diskidle_bpf_map_capacity",
                                               map="bio_counts")], [capacity],
                         "the kernel map keeps its size until a restart")
        try:
            with urllib.request.urlopen(exporter.url("/renamed"), timeout=10) as r:
                self.fail(f"/renamed answered {r.status} before a restart")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 404, "the metrics path is kept until a restart")
        self.assertEqual(series(after, "diskidle_disk_info", device=fs.name), [],
                         f"{fs.name} is excluded after the reload")
        self.assertEqual(series(after, "diskidle_disk_writes_completed_total", device=fs.name), [])
        self.assertTrue(series(after, "diskidle_disk_info"),
                        "the other devices are still exported (the family did not vanish)")

        # Bios after the reload still carry the label sets the exporter started with.
        gen = IoGen(self, "fsync-loop", fs.path("labels"), 5)
        gen.wait_done(self)
        samples = exporter.scrape()
        own = series(samples, PROCESS_BIOS, pid=gen.pid)
        complete = series(samples, BIO + "_count", comm=gen.comm, device=fs.name)
        self.assertTrue(own and complete, f"no series of pid {gen.pid}: {own} {complete}")
        self.assertEqual({frozenset(labels) for labels, _ in own}, {PROCESS_LABELS},
                         "process_labels is kept until a restart")
        self.assertEqual({frozenset(labels) for labels, _ in series(samples, BIO + "_count")},
                         {COMPLETE_LABELS}, "labels is kept until a restart")
        self.assertNotIn("diskidle_process_bio_size_bytes", samples.families,
                         "process_histogram is kept until a restart")
        self.stop_exporter(exporter)

if __name__ == "__main__":
    unittest.main()
