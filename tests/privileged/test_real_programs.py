"""Real programs from Debian, not workloads written for the tests: PostgreSQL
under pgbench, MariaDB (InnoDB writing its pages through io_uring), a JVM
forcing a FileChannel and dpkg installing a package. The exporter (built-in
defaults) must name them for the writes they cause on ext4, XFS and btrfs
(also compressed), whichever thread submits the bios: their own
fdatasync()/fsync() or io_uring submissions, the kernel's writeback of pages
they dirtied, or the journal commits they force.

Each bound is a share of every write byte the exporter counted on the device
in the same window (its complete view counts every bio once), cross-checked
with /proc/diskstats.
"""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest

from diskidle_testlib import (Exporter, complete_delta, diskstats, free_port, pids_in_view,
                              process_delta, require_privileges, run, tmpfs_loop_filesystem,
                              wait_for)

PG_BIN = "/usr/lib/postgresql/15/bin"  # Debian 12's postgresql-15
MARIADB_INSERTS = 300
HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_BLOCKS = 200
DEB_FILES, DEB_FILE_BYTES = 100, 65536


def run_to_end(cmd, timeout=120):
    """Runs `cmd` to its end (killed if it outlives `timeout`). Returns the
    finished process (for its pid and exit status), its stdout and stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc, out, err


def report(test, text):
    """The measured share, in the test log."""
    print(f"{test.id()}: {text}", file=sys.stderr)


class RealProgramsTest:
    fstype = None
    mount_options = ""

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, self.fstype, size_mb=1024,
                                        mount_options=self.mount_options)
        # The postgres user must reach its data directory below our temp dirs.
        for path in (os.path.dirname(self.fs.workdir), self.fs.workdir, self.fs.mountpoint):
            os.chmod(path, 0o755)
        self.exporter = Exporter(self)  # built-in defaults, as a user runs it

    def assert_written_for(self, before, after, disk_before, comm, share=0.95):
        """`comm` got at least `share` of the device's write bytes in the
        window, in both views. Returns the bytes written."""
        device = self.fs.name
        written = complete_delta(before, after, device=device, op="write").bytes
        disk_written = (diskstats(device)["sectors_written"] - disk_before["sectors_written"]) * 512
        self.assertGreater(written, 0)
        self.assertLess(abs(written - disk_written), 0.02 * disk_written,
                        f"exporter write bytes {written} vs diskstats {disk_written}")
        theirs = complete_delta(before, after, device=device, op="write", comm=comm).bytes
        per_process = process_delta(before, after, device=device, op="write", comm=comm).bytes
        report(self, f"{theirs / written:.2%} of {written} written bytes counted for {comm}")
        self.assertGreaterEqual(theirs, share * written,
                                f"of {written} bytes written to {device}, {theirs} counted "
                                f"for {comm}")
        self.assertEqual(per_process, theirs, "the per-process view agrees with the complete view")
        return written

    def test_postgres_pgbench_writes_are_counted_for_postgres(self):
        self.assertTrue(os.path.exists(f"{PG_BIN}/postgres"),
                        "postgresql-15 is missing: scripts/install-deps.sh test installs it")
        user = pwd.getpwnam("postgres")
        os.chown(self.fs.mountpoint, user.pw_uid, user.pw_gid)
        data, port = self.fs.path("pgdata"), str(free_port())
        as_postgres = ["runuser", "-u", "postgres", "--"]
        connect = ["-h", self.fs.mountpoint, "-p", port]
        run(*as_postgres, f"{PG_BIN}/initdb", "-D", data, "-A", "trust")
        # Registered before the start, so a half-started server is stopped too
        # (and before the unmount, which runs after it).
        self.addCleanup(subprocess.run, as_postgres + [f"{PG_BIN}/pg_ctl", "-D", data, "-m",
                                                       "immediate", "stop"],
                        capture_output=True, timeout=60)
        run(*as_postgres, f"{PG_BIN}/pg_ctl", "-D", data, "-w", "-l", self.fs.path("pg.log"),
            "-o", f"-k {self.fs.mountpoint} -p {port} -c listen_addresses=''", "start")
        run(*as_postgres, f"{PG_BIN}/pgbench", *connect, "-i", "-s", "2", "postgres")
        checkpointer = run(*as_postgres, f"{PG_BIN}/psql", *connect, "-Atc",
                           "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
                           "postgres").stdout.strip()

        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        run(*as_postgres, f"{PG_BIN}/pgbench", *connect, "-c", "4", "-j", "2", "-T", "4",
            "postgres")
        run(*as_postgres, f"{PG_BIN}/psql", *connect, "-c", "CHECKPOINT", "postgres")
        after = self.exporter.scrape()

        self.assert_written_for(before, after, disk_before, "postgres")
        device = self.fs.name
        # Commits flush the WAL with fdatasync() (wal_sync_method's default on
        # Linux); the checkpoint fsync()s the table files, in the checkpointer.
        self.assertGreater(complete_delta(before, after, device=device, comm="postgres",
                                          syscall="fdatasync", op="write").bytes, 0)
        self.assertGreater(process_delta(before, after, device=device, pid=checkpointer,
                                         comm="postgres", syscall="fsync", op="write").bytes, 0,
                           f"the checkpointer (pid {checkpointer}) fsync()ed the tables")
        # Four clients' backends commit for themselves: more than one pid.
        self.assertGreaterEqual(len(pids_in_view(after, comm="postgres", device=device)), 3)

    def test_mariadb_commits_and_io_uring_page_writes_are_counted_for_mariadbd(self):
        """Debian 12's MariaDB 10.11: each autocommit INSERT writes the redo log
        (O_DIRECT pwrite) and fdatasync()s it; at shutdown the buffer pool's
        dirty pages go out through io_uring (InnoDB's default where the kernel
        has it), submitted by its own threads."""
        self.assertTrue(shutil.which("mariadbd") and shutil.which("mariadb-install-db"),
                        "mariadb-server is missing: scripts/install-deps.sh test installs it")
        user = pwd.getpwnam("mysql")
        data = self.fs.path("mariadb")
        os.mkdir(data)
        os.chown(data, user.pw_uid, user.pw_gid)
        # --no-defaults: nothing of the system's /etc/mysql applies (its socket,
        # port and log paths belong to Debian's own server).
        base = ["--no-defaults", f"--datadir={data}", "--user=mysql"]
        run("mariadb-install-db", *base, "--auth-root-authentication-method=normal",
            "--skip-test-db", timeout=180)
        socket, log = os.path.join(data, "sock"), os.path.join(data, "server.log")
        client = ["mariadb", "--no-defaults", f"--socket={socket}", "-u", "root"]
        server = subprocess.Popen(["mariadbd", *base, f"--socket={socket}", "--skip-networking",
                                   f"--log-error={log}", f"--pid-file={data}/pid",
                                   "--innodb-buffer-pool-size=64M"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop_server():  # before the unmount (cleanups run last-in, first-out)
            if server.poll() is None:
                server.kill()
            server.wait(timeout=60)
        self.addCleanup(stop_server)

        def ready():
            if server.poll() is not None:
                with open(log) as f:
                    self.fail(f"mariadbd exited with {server.returncode}: {f.read()[-2000:]}")
            return subprocess.run(client + ["-e", "SELECT 1"], capture_output=True).returncode == 0
        wait_for("mariadbd to accept connections", ready, timeout=120)
        with open(log) as f:
            self.assertIn("Using io_uring", f.read(),
                          "InnoDB did not take io_uring (its log says why): nothing here would "
                          "test the io_uring path")
        run(*client, "-e", "CREATE DATABASE t; CREATE TABLE t.rows "
            "(id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200)) ENGINE=InnoDB")

        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        inserts = "".join("INSERT INTO t.rows (v) VALUES (REPEAT('x', 200));\n"
                          for _ in range(MARIADB_INSERTS))
        run(*client, input=inserts)
        # A clean shutdown writes every dirty page of the buffer pool.
        server.terminate()
        self.assertEqual(server.wait(timeout=120), 0, "mariadbd's shutdown failed")
        after = self.exporter.scrape()

        self.assert_written_for(before, after, disk_before, "mariadbd")
        device, pid = self.fs.name, str(server.pid)
        # One redo log flush per autocommit at least (innodb_flush_log_at_trx_commit=1).
        commits = process_delta(before, after, device=device, pid=pid, comm="mariadbd",
                                syscall="fdatasync", op="flush").bios
        report(self, f"{commits} flushes under fdatasync for {MARIADB_INSERTS} commits")
        self.assertGreaterEqual(commits, MARIADB_INSERTS)
        pages = process_delta(before, after, device=device, pid=pid, comm="mariadbd",
                              syscall="io_uring", op="write").bytes
        report(self, f"{pages} bytes of pages written through io_uring")
        self.assertGreaterEqual(pages, 16384, "not even one 16 KiB page under io_uring")

    def test_jvm_force_is_counted_for_java(self):
        path = self.fs.path("forced")
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        java, out, err = run_to_end(["java", os.path.join(HERE, "programs", "ForceWriter.java"),
                                     path, str(JAVA_BLOCKS)])
        self.assertEqual(java.returncode, 0, f"java failed: {err}")
        self.assertEqual(out.strip(), f"done {JAVA_BLOCKS}")
        after = self.exporter.scrape()

        self.assert_written_for(before, after, disk_before, "java")
        # Every block reached the disk under force(false), i.e. fdatasync(),
        # for the JVM's own pid.
        forced = process_delta(before, after, device=self.fs.name, pid=str(java.pid), comm="java",
                               syscall="fdatasync", op="write").bytes
        self.assertGreaterEqual(forced, JAVA_BLOCKS * 4096)

    def build_package(self):
        """A .deb of DEB_FILES random files, built outside the device."""
        work = tempfile.mkdtemp(prefix="diskidle-deb-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        tree = os.path.join(work, "pkg")
        os.makedirs(os.path.join(tree, "DEBIAN"))
        with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
            f.write("Package: diskidle-test-payload\nVersion: 1.0\nArchitecture: all\n"
                    "Maintainer: diskidle tests <tests@example.org>\n"
                    "Description: files for test_real_programs\n")
        payload = os.path.join(tree, "usr", "share", "diskidle-test-payload")
        os.makedirs(payload)
        for i in range(DEB_FILES):
            with open(os.path.join(payload, f"file{i}"), "wb") as f:
                f.write(os.urandom(DEB_FILE_BYTES))
        deb = os.path.join(work, "payload.deb")
        run("dpkg-deb", "--build", tree, deb)
        return deb

    def test_dpkg_install_is_counted_for_dpkg(self):
        deb = self.build_package()
        # An empty dpkg database in a root on the device: dpkg --root installs
        # there as it would on a real system (write, sync_file_range, fsync,
        # rename per file).
        root = self.fs.path("root")
        for d in ("info", "updates"):
            os.makedirs(os.path.join(root, "var", "lib", "dpkg", d))
        open(os.path.join(root, "var", "lib", "dpkg", "status"), "w").close()
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        dpkg, out, err = run_to_end(["dpkg", f"--root={root}", "--force-bad-path", "-i", deb])
        self.assertEqual(dpkg.returncode, 0, f"dpkg failed: {out}{err}")
        self.assertEqual(len(os.listdir(os.path.join(root, "usr", "share",
                                                     "diskidle-test-payload"))), DEB_FILES)
        after = self.exporter.scrape()

        self.assert_written_for(before, after, disk_before, "dpkg")
        # The unpacked files reached the disk under dpkg's own pid.
        self.assertGreaterEqual(process_delta(before, after, device=self.fs.name,
                                              pid=str(dpkg.pid), comm="dpkg", op="write").bytes,
                                DEB_FILES * DEB_FILE_BYTES)


class Ext4(RealProgramsTest, unittest.TestCase):
    fstype = "ext4"


class Xfs(RealProgramsTest, unittest.TestCase):
    fstype = "xfs"


class Btrfs(RealProgramsTest, unittest.TestCase):
    fstype = "btrfs"


class BtrfsCompressed(RealProgramsTest, unittest.TestCase):
    """btrfs compresses in kworkers from pages of its own: 96% for postgres
    before those writes were traced back to the file (bpf/owner_attribution.bpf.h)."""
    fstype = "btrfs"
    mount_options = "compress=zstd"


if __name__ == "__main__":
    unittest.main()
