"""Start and stop, as an operator meets them: a bad config, a busy port or
missing privileges give one clear line on stderr, exit status 1 and nothing
left in the kernel; --check_config, --version and --help do what they say;
SIGTERM and SIGINT detach and exit 0 within a second."""
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

from diskidle_testlib import (EXPORTER, Exporter, free_port, loaded_programs, parse_metrics,
                              programs_held_by, programs_held_by_live_processes,
                              require_privileges, total)

EXIT_FATAL = 1  # exporter/main.cc kExitFatal
PREFIX = "diskidle_exporter: "
UNKNOWN_BIO_KEY = ("unknown key; expected one of enabled, attach, size_buckets_bytes, "
                   "exited_process_ttl, max_processes, max_comms, bio_map_entries, "
                   "process_map_entries")
BUCKETS_EXPECTED = ("expected a list of increasing byte sizes, each 0 (first only) or a power of "
                    "two up to 4294967296, e.g. [0, 512, 4096]")


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
                                       f'integer from 1 to 1000000, got "fifty"')

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

    def test_help_exits_0_and_describes_the_flags(self):
        result = self.run_exporter("--help")
        for flag in ("--config", "--listen_address", "--web_config_file", "--check_config"):
            self.assertIn(flag, result.stdout + result.stderr)
        # Asking for help is not an error: scripts and packagers run `--help` and check $?.
        self.assertEqual(result.returncode, 0,
                         "--help must exit 0 (abseil's default for --help is exit status 1)")

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
        line = self.assert_fatal_line(result, contains=(f"127.0.0.1:{port}", "--listen_address"))
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
        CAP_BPF and CAP_PERFMON runs the exporter and counts I/O."""
        port = free_port()
        log = open(os.path.join(self.dir, "unprivileged.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon",
             self.unprivileged_copy(), f"--listen_address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        deadline = time.time() + 20
        while True:
            if proc.poll() is not None:
                with open(log.name) as f:
                    self.fail(f"exporter exited with {proc.returncode}: {f.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    samples = parse_metrics(r.read().decode())
                break
            except (urllib.error.URLError, ConnectionError):
                self.assertLess(time.time(), deadline, "exporter not serving after 20 s")
                time.sleep(0.1)
        with open(f"/proc/{proc.pid}/status") as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        self.assertEqual(uid_line.split()[2], "65534", "the exporter runs unprivileged")

    # --- signals ---

    def check_signal_stops_cleanly(self, sig):
        exporter = Exporter(self)
        ours = programs_held_by(exporter.proc.pid)
        self.assertTrue(ours, "the running exporter holds its BPF programs")
        loaded = loaded_programs()
        self.assertTrue(ours & set(loaded), f"bpftool lists our programs ({ours}): {loaded}")
        exporter.scrape_text()  # as Prometheus would, just before the signal
        start = time.monotonic()
        exporter.proc.send_signal(sig)
        try:
            status = exporter.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"exporter still running 10 s after {sig.name}")
        elapsed = time.monotonic() - start
        self.assertEqual(status, 0, exporter.read_log())
        self.assertIn(f"received {signal.strsignal(sig)}, shutting down", exporter.read_log())
        deadline = time.time() + 2  # programs are freed after an RCU grace period
        while ours & set(loaded_programs()) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(ours & set(loaded_programs()), set(),
                         f"programs of ours still loaded after {sig.name}")
        self.assertLessEqual(elapsed, 1.0, f"exit took {elapsed:.2f}s after {sig.name}")

    def test_sigterm_detaches_and_exits_0_within_a_second(self):
        self.check_signal_stops_cleanly(signal.SIGTERM)

    def test_sigint_detaches_and_exits_0_within_a_second(self):
        self.check_signal_stops_cleanly(signal.SIGINT)


if __name__ == "__main__":
    unittest.main()
