# Installs the build tree into a temporary prefix, checks hermod.pc, then
# configures, builds and runs install_consumer/ against that prefix.
#
#   cmake -DHERMOD_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=...
#         -DCXX_COMPILER=... -P install_test.cmake
foreach(var HERMOD_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: ${var} is not set")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/consumer-build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${HERMOD_BUILD_DIR} --prefix ${prefix})

foreach(f include/hermod/client.h include/hermod/status.h include/hermod/version.h)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB_RECURSE config_files ${prefix}/*/hermodConfig.cmake)
file(GLOB_RECURSE pc_files ${prefix}/*/hermod.pc)
if(NOT config_files OR NOT pc_files)
  message(FATAL_ERROR "hermodConfig.cmake or hermod.pc not installed under ${prefix}")
endif()

# The installed CLI runs from the prefix and finds the installed library.
run(${prefix}/bin/hermod --version)
if(NOT run_output MATCHES "^[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "installed hermod --version printed: ${run_output}")
endif()

# pkg-config, when available, must resolve the relocated prefix.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  get_filename_component(pc_dir ${pc_files} DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  run(${PKG_CONFIG} --cflags --libs hermod)
  string(REGEX MATCH "-I([^ \n]+)" include_flag "${run_output}")
  set(include_dir "${CMAKE_MATCH_1}")
  file(REAL_PATH "${include_dir}" include_dir)
  file(REAL_PATH "${prefix}/include" want_include_dir)
  if(NOT include_dir STREQUAL want_include_dir OR NOT run_output MATCHES "-lhermod")
    message(FATAL_ERROR "unexpected pkg-config output: ${run_output}")
  endif()
endif()

run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${consumer_build}
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run(${CMAKE_COMMAND} --build ${consumer_build})
# Port 1 on loopback: nothing listens there, so Connect must fail cleanly.
run(${consumer_build}/consumer 127.0.0.1:1)
if(NOT run_output MATCHES "^ok ")
  message(FATAL_ERROR "consumer printed: ${run_output}")
endif()
message(STATUS "install_consumer: ${run_output}")
