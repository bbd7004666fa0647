"""deploy/systemd/diskidle-exporter.service, as far as it can be run without
systemd as PID 1 (this machine has none; test_deb.py verifies the unit with
systemd-analyze): its ExecStart, with the config file the .deb ships, run as
an unprivileged user holding exactly the unit's AmbientCapabilities, inside
the unit's CapabilityBoundingSet and with NoNewPrivileges, starts, attaches
its BPF program (/healthz 200) and exits 0 on SIGTERM."""
import configparser
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from diskidle_testlib import EXPORTER, free_port, require_privileges

SOURCE_DIR = os.environ.get("DISKIDLE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
UNIT = os.path.join(SOURCE_DIR, "deploy", "systemd", "diskidle-exporter.service")
SHIPPED_CONFIG = os.path.join(SOURCE_DIR, "config", "diskidle.yaml")  # cmake/Packaging.cmake


def unit_service_section():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    with open(UNIT) as f:
        parser.read_string(f.read())
    return parser["Service"]


def caps(value):
    """"CAP_BPF CAP_PERFMON" -> "bpf,perfmon" (setpriv's spelling)."""
    return ",".join(c.lower().removeprefix("cap_") for c in value.split())


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        if shutil.which("setpriv") is None:
            self.fail("setpriv not found (util-linux)")
        self.dir = tempfile.mkdtemp(prefix="diskidle-unit-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.chmod(self.dir, 0o755)

    def test_exec_start_runs_with_only_the_units_privileges(self):
        service = unit_service_section()
        self.assertEqual(service["AmbientCapabilities"].split(), ["CAP_BPF", "CAP_PERFMON"])
        self.assertEqual(service["CapabilityBoundingSet"].split(), ["CAP_BPF", "CAP_PERFMON"])
        self.assertEqual(service["NoNewPrivileges"], "yes")
        self.assertEqual(service["ProtectSystem"], "strict")
        self.assertEqual(service["DynamicUser"], "yes")
        argv = shlex.split(service["ExecStart"])
        self.assertEqual(argv[0], "/usr/bin/diskidle_exporter")
        self.assertIn("--config.file=/etc/diskidle_exporter/config.yaml", argv)
        self.assertEqual(argv[-1], "$ARGS")  # from /etc/default/diskidle-exporter; empty here
        # The binary and the shipped config where user nobody can read them.
        binary = os.path.join(self.dir, "diskidle_exporter")
        shutil.copy(EXPORTER, binary)
        os.chmod(binary, 0o755)
        config = os.path.join(self.dir, "config.yaml")
        shutil.copy(SHIPPED_CONFIG, config)
        os.chmod(config, 0o644)
        port = free_port()
        args = [binary if a == argv[0] else
                f"--config.file={config}" if a.startswith("--config.file=") else a
                for a in argv[:-1]]
        # $ARGS is how an operator moves the listener; here to a free port.
        args.append(f"--web.listen-address=127.0.0.1:{port}")
        # DynamicUser: some unprivileged uid; nobody stands in for it.
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               f"--inh-caps=-all,+{caps(service['AmbientCapabilities']).replace(',', ',+')}",
               f"--ambient-caps=-all,+{caps(service['AmbientCapabilities']).replace(',', ',+')}",
               f"--bounding-set=-all,+{caps(service['CapabilityBoundingSet']).replace(',', ',+')}",
               "--no-new-privs", *args]
        log_path = os.path.join(self.dir, "exporter.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                with open(log_path) as f:
                    self.fail(f"exited with {proc.returncode} under the unit's privileges: "
                              f"{f.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                with open(log_path) as f:
                    self.fail(f"not healthy (BPF attached) within 30s: {f.read()}")
            time.sleep(0.1)
        with open(f"/proc/{proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        self.assertEqual(int(status["CapEff"], 16), 1 << 39 | 1 << 38, "exactly BPF + PERFMON")
        self.assertEqual(int(status["CapBnd"], 16), 1 << 39 | 1 << 38)
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        self.assertEqual(status["Uid"].split()[0], "65534")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main()
