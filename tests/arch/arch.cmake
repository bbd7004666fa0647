# Label `build`: what a build for another architecture would get wrong, checked
# on this one (our machines are all x86_64). No root needed but for the cache
# directory; the first run fetches ~60 MB from deb.debian.org, later ones reuse
# the cache (tests/arch/fetch_debian_arm64.sh).
#  - arm64.fetch_debian: Debian's arm64 kernel headers and kernel BTF, cached;
#  - arm64.bpf_objects: every bpf/*.bpf.c built for arm64, checked against that
#    kernel's BTF (tests/arch/check_bpf_objects.py);
#  - arm64.syscall_numbers, x86_64.syscall_numbers: the exporter's syscall
#    tables against each architecture's headers (check_syscall_numbers.py).
include(BpfObject)  # BPF_CLANG, BPFTOOL, BPF_CFLAGS: the flags of the real build
find_program(LLVM_OBJDUMP NAMES llvm-objdump llvm-objdump-14 REQUIRED)
set(DISKIDLE_ARM64_CACHE /var/cache/diskidle-test-arm64 CACHE PATH
    "where tests/arch/fetch_debian_arm64.sh keeps Debian's arm64 headers and kernel BTF")
set(arch_dir ${CMAKE_CURRENT_LIST_DIR})

add_executable(diskidle-syscall-table ${arch_dir}/../tools/syscall_table.cc)
target_link_libraries(diskidle-syscall-table PRIVATE diskidle_lib)

add_test(NAME arm64.fetch_debian COMMAND ${arch_dir}/fetch_debian_arm64.sh ${DISKIDLE_ARM64_CACHE})
set_tests_properties(arm64.fetch_debian PROPERTIES
  FIXTURES_SETUP debian_arm64 LABELS "build;arm64" TIMEOUT 600)

add_test(NAME arm64.bpf_objects
  COMMAND python3 ${arch_dir}/check_bpf_objects.py --source-dir ${PROJECT_SOURCE_DIR}
    --btf ${DISKIDLE_ARM64_CACHE}/vmlinux.btf --clang ${BPF_CLANG} --bpftool ${BPFTOOL}
    --llvm-objdump ${LLVM_OBJDUMP} "--cflags=${BPF_CFLAGS}")
set_tests_properties(arm64.bpf_objects PROPERTIES
  FIXTURES_REQUIRED debian_arm64 LABELS "build;arm64" TIMEOUT 300)

add_test(NAME arm64.syscall_numbers
  COMMAND python3 ${arch_dir}/check_syscall_numbers.py --arch arm64
    --table-tool $<TARGET_FILE:diskidle-syscall-table> --source-dir ${PROJECT_SOURCE_DIR}
    --clang ${BPF_CLANG} --include ${DISKIDLE_ARM64_CACHE}/include/aarch64-linux-gnu
    --include ${DISKIDLE_ARM64_CACHE}/include)
set_tests_properties(arm64.syscall_numbers PROPERTIES
  FIXTURES_REQUIRED debian_arm64 LABELS "build;arm64" TIMEOUT 120)

# x86_64's numbers come from this machine's own linux-libc-dev (on an arm64
# build host, arm64.syscall_numbers above is the native check).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
add_test(NAME x86_64.syscall_numbers
  COMMAND python3 ${arch_dir}/check_syscall_numbers.py --arch x86_64
    --table-tool $<TARGET_FILE:diskidle-syscall-table> --source-dir ${PROJECT_SOURCE_DIR}
    --clang ${BPF_CLANG} --include /usr/include/x86_64-linux-gnu --include /usr/include)
set_tests_properties(x86_64.syscall_numbers PROPERTIES LABELS build TIMEOUT 120)
endif()
