"""The landing page (/) as a person sees it (issue 11, item 4).

The page is loaded in a real headless browser (Debian's chromium) from the
real exporter while processes flush a loop device: after the page has
refreshed itself at least once, the loop device's row shows flushes/s > 0,
and the zero-byte table names the flushing processes with their syscall,
including one whose name is markup (`<b id=x>&amp;`), which must stay text.
The rates are checked against an exact workload: 200 fsyncs of an unchanged
file are 200 zero-byte bios in the window, and the rate shown is that count
over the window the page states. A collector that is off is said on the page,
and the page (with its live part) sits behind the same basic auth as /metrics.
"""
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import diskidle_testlib as lib

CHROMIUM = shutil.which("chromium")
HOSTILE_COMM = "<b id=x>&amp;"  # 13 bytes: the kernel keeps it whole
STORM_COMM = "fsync-storm"
FSYNCS = 200

# Flushes an unchanged file in a loop (each call: one zero-byte flush bio)
# under the name argv[1], with fsync or fdatasync, until stdin closes.
FLUSHER = r"""
import ctypes, os, sys, threading, time
name = sys.argv[1].encode()
if ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 4096)
os.fsync(fd)
flush = getattr(os, sys.argv[3])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print("ready", flush=True)
while not stop.is_set():
    flush(fd)
    time.sleep(0.005)  # a few hundred a second is plenty, and leaves the CPUs to others
"""


class Page(html.parser.HTMLParser):
    """The parts of the dumped DOM the tests read: every element's id, the
    attributes of <body> and of the rate <div>s, and the rows of each table
    as lists of (class, text, attributes) cells."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.ids = []
        self.body = {}
        self.divs = {}
        self.tables = {}
        self._table = None
        self._row = None
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "body":
            self.body = attrs
        elif tag == "div" and "id" in attrs:
            self.divs[attrs["id"]] = attrs
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = [attrs.get("class", ""), "", attrs]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(tuple(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def rows(self, table):
        """Rows of `table` as {first word of the cell's class: (text, attributes)}."""
        return [{cls.split()[0]: (text, attrs) for cls, text, attrs in row if cls}
                for row in self.tables.get(table, [])]

    def window_seconds(self, div):
        return float(self.divs[div]["data-window-seconds"])


def chromium_dom(test, url, budget_ms=6000):
    """The DOM after `budget_ms` of the page's own (virtual) time, i.e. after
    its refresh script has run, as chromium serializes it."""
    profile = tempfile.mkdtemp(prefix="diskidle-chromium-")
    try:
        # Root needs --no-sandbox; the first start on a busy machine is slow.
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--user-data-dir={profile}", "--no-first-run",
                            f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if r.returncode != 0 or "<body" not in r.stdout:
        test.fail(f"chromium --dump-dom {url} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def get(url, auth=None):
    request = urllib.request.Request(url)
    if auth:
        import base64
        request.add_header("Authorization",
                           "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status, r.read().decode("utf-8", errors="backslashreplace")


class LandingPageTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        if not CHROMIUM:
            self.fail("chromium is not installed (scripts/install-deps.sh test installs it)")
        self.fs = lib.LoopFilesystem(self, "ext4")
        self.exporter = lib.Exporter(self)

    def start_flusher(self, comm, syscall):
        proc = subprocess.Popen([sys.executable, "-c", FLUSHER, comm,
                                 self.fs.path(f"{syscall}.dat"), syscall],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def stop():
            proc.stdin.close()
            try:
                self.assertEqual(proc.wait(timeout=30), 0, f"flusher {comm!r} failed")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
        self.addCleanup(stop)
        self.assertEqual(proc.stdout.readline(), "ready\n", f"flusher {comm!r} did not start")
        return proc

    def test_browser_shows_the_disk_and_the_flushing_processes(self):
        storm = self.start_flusher(STORM_COMM, "fsync")
        hostile = self.start_flusher(HOSTILE_COMM, "fdatasync")
        deadline = time.monotonic() + 180
        while True:
            dom = chromium_dom(self, self.exporter.url("/"))
            page = Page(dom)
            disks = {row["device"][0]: row for row in page.rows("disks") if "device" in row}
            flushing = {(row["comm"][0], row["pid"][0]): row
                        for row in page.rows("top-zero-byte-bios") if "comm" in row}
            loop = disks.get(self.fs.name)
            storm_row = flushing.get((STORM_COMM, str(storm.pid)))
            hostile_row = flushing.get((HOSTILE_COMM, str(hostile.pid)))
            # Checked on every load: escaped wrongly, the name never shows as
            # text, and waiting for it would only hide why.
            self.assertNotIn("x", page.ids, f"a process name became markup:\n{dom[-6000:]}")
            if (int(page.body.get("data-refreshes", 0)) >= 1 and loop
                    and float(loop["flushes"][1]["data-value"]) > 0 and storm_row and hostile_row):
                break
            if time.monotonic() > deadline:
                self.fail(f"the page never showed {self.fs.name} flushing and both flushers "
                          f"after a refresh; last DOM:\n{dom[-6000:]}")
            time.sleep(1)
        self.assertEqual(storm_row["syscall"][0], "fsync")
        self.assertEqual(storm_row["device"][0], self.fs.name)
        self.assertGreater(float(storm_row["rate"][1]["data-value"]), 0)
        self.assertEqual(hostile_row["syscall"][0], "fdatasync")
        self.assertEqual(hostile_row["device"][0], self.fs.name)
        # The name stayed text: no element made from it, and chromium serializes
        # it escaped (the & of "&amp;" too).
        self.assertNotIn("x", page.ids, "a process name became markup")
        self.assertIn("&lt;b id=x&gt;&amp;amp;", dom)
        for column in ("util", "writes", "written-bytes"):
            self.assertGreaterEqual(float(loop[column][1]["data-value"]), 0)
        self.assertGreater(float(loop["writes"][1]["data-value"]), 0,
                           "flushes are write requests in /proc/diskstats too")
        links = ('href="/metrics"', 'href="/healthz"')
        for link in links:
            self.assertIn(link, dom)

    def test_rates_are_the_counts_over_the_stated_window(self):
        gen = lib.IoGen(self, "fsync-loop", self.fs.path("exact.dat"), FSYNCS, wait=True)
        live_url = self.exporter.url("/?part=live")

        def own_rows(page, table, syscall=None):
            return [r for r in page.rows(table) if r.get("pid", ("",))[0] == str(gen.pid)
                    and syscall in (None, r["syscall"][0])]

        def own_row(page, table):
            rows = own_rows(page, table, "fsync")
            self.assertLessEqual(len(rows), 1, f"one row per (pid, syscall, disk): {rows}")
            return rows[0] if rows else None

        # The set-up's own bios (the first write and fsync) leave the window first.
        deadline = time.monotonic() + 60
        while own_rows(Page(get(live_url)[1]), "top-bios"):
            if time.monotonic() > deadline:
                self.fail("the set-up's bios never left the 10 s window")
            time.sleep(0.5)
        gen.go()
        self.assertEqual(gen.wait_done(self), FSYNCS)
        deadline = time.monotonic() + 60
        seen = []
        while True:
            page = Page(get(live_url)[1])
            row = own_row(page, "top-zero-byte-bios")
            if row:
                seen.append(int(row["rate"][1]["data-count"]))
                if seen[-1] == FSYNCS:
                    break
            if time.monotonic() > deadline or (seen and not row):
                self.fail(f"the window never held exactly {FSYNCS} zero-byte bios of "
                          f"pid {gen.pid}; counts seen: {seen}")
            time.sleep(0.2)
        self.assertEqual(row["syscall"][0], "fsync")
        self.assertEqual(row["device"][0], self.fs.name)
        window = page.window_seconds("process-rates")
        self.assertGreater(window, 0)
        rate = float(row["rate"][1]["data-value"])
        self.assertAlmostEqual(rate, FSYNCS / window, delta=FSYNCS / window * 1e-6,
                               msg=f"rate {rate} is not {FSYNCS} bios / {window} s")
        # The same window for all bios of the row (the journal may add a few).
        by_bios = own_row(page, "top-bios")
        count = int(by_bios["rate"][1]["data-count"])
        self.assertGreaterEqual(count, FSYNCS)
        self.assertAlmostEqual(float(by_bios["rate"][1]["data-value"]), count / window,
                               delta=count / window * 1e-6)


class CollectorsOffTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)

    def test_the_page_says_which_collector_is_off(self):
        for config, said in (("collectors:\n  bio:\n    enabled: false\n",
                              "The bio collector is off"),
                             ("collectors:\n  diskstats:\n    enabled: false\n",
                              "The diskstats collector is off")):
            with self.subTest(config=config):
                exporter = lib.Exporter(self, config)
                status, body = get(exporter.url("/"))
                self.assertEqual(status, 200)
                self.assertIn(said, body)
                self.assertIn('id="live"', body)
                self.assertEqual(exporter.stop(), 0)


class LandingPageAuthTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        if not CHROMIUM:
            self.fail("chromium is not installed (scripts/install-deps.sh test installs it)")

    def test_same_basic_auth_as_metrics_and_the_page_still_refreshes(self):
        line = lib.run("htpasswd", "-nbBC", "10", "viewer", "s3cret").stdout.strip()
        hashed = line.split(":", 1)[1]
        web = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
        self.addCleanup(os.unlink, web.name)
        web.write(f"basic_auth_users:\n  viewer: '{hashed}'\n")
        web.close()
        exporter = lib.Exporter(self, extra_args=[f"--web.config.file={web.name}"])
        for path in ("/", "/?part=live", "/metrics"):
            with self.assertRaises(urllib.error.HTTPError) as caught:
                get(exporter.url(path))
            self.assertEqual(caught.exception.code, 401, path)
            self.assertEqual(get(exporter.url(path), auth="viewer:s3cret")[0], 200, path)
        # A person who opens http://viewer:s3cret@host/ gets a page that
        # refreshes itself: the script's fetch carries the page's credentials.
        url = exporter.url("/").replace("http://", "http://viewer:s3cret@")
        deadline = time.monotonic() + 120
        while True:
            page = Page(chromium_dom(self, url))
            if int(page.body.get("data-refreshes", 0)) >= 1:
                break
            if time.monotonic() > deadline:
                self.fail("the page behind basic auth never refreshed itself")
            time.sleep(1)


if __name__ == "__main__":
    unittest.main()
