# bpf_object(<name> <source.bpf.c>)
#
# Compiles a BPF C file with clang for the BPF target, embeds the object in a
# libbpf skeleton header (<name>.skel.h, via `bpftool gen skeleton`) and yields
# an INTERFACE library <name>_skel whose include path has that header.
# Nothing here reads the build host's /sys/kernel/btf: kernel types come from
# bpf/vmlinux_min.h and are relocated at load time (CO-RE).

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "diskidle: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR} (x86_64 and arm64 are)")
endif()

# The clang flags of every BPF object but its target architecture
# (-D__TARGET_ARCH_<arch>). tests/arch/ builds the other architecture's objects
# with exactly these, so that what it checks is what a build there makes.
set(BPF_CFLAGS -g -O2 -Wall -target bpf)

function(bpf_object name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(skel ${skel_dir}/${name}.skel.h)
  file(GLOB bpf_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} ${BPF_CFLAGS} -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -I${CMAKE_CURRENT_SOURCE_DIR} -I${PROJECT_SOURCE_DIR}/bpf -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${source} ${bpf_headers}
    COMMENT "BPF ${source}")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h")
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${skel_dir} ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
