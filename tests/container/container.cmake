# The container image: podman build of the Dockerfile + a least-privilege run
# that must attribute a host fsync loop (tests/container/test_container.py).
# Needs root, podman, runc, debootstrap and deb.debian.org for apt in the build.
add_test(NAME container.image
         COMMAND python3 -m unittest -v test_container
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(container.image PROPERTIES
  LABELS container
  RUN_SERIAL TRUE
  TIMEOUT 2400
  ENVIRONMENT "${DISKIDLE_TEST_ENV}")

# The .deb (cpack) installed with apt-get in a fresh Debian container, offline;
# systemd-analyze verify of the unit there; the binary runs --version.
add_test(NAME container.deb
         COMMAND python3 -m unittest -v test_deb
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(container.deb PROPERTIES
  LABELS container
  RUN_SERIAL TRUE
  TIMEOUT 1800
  ENVIRONMENT "${DISKIDLE_TEST_ENV}")
