"""deploy/systemd/diskidle-exporter.service, as far as it can be run without
systemd as PID 1 (this machine has none; test_deb.py verifies the unit with
systemd-analyze): its ExecStart, with the config file the .deb ships, run as
an unprivileged user holding exactly the unit's AmbientCapabilities, inside
the unit's CapabilityBoundingSet and with NoNewPrivileges, starts, attaches
its BPF program (/healthz 200) and exits 0 on SIGTERM. Its commented
LoadCredential= block, uncommented, serves TLS and basic auth from root-only
files (systemd's credentials directory is made by hand here)."""
import configparser
import os
import re
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


def commented_settings(name):
    """Values of the commented-out `#name=...` lines of the unit, in order."""
    with open(UNIT) as f:
        return re.findall(rf"(?m)^#{name}=(.*)$", f.read())


def as_unit_user(service):
    """setpriv arguments for the unit's user (nobody stands in for the dynamic
    user) and privileges."""
    ambient = caps(service["AmbientCapabilities"]).replace(",", ",+")
    bounding = caps(service["CapabilityBoundingSet"]).replace(",", ",+")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            f"--inh-caps=-all,+{ambient}", f"--ambient-caps=-all,+{ambient}",
            f"--bounding-set=-all,+{bounding}", "--no-new-privs"]


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
        # $WEB_CONFIG_FLAG (the commented credentials block) and $ARGS are unset:
        # an unset $VAR word is no argument at all.
        args = [binary if a == argv[0] else
                f"--config.file={config}" if a.startswith("--config.file=") else a
                for a in argv[:-1] if not a.startswith("$")]
        # $ARGS is how an operator moves the listener; here to a free port.
        args.append(f"--web.listen-address=127.0.0.1:{port}")
        cmd = [*as_unit_user(service), *args]
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

    def test_credentials_block_serves_tls_and_basic_auth_from_root_only_files(self):
        for tool in ("openssl", "curl"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found")
        service = unit_service_section()
        credentials = [c.split(":", 1) for c in commented_settings("LoadCredential")]
        self.assertEqual([name for name, _ in credentials], ["web-config.yml", "tls.crt", "tls.key"])
        [environment] = commented_settings("Environment")
        variable, _, value = environment.partition("=")
        # The root-only files in the package's config dir: a test CA's certificate
        # and key, and the shipped example web config with its TLS lines uncommented
        # (basic auth: user prometheus, password change-me).
        etc = os.path.join(self.dir, "etc")
        os.mkdir(etc, 0o700)
        openssl = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                   "-nodes", "-days", "2"]
        subprocess.run([*openssl, "-x509", "-keyout", "ca.key", "-out", "ca.crt",
                        "-subj", "/CN=test-ca"], cwd=self.dir, check=True, capture_output=True)
        subprocess.run([*openssl, "-x509", "-CA", "ca.crt", "-CAkey", "ca.key",
                        "-keyout", "etc/tls.key", "-out", "etc/tls.crt", "-subj", "/CN=exporter",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       cwd=self.dir, check=True, capture_output=True)
        with open(os.path.join(SOURCE_DIR, "config", "web-config.yml")) as f:
            example = f.read()
        web_config = re.sub(r"(?m)^# (tls_server_config:)$|^# (  (cert|key)_file: .*)$",
                            lambda m: m.group(1) or m.group(2), example)
        self.assertIn("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n", web_config)
        with open(os.path.join(etc, "web-config.yml"), "w") as f:
            f.write(web_config)
        for name in os.listdir(etc):
            os.chmod(os.path.join(etc, name), 0o600)
        # What systemd makes of LoadCredential=: copies readable by the service's
        # user only, in a directory of its own.
        creds = os.path.join(self.dir, "credentials")
        os.mkdir(creds)
        for name, path in credentials:
            self.assertTrue(path.startswith("/etc/diskidle_exporter/"), path)
            copy = os.path.join(creds, name)
            shutil.copy(os.path.join(etc, os.path.basename(path)), copy)
            os.chown(copy, 65534, 65534)
            os.chmod(copy, 0o400)
        os.chown(creds, 65534, 65534)
        os.chmod(creds, 0o500)
        config = os.path.join(self.dir, "config.yaml")
        shutil.copy(SHIPPED_CONFIG, config)
        os.chmod(config, 0o644)
        port = free_port()
        words = {f"${variable}": [value.replace("%d", creds)],
                 "$ARGS": [f"--web.listen-address=127.0.0.1:{port}"]}
        args = [EXPORTER if a == "/usr/bin/diskidle_exporter" else
                f"--config.file={config}" if a.startswith("--config.file=") else a
                for a in shlex.split(service["ExecStart"])]
        args = [w for a in args for w in words.get(a, [a])]
        log_path = os.path.join(self.dir, "exporter.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([*as_unit_user(service), *args], stdout=log,
                                    stderr=subprocess.STDOUT,
                                    env={**os.environ, "CREDENTIALS_DIRECTORY": creds})
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))

        def curl(path, *extra):
            """HTTP status of an HTTPS GET that verifies the test CA."""
            return subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                 os.path.join(self.dir, "ca.crt"), *extra, f"https://127.0.0.1:{port}{path}"],
                capture_output=True, text=True, timeout=10).stdout

        deadline = time.monotonic() + 30
        while curl("/healthz") != "200":
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(log_path) as f:
                    self.fail(f"not healthy over TLS (exit status {proc.poll()}): {f.read()}")
            time.sleep(0.1)
        self.assertEqual(curl("/metrics"), "401")
        self.assertEqual(curl("/metrics", "-u", "prometheus:wrong"), "401")
        self.assertEqual(curl("/metrics", "-u", "prometheus:change-me"), "200")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main()
