"""TLS, mutual TLS and basic auth of the real exporter, configured with an
exporter-toolkit web-config.yml, checked with curl the way users check it.

Certificates come from a throw-away test CA made with openssl; bcrypt hashes
from `htpasswd -nbBC 10` (apache2-utils). Every config the exporter accepts is
also accepted by `promtool check web-config`, and every config it rejects at
start-up is rejected by promtool too: the format is exporter-toolkit's.
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import diskidle_testlib as lib

PASSWORD = "s3cret horse"


def openssl(*args, cwd):
    lib.run("openssl", *args, cwd=cwd)


def make_ca(dir, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
            cwd=dir)


def make_cert(dir, name, ca, san=None, client=False):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=dir)
    ext = os.path.join(dir, f"{name}.ext")
    with open(ext, "w") as f:
        if san:
            f.write(f"subjectAltName={san}\n")
        f.write(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext, cwd=dir)


# curl's "%{http_code}" when no HTTP response came back (refused in the TLS handshake).
NO_RESPONSE = "000"
# HTTP statuses that refuse a request made without a required client certificate.
HTTP_REFUSED = ("401", "403")

# client_auth_type -> what happens without a certificate, and with one signed by
# another CA than client_ca_file: "ok" (served), "refused" (never served: the TLS
# handshake fails, or, for a missing certificate, every path but /healthz gets
# 401 or 403), "handshake" (the TLS handshake itself fails).
CLIENT_AUTH_MODES = {
    "RequestClientCert": {"none": "ok", "other_ca": "ok"},
    "RequireAnyClientCert": {"none": "refused", "other_ca": "ok"},
    "VerifyClientCertIfGiven": {"none": "ok", "other_ca": "handshake"},
    "RequireAndVerifyClientCert": {"none": "refused", "other_ca": "handshake"},
}


def htpasswd_hash(user, password):
    line = lib.run("htpasswd", "-nbBC", "10", user, password).stdout.strip()
    name, _, hash_ = line.partition(":")
    assert name == user and hash_.startswith("$2y$10$"), line
    return hash_


class WebSecurityTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        for tool in ("curl", "openssl", "htpasswd", "promtool"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found (Debian packages curl, openssl, apache2-utils, prometheus)")
        self.dir = tempfile.mkdtemp(prefix="diskidle-websec-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        make_ca(self.dir, "ca")
        make_cert(self.dir, "server", "ca", san="IP:127.0.0.1,DNS:localhost")
        make_ca(self.dir, "client-ca")
        make_cert(self.dir, "client", "client-ca", client=True)
        make_ca(self.dir, "rogue-ca")
        make_cert(self.dir, "rogue", "rogue-ca", client=True)

    # ---- helpers ------------------------------------------------------------
    def write_config(self, text, name="web.yml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def promtool_accepts(self, path):
        return subprocess.run(["promtool", "check", "web-config", path],
                              capture_output=True, text=True).returncode == 0

    def start(self, web_config, probe_args=()):
        """Starts the exporter with `web_config`; returns its base URL without scheme.
        `probe_args` are extra curl arguments the readiness poll needs (client cert)."""
        self.assertTrue(self.promtool_accepts(web_config),
                        "promtool check web-config must accept what the exporter accepts")
        port = lib.free_port()
        log = open(os.path.join(self.dir, f"exporter-{port}.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen([lib.EXPORTER, f"--listen_address=127.0.0.1:{port}",
                                 f"--web_config_file={web_config}"],
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            """SIGTERM; a hang or an exit status other than 0 fails the test (also
            when run as a cleanup)."""
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise AssertionError(f"exporter on port {port} ignored SIGTERM for 10 s")
            if proc.returncode != 0:
                log.seek(0)
                raise AssertionError(f"exporter on port {port} exited with {proc.returncode} "
                                     f"at shutdown: {log.read()}")
        self.addCleanup(stop)
        self.stop_last = stop
        deadline = time.time() + 20
        answers = set()
        while time.time() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                self.fail(f"exporter exited with {proc.returncode}: {log.read()}")
            # /healthz is unauthenticated; -k only for this readiness poll.
            for scheme in ("https", "http"):
                r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                    "--max-time", "2", *probe_args,
                                    f"{scheme}://127.0.0.1:{port}/healthz"],
                                   capture_output=True, text=True)
                if r.stdout == "200":
                    return f"127.0.0.1:{port}"
                answers.add(f"{scheme}: {r.stdout} (curl {r.returncode})")
            time.sleep(0.2)
        self.fail(f"exporter not ready after 20s: /healthz without credentials answered "
                  f"{sorted(answers)}")

    def curl(self, url, *args):
        """Returns (curl exit code, HTTP status, headers, body)."""
        headers = os.path.join(self.dir, "headers")
        body = os.path.join(self.dir, "body")
        for p in (headers, body):
            if os.path.exists(p):
                os.remove(p)
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "-D", headers, "-o", body,
                            "-w", "%{http_code}", *args, url], capture_output=True, text=True)
        def read(path):
            if not os.path.exists(path):
                return ""
            with open(path, errors="replace") as f:
                return f.read()
        return r.returncode, r.stdout, read(headers), read(body)

    def run_to_refusal(self, web_config):
        """Runs the exporter with a web config it must refuse at start-up; one that
        is still running after 20 s accepted it (it is then killed)."""
        try:
            return subprocess.run([lib.EXPORTER, f"--listen_address=127.0.0.1:{lib.free_port()}",
                                   f"--web_config_file={web_config}"],
                                  capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired as e:
            self.fail(f"the exporter started with {web_config} instead of refusing it: "
                      f"{e.output!r} {e.stderr!r}")

    def stop_exporter(self):
        """Stops the exporter of the last start(), asserting exit status 0."""
        self.stop_last()

    def with_cert(self, name):
        return ("--cert", os.path.join(self.dir, f"{name}.crt"),
                "--key", os.path.join(self.dir, f"{name}.key"))

    def assert_handshake_refused(self, result, what):
        code, status, _, body = result
        self.assertNotEqual(code, 0, f"{what}: the TLS handshake must fail (curl exit code)")
        self.assertEqual(status, NO_RESPONSE, f"{what}: no HTTP answer after a failed handshake")
        self.assertNotIn("diskidle", body)

    # ---- tests ----------------------------------------------------------------
    def test_tls_with_test_ca(self):
        addr = self.start(self.write_config(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"))
        code, status, _, body = self.curl(f"https://{addr}/metrics", "--cacert",
                                          os.path.join(self.dir, "ca.crt"))
        self.assertEqual((code, status), (0, "200"))
        self.assertIn("diskidle_exporter_build_info", body)
        # A client that does not trust the CA refuses the server (curl: 60).
        code, _, _, _ = self.curl(f"https://{addr}/metrics")
        self.assertEqual(code, 60)
        # No plain HTTP on the TLS port.
        code, status, _, body = self.curl(f"http://{addr}/metrics")
        self.assertNotIn("diskidle_exporter_build_info", body)
        self.assertNotEqual(status, "200")

    def test_tls_min_version_is_enforced(self):
        addr = self.start(self.write_config(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  min_version: TLS13\n"))
        ca = os.path.join(self.dir, "ca.crt")
        code, status, _, _ = self.curl(f"https://{addr}/healthz", "--cacert", ca, "--tlsv1.3")
        self.assertEqual((code, status), (0, "200"))
        code, _, _, _ = self.curl(f"https://{addr}/healthz", "--cacert", ca, "--tlsv1.2",
                                  "--tls-max", "1.2")
        self.assertNotEqual(code, 0, "a TLS 1.2 client must be refused with min_version TLS13")

    def test_client_auth_modes(self):
        """Each client_auth_type with no certificate, one from client_ca_file and one
        from another CA, next to basic auth: /metrics only for what the mode admits
        (and only with the password), /healthz whenever the connection is admitted."""
        ca = os.path.join(self.dir, "ca.crt")
        basic = ("-u", f"prometheus:{PASSWORD}")
        password_hash = htpasswd_hash("prometheus", PASSWORD)
        for mode, expect in CLIENT_AUTH_MODES.items():
            with self.subTest(mode):
                addr = self.start(self.write_config(
                    "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    f"  client_auth_type: {mode}\n  client_ca_file: client-ca.crt\n"
                    f"basic_auth_users:\n  prometheus: {password_hash}\n", name=f"{mode}.yml"),
                    probe_args=self.with_cert("client"))
                metrics, healthz = f"https://{addr}/metrics", f"https://{addr}/healthz"

                # A certificate from client_ca_file: admitted in every mode.
                code, status, _, body = self.curl(metrics, "--cacert", ca, *basic,
                                                  *self.with_cert("client"))
                self.assertEqual((code, status), (0, "200"), f"{mode}: client CA certificate")
                self.assertIn("diskidle_exporter_build_info", body)
                _, status, _, body = self.curl(metrics, "--cacert", ca, *self.with_cert("client"))
                self.assertEqual(status, "401", f"{mode}: a certificate does not replace the password")
                self.assertNotIn("diskidle_bio", body)
                _, status, _, _ = self.curl(healthz, "--cacert", ca, *self.with_cert("client"))
                self.assertEqual(status, "200", f"{mode}: /healthz needs no password")

                # No certificate.
                result = self.curl(metrics, "--cacert", ca, *basic)
                healthz_result = self.curl(healthz, "--cacert", ca)
                if expect["none"] == "ok":
                    self.assertEqual(result[:2], (0, "200"), f"{mode}: no certificate is fine")
                    self.assertEqual(healthz_result[:2], (0, "200"), f"{mode}: /healthz, no cert")
                else:
                    # Refused in the handshake, or (a server that lets kubelet probes in
                    # under mTLS) refused over HTTP on every path but /healthz: never
                    # served. 401 or 403 both say "not without a certificate".
                    code, status, _, body = result
                    self.assertIn(status, (NO_RESPONSE,) + HTTP_REFUSED,
                                  f"{mode}: /metrics without a certificate (curl {code})")
                    self.assertNotIn("diskidle", body)
                    if status in HTTP_REFUSED:
                        self.assertEqual(healthz_result[:2], (0, "200"),
                                         f"{mode}: a server that admits the connection without "
                                         f"a certificate must answer /healthz")
                        for path in ("/", "/nope"):
                            _, status, _, _ = self.curl(f"https://{addr}{path}", "--cacert", ca,
                                                        *basic)
                            self.assertIn(status, HTTP_REFUSED,
                                          f"{mode}: {path} without a certificate")
                    else:
                        self.assertNotEqual(code, 0)
                        self.assert_handshake_refused(healthz_result, f"{mode}: /healthz, no cert")

                # A certificate from another CA.
                result = self.curl(metrics, "--cacert", ca, *basic, *self.with_cert("rogue"))
                if expect["other_ca"] == "ok":
                    self.assertEqual(result[:2], (0, "200"),
                                     f"{mode}: a certificate from another CA is not verified")
                else:
                    self.assert_handshake_refused(
                        result, f"{mode}: certificate from another CA than client_ca_file")
                    self.assert_handshake_refused(
                        self.curl(healthz, "--cacert", ca, *self.with_cert("rogue")),
                        f"{mode}: /healthz with a certificate from another CA")

                # Still serving after refusing clients.
                code, status, _, _ = self.curl(healthz, "--cacert", ca, *self.with_cert("client"))
                self.assertEqual((code, status), (0, "200"))
                self.stop_exporter()

    def test_tls_max_version_is_enforced(self):
        addr = self.start(self.write_config(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  max_version: TLS12\n"))
        ca = os.path.join(self.dir, "ca.crt")
        code, status, _, _ = self.curl(f"https://{addr}/healthz", "--cacert", ca, "--tlsv1.3")
        self.assertNotEqual(code, 0, "a TLS 1.3-only client must be refused with max_version TLS12")
        self.assertEqual(status, NO_RESPONSE)
        code, status, _, _ = self.curl(f"https://{addr}/healthz", "--cacert", ca, "--tlsv1.2",
                                       "--tls-max", "1.2")
        self.assertEqual((code, status), (0, "200"), "TLS 1.2 works")
        # A client offering both versions gets TLS 1.2: the server caps it.
        context = ssl.create_default_context(cafile=ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        host, port = addr.split(":")
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                self.assertEqual(tls.version(), "TLSv1.2")
        self.stop_exporter()

    def test_basic_auth(self):
        addr = self.start(self.write_config(
            f"basic_auth_users:\n  prometheus: {htpasswd_hash('prometheus', PASSWORD)}\n"
            f"  other: {htpasswd_hash('other', 'other password')}\n"))
        url = f"http://{addr}"
        for path in ("/metrics", "/", "/nope"):
            code, status, headers, body = self.curl(url + path)
            self.assertEqual(status, "401", f"{path}: 401 before anything else, even a 404")
            self.assertRegex(headers, r'(?i)www-authenticate: Basic realm="[^"]+"')
            self.assertNotIn("diskidle_bio", body)
        for user, password in (("prometheus", "wrong"), ("nobody", PASSWORD),
                               ("other", PASSWORD), ("prometheus", "")):
            _, status, _, body = self.curl(url + "/metrics", "-u", f"{user}:{password}")
            self.assertEqual(status, "401", f"{user}:{password}")
            self.assertNotIn("diskidle_bio", body)
        for _ in range(2):  # the second answer may come from the verified cache
            _, status, _, body = self.curl(url + "/metrics", "-u", f"prometheus:{PASSWORD}")
            self.assertEqual(status, "200")
            self.assertIn("diskidle_exporter_build_info", body)
        _, status, _, _ = self.curl(url + "/", "-u", f"other:other password")
        self.assertEqual(status, "200")
        _, status, _, _ = self.curl(url + "/nope", "-u", f"prometheus:{PASSWORD}")
        self.assertEqual(status, "404", "with credentials, an unknown path is a 404")
        _, status, _, _ = self.curl(url + "/nope", "-u", "prometheus:wrong")
        self.assertEqual(status, "401", "a wrong password learns nothing about the path")
        # /healthz stays open for probes (documented in docs/security.md).
        _, status, _, body = self.curl(url + "/healthz")
        self.assertEqual(status, "200")
        self.stop_exporter()

    def test_tls_and_basic_auth_together(self):
        addr = self.start(self.write_config(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            f"basic_auth_users:\n  prometheus: {htpasswd_hash('prometheus', PASSWORD)}\n"))
        ca = os.path.join(self.dir, "ca.crt")
        _, status, _, _ = self.curl(f"https://{addr}/metrics", "--cacert", ca)
        self.assertEqual(status, "401")
        _, status, _, body = self.curl(f"https://{addr}/metrics", "--cacert", ca,
                                       "-u", f"prometheus:{PASSWORD}")
        self.assertEqual(status, "200")
        self.assertIn("diskidle_exporter_build_info", body)

    def test_invalid_web_config_fails_start_up_with_one_clear_line(self):
        good_hash = htpasswd_hash("prometheus", PASSWORD)
        cases = {
            "unknown key": ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                            "  client_auth: RequireAndVerifyClientCert\n",
                            "tls_server_config.client_auth: unknown key"),
            "missing certificate file": (
                "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
                "missing.crt\": No such file or directory"),
            "key of another certificate": (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
                "does not match cert_file"),
            "the key as the certificate": (
                "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
                "server.key\": no PEM block of the kind expected here (cert_file and "
                "client_ca_file: -----BEGIN CERTIFICATE-----"),
            "a directory as the certificate": (
                "tls_server_config:\n  cert_file: .\n  key_file: server.key\n",
                "\": not a regular file; give a PEM file"),
            "not a bcrypt hash": ("basic_auth_users:\n  prometheus: s3cret\n",
                                  "basic_auth_users.prometheus: not a valid bcrypt hash"),
            "truncated bcrypt hash": (f"basic_auth_users:\n  prometheus: {good_hash[:-5]}\n",
                                      "basic_auth_users.prometheus: not a valid bcrypt hash"),
            "unknown client_auth_type": (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                "  client_auth_type: RequireSomething\n  client_ca_file: client-ca.crt\n",
                "client_auth_type: expected one of NoClientCert, RequestClientCert, "
                "RequireAnyClientCert, RequireClientCert, VerifyClientCertIfGiven, "
                "RequireAndVerifyClientCert, got \"RequireSomething\""),
            "missing web config file": (None, "No such file or directory"),
        }
        for case, (text, expected) in cases.items():
            with self.subTest(case):
                path = (self.write_config(text, "bad.yml") if text is not None
                        else os.path.join(self.dir, "absent.yml"))
                if text is not None:
                    self.assertFalse(self.promtool_accepts(path),
                                     f"promtool accepts {case}: the exporter must not be stricter")
                r = self.run_to_refusal(path)
                self.assertNotEqual(r.returncode, 0)
                errors = [line for line in (r.stdout + r.stderr).splitlines()
                          if line.startswith("diskidle_exporter:")]
                self.assertEqual(len(errors), 1, r.stdout + r.stderr)
                self.assertIn(expected, errors[0])
                self.assertIn(path, errors[0], "the message names the file")

    def test_unsupported_keys_are_refused_not_ignored(self):
        """Keys exporter-toolkit knows but this exporter does not implement would
        change security if ignored (a SAN allow-list, a narrowed cipher or curve
        list): start-up fails naming the key as not supported (not as unknown;
        Debian's promtool 2.42 accepts some of them, and knows the newer ones not
        at all)."""
        server = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        with open(os.path.join(self.dir, "server.crt")) as f:
            inline_cert = f.read()
        cases = {
            "curve_preferences": server + "  curve_preferences: [X25519]\n",
            "cipher_suites": server + "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n",
            "client_allowed_sans": (server + "  client_auth_type: RequireAndVerifyClientCert\n"
                                    "  client_ca_file: client-ca.crt\n"
                                    "  client_allowed_sans: [client]\n"),
            "cert": ("tls_server_config:\n  cert: |\n"
                     + "".join(f"    {line}\n" for line in inline_cert.splitlines())
                     + "  key_file: server.key\n"),
            "headers": "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        }
        for key, text in cases.items():
            with self.subTest(key):
                path = self.write_config(text, f"unsupported-{key}.yml")
                r = self.run_to_refusal(path)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                errors = [line for line in (r.stdout + r.stderr).splitlines()
                          if line.startswith("diskidle_exporter:")]
                self.assertEqual(len(errors), 1, r.stdout + r.stderr)
                self.assertIn(key, errors[0])
                self.assertIn("not supported", errors[0])


if __name__ == "__main__":
    unittest.main()
