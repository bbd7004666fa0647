"""Under load: 32 connections hammer /metrics for 20 s during an fsync storm.
Every response is a 200, no connection fails, and the storm is still counted
exactly (one zero-byte flush per fsync, under the storm's own pid in the
per-process view and under its name on the test's disk in the complete view)."""
import re
import shutil
import socket
import subprocess
import unittest

from diskidle_testlib import (Exporter, IoGen, complete_delta, process_delta, require_privileges,
                              tmpfs_loop_filesystem, total)

WRK_SECONDS = 20
CONNECTIONS = 32


class LoadTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        if shutil.which("wrk") is None:
            self.fail("wrk is not installed (apt-get install wrk; scripts/install-deps.sh does)")
        self.fs = tmpfs_loop_filesystem(self, "ext4")
        # Maps big enough that other I/O on a shared machine cannot fill them.
        self.exporter = Exporter(self, "collectors:\n  bio:\n    bio_map_entries: 262144\n"
                                       "    process_map_entries: 262144\n")

    def test_scrapes_under_load_all_succeed_and_the_storm_is_counted(self):
        # The storm outlasts wrk, so every request is served while it runs.
        gen = IoGen(self, "fsync-for", self.fs.path("unchanged"), (WRK_SECONDS + 3) * 1000,
                    wait=True)
        # "ready" comes after the set-up's fsync returned: its bios are in this baseline.
        before = self.exporter.scrape()
        gen.go()
        try:
            wrk = subprocess.run(
                ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{WRK_SECONDS}s", "--timeout", "5s",
                 self.exporter.url("/metrics")],
                capture_output=True, text=True, timeout=WRK_SECONDS + 30)
        finally:
            fsyncs = gen.wait_done(self, timeout=WRK_SECONDS + 60)
        after = self.exporter.scrape()

        flush = dict(comm=gen.comm, device=self.fs.name, syscall="fsync", op="flush")
        own = process_delta(before, after, pid=gen.pid, **flush)
        complete = complete_delta(before, after, **flush)
        self.assertGreater(fsyncs, 1000, "the storm ran")
        # Exact: a per-CPU cache that loses or doubles a bio while 32 connections
        # snapshot the maps concurrently shows here.
        self.assertEqual(own.zero_byte_bios, fsyncs,
                         f"one zero-byte flush per fsync under pid {gen.pid}, counted under load")
        self.assertEqual(own.bios, fsyncs, "no flush bio of another size")
        self.assertEqual(complete.zero_byte_bios, fsyncs,
                         f"one zero-byte flush per fsync under {gen.comm} on {self.fs.name} "
                         "(complete view), counted under load")
        self.assertEqual(complete.bios, fsyncs)
        self.assertEqual(total(after, "diskidle_bpf_events_dropped_total")
                         - total(before, "diskidle_bpf_events_dropped_total"), 0)

        out = wrk.stdout
        self.assertEqual(wrk.returncode, 0, f"wrk failed: {out}{wrk.stderr}")
        m = re.search(r"(\d+) requests in ([\d.]+)s", out)
        self.assertIsNotNone(m, out)
        requests = int(m.group(1))
        # A scrape takes milliseconds: 32 connections for 20 s make thousands.
        self.assertGreater(requests, 200, out)
        self.assertNotIn("Non-2xx or 3xx responses", out, "every scrape answered 200")
        errors = re.search(r"Socket errors: .*", out)
        self.assertIsNone(errors and errors.group(0),
                          "no connect/read/write error and no timeout (read errors that match "
                          "the request count mean the server closed each connection without "
                          "announcing it: see test_a_closed_connection_is_announced)")
        self.assertIsNone(self.exporter.proc.poll(), "exporter still running")
        self.assertEqual(total(after, "diskidle_scrape_collector_success", collector="bio"), 1)

    def test_a_closed_connection_is_announced(self):
        """HTTP/1.1 connections are persistent unless the response says
        "Connection: close" (RFC 9112 section 9.6). A server that closes silently makes
        clients (wrk, and Prometheus' own retry logic) see a failed read on reuse."""
        def get(conn, path):
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return None, data
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode().split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            return head.decode().split("\r\n")[0], headers

        silent_closes = []
        for path in ("/metrics", "/healthz", "/"):
            with socket.create_connection(("127.0.0.1", self.exporter.port), timeout=10) as conn:
                status, headers = get(conn, path)
                self.assertEqual(status, "HTTP/1.1 200 OK", path)
                if "close" in headers.get("connection", ""):
                    continue  # announced: the client will not reuse the connection
                again, _ = get(conn, path)
                if again != "HTTP/1.1 200 OK":
                    silent_closes.append(path)
        self.assertEqual(silent_closes, [], "connection closed after one response without "
                                            "\"Connection: close\"")

if __name__ == "__main__":
    unittest.main()
