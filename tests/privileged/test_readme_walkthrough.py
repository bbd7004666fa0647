"""README.md's "See it work" walk-through, run as a reader runs it: every
command of its console block, in one bash session, and what each prints must
be what the README shows, line for line (sorted), up to counter values, the
pid and the loop device's name. Values the README shows as 0 (zero-byte
flushes) must be 0, the others above 0.

What the test changes, and why: file and mount paths go to a temporary
directory, the port is a free one (other tests run on this machine), and
`loop1` in a command becomes the device the first command printed.
"""
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from diskidle_testlib import checked_cleanup, free_port, require_privileges

SOURCE_DIR = os.environ.get("DISKIDLE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
MARK = "@@diskidle-walkthrough-done@@"


def walkthrough():
    """[(command, [expected output lines])] of the first console block after
    "## See it work". A command starts with "# " and continues over lines while
    its single quotes are unbalanced."""
    with open(os.path.join(SOURCE_DIR, "README.md")) as f:
        text = f.read()
    section = text[text.index("## See it work"):]
    block = section[section.index("```console\n") + len("```console\n"):]
    block = block[:block.index("```")]
    steps = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            command = line[2:]
            while command.count("'") % 2 == 1:
                i += 1
                command += "\n" + lines[i]
            steps.append((command, []))
        else:
            steps[-1][1].append(line)
        i += 1
    return steps


def normalize(line):
    """The shape of an output line: values, pids and loop device names abstracted."""
    line = re.sub(r'pid="\d+"', 'pid="PID"', line)
    line = re.sub(r"\bloop\d+\b", "LOOP", line)
    return re.sub(r"^(\S+\})\s+\S+$", r"\1 VALUE", line)


def value(line):
    match = re.match(r"^\S+\}\s+(\S+)$", line)
    return float(match.group(1)) if match else None


class ReadmeWalkthroughTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        for tool in ("losetup", "mkfs.ext4", "curl", "python3"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found")
        self.dir = tempfile.mkdtemp(prefix="diskidle-readme-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.port = free_port()
        env = dict(os.environ)
        # run.sh builds into DISKIDLE_BUILD_DIR: the tree ctest already built.
        env.setdefault("DISKIDLE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
        self.shell = subprocess.Popen(["bash", "--norc"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, cwd=SOURCE_DIR, env=env, bufsize=1)
        self.pending = ""
        self.addCleanup(self.stop_shell)

    def stop_shell(self):
        if self.shell.poll() is None:
            # The README's clean-up: stop the fsync loop and the exporter.
            self.shell.stdin.write("kill %2 %1 2>/dev/null; wait; exit\n")
            self.shell.stdin.flush()
            try:
                self.shell.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.shell.kill()
                self.shell.wait()
        mount = os.path.join(self.dir, "mnt")
        if os.path.ismount(mount):
            checked_cleanup("umount", mount, fallback=["umount", "-l", mount])
        if getattr(self, "loop", None):
            checked_cleanup("losetup", "-d", self.loop)

    def run_step(self, command, timeout=120):
        """Runs `command` in the session; returns its output lines."""
        self.shell.stdin.write(f"{command}\necho {MARK}\n")
        self.shell.stdin.flush()
        # Own buffering on the raw fd: select() on a buffered file object would
        # wait for bytes Python has already read into its buffer.
        fd = self.shell.stdout.fileno()
        deadline = time.monotonic() + timeout
        while MARK + "\n" not in self.pending:
            if time.monotonic() > deadline:
                self.fail(f"{command!r} did not finish within {timeout}s: {self.pending!r}")
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.fail(f"the shell exited during {command!r}: {self.pending!r}")
                self.pending += chunk.decode("utf-8", errors="backslashreplace")
        out, _, self.pending = self.pending.partition(MARK + "\n")
        return out.splitlines()

    def wait_healthy(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        with open(os.path.join(self.dir, "exporter.log")) as f:
            self.fail(f"the exporter run.sh started never became healthy: {f.read()}")

    def test_every_command_prints_what_the_readme_shows(self):
        steps = walkthrough()
        self.assertGreaterEqual(len(steps), 5, steps)
        # Job control, as in the interactive shell the README assumes (%1, %2).
        self.run_step("set -m")
        device = None
        skip_reason = None
        for command, expected in steps:
            runnable = (command.replace("/tmp/demo.img", f"{self.dir}/demo.img")
                        .replace("/tmp/demo-exporter.log", f"{self.dir}/exporter.log")
                        .replace("/mnt/demo", f"{self.dir}/mnt")
                        .replace("localhost:9436", f"localhost:{self.port}")
                        .replace("./scripts/run.sh",
                                 f"./scripts/run.sh --web.listen-address=127.0.0.1:{self.port}"))
            if device:
                runnable = re.sub(r"\bloop1\b", device, runnable)
            out = [line for line in self.run_step(runnable) if not re.match(r"^\[\d+\]", line)]
            if command.startswith("truncate"):
                self.loop = self.run_step("echo $L")[0]
                device = os.path.basename(self.loop)
            if "run.sh" in command:
                self.wait_healthy()
            if any(re.match(r"^diskidle_bio_size_bytes\S*\{[^}]*pid=", line) for line in out):
                # The other steps are still checked; this one waits for issue 9.
                skip_reason = ("this build still has the pid label on diskidle_bio_size_bytes; the "
                               "walk-through shows issue 9's series contract (SERIES_CONTRACT.md)")
                continue
            with self.subTest(command=command.splitlines()[0]):
                self.assertEqual(sorted(map(normalize, out)), sorted(map(normalize, expected)),
                                 f"output of {command!r}:\n" + "\n".join(out))
                by_shape = {normalize(line): line for line in out}
                for line in expected:
                    want = value(line)
                    got = by_shape.get(normalize(line))
                    if want is None or got is None:
                        continue
                    if want == 0:
                        self.assertEqual(value(got), 0, got)
                    else:
                        self.assertGreater(value(got), 0, got)
        if skip_reason:
            self.skipTest(skip_reason)


if __name__ == "__main__":
    unittest.main()
