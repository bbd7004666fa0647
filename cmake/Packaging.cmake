# `cpack -G DEB` in the build directory makes
# diskidle-exporter_<version>_<arch>.deb: the binary, the systemd unit and the
# config file (a conffile), with Depends computed by dpkg-shlibdeps from the
# libraries the binary links. Component "exporter" is the binary alone (what
# the container image installs); "host" adds the unit and /etc files.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/diskidle-exporter.service
        DESTINATION lib/systemd/system COMPONENT host)
# An absolute destination: /etc is not under the package prefix (/usr).
install(FILES ${PROJECT_SOURCE_DIR}/config/diskidle.yaml
        DESTINATION /etc/diskidle_exporter RENAME config.yaml COMPONENT host)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME diskidle-exporter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "diskidle_exporter maintainers <diskidle@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Prometheus exporter of per-process block I/O by syscall, op and size (eBPF)")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Attributes block I/O, including zero-byte flushes, to the process, syscall, op
 and size that caused it, next to /proc/diskstats. Runs as a systemd service
 with only CAP_BPF and CAP_PERFMON.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/diskidle/diskidle_exporter")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # diskidle-exporter_0.1.0_amd64.deb
# Depends from the ELF's NEEDED libraries, as Debian's own packages get them.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ...plus /bin/kill for the unit's ExecReload (SIGHUP re-reads the config).
set(CPACK_DEBIAN_PACKAGE_DEPENDS procps)
# systemd-analyze, the unit's consumer, comes with systemd; not every host
# using the .deb runs systemd (containers), so it is only recommended.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS systemd)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# One package with every component (binary, unit, config).
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_STRIP_FILES ON)
include(CPack)
