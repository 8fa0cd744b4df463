# primus_module(NAME DEPS...): one static library per folder of src/ (the folder is the
# architecture). Sources are globbed so that adding a file needs no CMake edit.
function(primus_module name)
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(_srcs)
    add_library(primus_${name} STATIC ${_srcs})
    target_include_directories(primus_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(primus_${name} PUBLIC ${ARGN})
  else()
    add_library(primus_${name} INTERFACE)
    target_include_directories(primus_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(primus_${name} INTERFACE ${ARGN})
  endif()
endfunction()

# primus_test_suite(MODULE LIBS...): tests/MODULE/*_test.cpp -> one GoogleTest binary, each
# test registered with CTest. Tests find the repo and shared/ through compile definitions.
function(primus_test_suite module)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${module}/*_test.cpp)
  if(NOT _srcs)
    return()
  endif()
  add_executable(test_${module} ${_srcs})
  target_link_libraries(test_${module} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
  target_include_directories(test_${module} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_${module} PRIVATE
    PRIMUS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    PRIMUS_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared"
    PRIMUS_BINARY_DIR="${CMAKE_BINARY_DIR}"
    PRIMUS_BINARY="$<TARGET_FILE:primus>")
  # Suites that run the binary (cli, migrate, end-to-end) build it first.
  if(module MATCHES "^(cli|migrate|train|data|parallel)$")
    add_dependencies(test_${module} primus)
  endif()
  gtest_discover_tests(test_${module}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${module})
endfunction()
