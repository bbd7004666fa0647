"""The .deb, as an operator installs it: `apt-get install ./diskidle-exporter_*.deb`
in a fresh Debian 12 container (the debootstrapped minbase image of
test_container.py), with no network. The unit then passes `systemd-analyze
verify` there, the shipped config file is a conffile the binary accepts, and
the binary runs `--version`.

Offline: the Depends (and systemd, for systemd-analyze) are resolved on the
host with apt-cache, the packages the image lacks are fetched once with
`apt-get download` into /var/cache/diskidle-test/debs, and the container sees
them as a local file: repository, its only apt source (--network=none).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "privileged"))
import diskidle_testlib as lib  # noqa: E402
from test_container import BASE_IMAGE, CACHE_DIR, PODMAN_RUN, ensure_base_image, sh  # noqa: E402

BUILD_DIR = os.environ.get("DISKIDLE_BUILD_DIR")
DEB_CACHE = os.path.join(CACHE_DIR, "debs")
UNIT = "/usr/lib/systemd/system/diskidle-exporter.service"
CONFIG = "/etc/diskidle_exporter/config.yaml"
RUN = [*PODMAN_RUN, "--rm", "--network=none", "--ulimit", "nofile=1024:1024",
       "--ulimit", "nproc=1024:1024"]


def package_names(depends):
    """Package names of a Depends field (alternatives: every one of them)."""
    return {re.split(r"[\s(:]", alt.strip())[0]
            for part in depends.split(",") for alt in part.split("|") if alt.strip()}


def closure(packages):
    """Real packages the given ones need, recursively (Depends and Pre-Depends)."""
    out = sh("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
             *sorted(packages)).stdout
    return {line.strip() for line in out.splitlines()
            if line and not line.startswith(" ") and not line.startswith("<")}


class DebPackageTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        for tool in ("podman", "runc", "cpack", "dpkg-scanpackages", "apt-get"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found (podman runc cmake dpkg-dev apt)")
        if not BUILD_DIR:
            self.fail("DISKIDLE_BUILD_DIR not set: run through ctest")
        self.dir = tempfile.mkdtemp(prefix="diskidle-deb-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def build_deb(self):
        sh("cpack", "-G", "DEB", "-B", self.dir, "--config",
           os.path.join(BUILD_DIR, "CPackConfig.cmake"), timeout=600)
        debs = glob.glob(os.path.join(self.dir, "diskidle-exporter_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(self.dir))
        return debs[0]

    def local_repository(self, deb, image_packages):
        """A file: repository with every package the image lacks for `deb` + systemd."""
        depends = sh("dpkg-deb", "-f", deb, "Depends").stdout
        self.assertIn("libc6", depends, "Depends computed by dpkg-shlibdeps")
        needed = closure(package_names(depends) | {"systemd"}) - image_packages
        os.makedirs(DEB_CACHE, exist_ok=True)
        have = {os.path.basename(p).split("_")[0] for p in glob.glob(f"{DEB_CACHE}/*.deb")}
        missing = sorted(needed - have)
        if missing:
            subprocess.run(["apt-get", "download", *missing], cwd=DEB_CACHE, check=True,
                           capture_output=True, text=True, timeout=600)
        repo = os.path.join(self.dir, "repo")
        os.makedirs(repo)
        for name in needed:
            for path in glob.glob(f"{DEB_CACHE}/{name}_*.deb"):
                target = os.path.join(repo, os.path.basename(path))
                try:
                    os.link(path, target)
                except OSError:  # another file system: copy
                    shutil.copy(path, target)
        packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo,
                                  capture_output=True, text=True, check=True).stdout
        with open(os.path.join(repo, "Packages"), "w") as f:
            f.write(packages)
        shutil.copy(deb, repo)
        return repo

    def test_apt_installs_the_deb_offline_and_the_unit_verifies(self):
        ensure_base_image()
        deb = self.build_deb()
        contents = sh("dpkg-deb", "-c", deb).stdout
        for path in ("./usr/bin/diskidle_exporter", "." + UNIT, "." + CONFIG):
            self.assertIn(path, contents)
        image_packages = set(sh(*RUN, BASE_IMAGE,
                                "dpkg-query", "-W", "-f", "${Package}\\n").stdout.split())
        repo = self.local_repository(deb, image_packages)
        script = f"""set -eu
echo 'deb [trusted=yes] file:/repo ./' > /tmp/sources.list
APT="-o Dir::Etc::SourceList=/tmp/sources.list -o Dir::Etc::SourceParts=/nonexistent"
apt-get $APT update -qq
# The package alone first: its Depends must bring every library the binary loads.
DEBIAN_FRONTEND=noninteractive apt-get $APT install -y -qq --no-install-recommends \\
    /repo/{os.path.basename(deb)} >/tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 10; }}
echo "conffiles: $(dpkg-query -W -f '${{Conffiles}}' diskidle-exporter)"
/usr/bin/diskidle_exporter --version
/usr/bin/diskidle_exporter --check_config --config.file={CONFIG} >/dev/null && echo config-ok
# Then systemd, for systemd-analyze.
DEBIAN_FRONTEND=noninteractive apt-get $APT install -y -qq --no-install-recommends \\
    systemd >/tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 11; }}
systemd-analyze verify {UNIT} && echo verify-ok
"""
        result = sh(*RUN, "-v", f"{repo}:/repo:ro", BASE_IMAGE,
                    "bash", "-c", script, check=False, timeout=900)
        output = result.stdout + result.stderr
        print(output, flush=True)
        self.assertEqual(result.returncode, 0, output)
        self.assertRegex(output, rf"conffiles:\s+{re.escape(CONFIG)} [0-9a-f]{{32}}",
                         "the config file is a conffile (an edited one survives upgrades)")
        self.assertIn("verify-ok", output)
        self.assertRegex(output, r"(?m)^diskidle_exporter \d+\.\d+\.\d+$")
        self.assertIn("config-ok", output)


if __name__ == "__main__":
    unittest.main()
