# libFuzzer targets for the text parsers (diskstats, config, /proc/<pid>/stat,
# web-config.yml, the shared YAML field reader with the listen address, HTTP
# request heads).
#
# CTest: fuzz.diskstats, fuzz.config, fuzz.proc_stat, fuzz.web_config, fuzz.yaml_fields,
# fuzz.http_request, fuzz.symbolize (label "fuzz") run tests/fuzz/run_fuzzers.sh,
# which builds each target with clang++ -fsanitize=fuzzer,address,undefined on its
# own (the main build may use g++) and runs it over its committed seed corpus for
# DISKIDLE_FUZZ_SECONDS (default 30). Any crash, leak, UB report or hang fails.
#
# With clang as the C++ compiler and -DDISKIDLE_BUILD_FUZZERS=ON, the same targets
# are also built in-tree (diskidle_fuzz_diskstats, diskidle_fuzz_config).

set(DISKIDLE_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DISKIDLE_FUZZ_SOURCE_ROOT ${PROJECT_SOURCE_DIR})

find_program(DISKIDLE_FUZZ_CLANGXX NAMES clang++ clang++-14)
if(DISKIDLE_FUZZ_CLANGXX)
  foreach(fuzz_target diskstats config proc_stat web_config yaml_fields http_request label_text symbolize)
    add_test(NAME fuzz.${fuzz_target}
             COMMAND bash ${DISKIDLE_FUZZ_DIR}/run_fuzzers.sh ${fuzz_target})
    set_tests_properties(fuzz.${fuzz_target} PROPERTIES
      LABELS fuzz
      TIMEOUT 900)
  endforeach()
else()
  message(STATUS "clang++ not found: fuzz tests not registered")
endif()

if(DISKIDLE_BUILD_FUZZERS AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  set(_fuzz_sources_diskstats
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/procfs/diskstats.cc
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/model/label_text.cc)
  set(_fuzz_sources_config
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/config/config.cc
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/config/yaml_fields.cc
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/config/listen_address.cc
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/model/attach_mode.cc
    ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter/util/read_file.cc)
  foreach(fuzz_target diskstats config)
    add_executable(diskidle_fuzz_${fuzz_target}
      ${DISKIDLE_FUZZ_DIR}/${fuzz_target}_fuzz.cc ${_fuzz_sources_${fuzz_target}})
    target_include_directories(diskidle_fuzz_${fuzz_target} PRIVATE
      ${DISKIDLE_FUZZ_SOURCE_ROOT}/exporter)
    target_compile_options(diskidle_fuzz_${fuzz_target} PRIVATE ${_fuzz_flags})
    target_link_options(diskidle_fuzz_${fuzz_target} PRIVATE ${_fuzz_flags})
    target_link_libraries(diskidle_fuzz_${fuzz_target} PRIVATE
      yaml-cpp absl::status absl::statusor absl::strings absl::str_format absl::time)
  endforeach()
elseif(DISKIDLE_BUILD_FUZZERS)
  message(STATUS "DISKIDLE_BUILD_FUZZERS needs clang as the C++ compiler; "
                 "tests/fuzz/run_fuzzers.sh builds them with clang++ instead")
endif()
