# Debian's 6.1, 6.12 and 7.3 kernels booted under qemu with software emulation
# (TCG: this VM's /dev/kvm cannot run stock kernels), the exporter built here
# inside each, attach tp_btf and raw_tp in one boot (tests/kernel/test_kernel.py).
# Needs root, qemu-system-x86, busybox-static, cpio and the Debian archive on
# the first run; the kernels are cached in /var/cache/diskidle-test-kernels
# (DISKIDLE_KERNEL_CACHE). One boot per test, 8-15 s each once cached (measured).
foreach(kernel 6.1 6.12 7.3)
  add_test(NAME kernel.linux-${kernel}
           COMMAND python3 -m unittest -v test_kernel
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(kernel.linux-${kernel} PROPERTIES
    LABELS kernel
    TIMEOUT 900
    ENVIRONMENT "${DISKIDLE_TEST_ENV};DISKIDLE_KERNEL=${kernel}")
endforeach()
# Below the minimum (5.15): the exporter must refuse to start, saying why.
add_test(NAME kernel.linux-5.10-refused
         COMMAND python3 -m unittest -v test_kernel
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(kernel.linux-5.10-refused PROPERTIES
  LABELS kernel
  TIMEOUT 900
  ENVIRONMENT "${DISKIDLE_TEST_ENV};DISKIDLE_KERNEL=5.10")
