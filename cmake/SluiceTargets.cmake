# The one place that says how a Sluice target is built. Every library, executable and test is
# declared through these functions so that warnings, sanitizers and include layout are uniform.
#
#   sluice_library(NAME <n> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#       static library `sluice_<n>`, alias `sluice::<n>`, public headers in ./include
#   sluice_executable(NAME <n> SOURCES ... [DEPS ...])
#   sluice_test(NAME <n> SOURCES ... [DEPS ...] [TIMEOUT s] [LABELS ...])
#       doctest binary registered with ctest
#   sluice_flatbuffers(TARGET <library> SCHEMAS ...)
#       generates <schema>_generated.h at build time into the build tree (never committed)
#   sluice_fuzzer(NAME <n> SOURCES ... [DEPS ...])
#       libFuzzer binary `fuzz_<n>` (SLUICE_FUZZ builds only; tests/fuzz/README.md)

set(SLUICE_WARNINGS -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
set(SLUICE_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
if(SLUICE_TSAN)
    set(SLUICE_SANITIZE ON)
    set(SLUICE_SANITIZER_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
    # GCC 12 warns that ThreadSanitizer does not model atomic_thread_fence, which Asio uses; the
    # warning says nothing about this code, and warnings are errors.
    list(APPEND SLUICE_WARNINGS -Wno-tsan)
endif()
# A fuzz build (clang) instruments every target for libFuzzer's coverage feedback and checks it
# with ASan + UBSan; only sluice_fuzzer() binaries link libFuzzer itself (-fsanitize=fuzzer).
set(SLUICE_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=all)

function(_sluice_common target)
    target_compile_options(${target} PRIVATE ${SLUICE_WARNINGS})
    if(SLUICE_SANITIZE)
        target_compile_options(${target} PRIVATE ${SLUICE_SANITIZER_FLAGS})
        target_link_options(${target} PRIVATE ${SLUICE_SANITIZER_FLAGS})
    endif()
    if(SLUICE_FUZZ)
        target_compile_options(${target} PRIVATE ${SLUICE_FUZZ_FLAGS})
        target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    endif()
endfunction()

function(sluice_library)
    cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
    set(target sluice_${ARG_NAME})
    add_library(${target} STATIC ${ARG_SOURCES})
    add_library(sluice::${ARG_NAME} ALIAS ${target})
    target_include_directories(${target} PUBLIC
        $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
        $<INSTALL_INTERFACE:include>)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${ARG_NAME} POSITION_INDEPENDENT_CODE ON)
    _sluice_common(${target})
endfunction()

function(sluice_executable)
    cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
    add_executable(${ARG_NAME} ${ARG_SOURCES})
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
    _sluice_common(${ARG_NAME})
endfunction()

function(sluice_test)
    cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
    set(target test_${ARG_NAME})
    add_executable(${target} ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE sluice_test_main ${ARG_DEPS})
    _sluice_common(${target})
    add_test(NAME ${ARG_NAME} COMMAND ${target})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 300)
    endif()
    set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

function(sluice_fuzzer)
    cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
    set(target fuzz_${ARG_NAME})
    add_executable(${target} ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE ${ARG_DEPS})
    _sluice_common(${target})
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
    set_property(GLOBAL APPEND PROPERTY SLUICE_FUZZERS ${target})
endfunction()

function(sluice_flatbuffers)
    cmake_parse_arguments(ARG "" "TARGET" "SCHEMAS" ${ARGN})
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/generated/sluice/fbs)
    set(outputs)
    foreach(schema ${ARG_SCHEMAS})
        get_filename_component(abs ${schema} ABSOLUTE)
        get_filename_component(stem ${schema} NAME_WE)
        set(out ${out_dir}/${stem}_generated.h)
        add_custom_command(
            OUTPUT ${out}
            COMMAND flatbuffers::flatc --cpp --scoped-enums -o ${out_dir} ${abs}
            DEPENDS ${abs} flatbuffers::flatc
            COMMENT "flatc ${stem}.fbs"
            VERBATIM)
        list(APPEND outputs ${out})
    endforeach()
    target_sources(${ARG_TARGET} PRIVATE ${outputs})
    target_include_directories(${ARG_TARGET} SYSTEM PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/generated>)
    target_link_libraries(${ARG_TARGET} PUBLIC flatbuffers::flatbuffers)
endfunction()

# ---- Installation: the client libraries as a CMake package ----
#
#   cmake --install <build> --prefix P
#
# installs the static libraries sluice_protocol, sluice_client, sluice_producer and
# sluice_consumer, their public headers (with the generated sluice_generated.h, which the
# protocol headers include), and P/lib/cmake/Sluice/SluiceConfig.cmake (+ version file), so that
# a project does `find_package(Sluice REQUIRED)` and links Sluice::producer, Sluice::consumer,
# Sluice::client or Sluice::protocol. examples/produce_consume is such a project.
#
# The rules are added once every target exists: the call is deferred to the end of the
# directory that includes this file (the top level).
set(SLUICE_INSTALLED_LIBRARIES protocol client producer consumer)

function(_sluice_install_package)
    include(GNUInstallDirs)
    include(CMakePackageConfigHelpers)
    set(package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Sluice)
    set(targets)
    foreach(lib ${SLUICE_INSTALLED_LIBRARIES})
        if(NOT TARGET sluice_${lib})
            message(STATUS "Sluice package: sluice_${lib} does not exist; nothing is installed")
            return()
        endif()
        list(APPEND targets sluice_${lib})
        install(DIRECTORY ${PROJECT_SOURCE_DIR}/${lib}/include/
            DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
            FILES_MATCHING PATTERN "*.h")
    endforeach()
    install(TARGETS ${targets} EXPORT SluiceTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    install(FILES ${PROJECT_BINARY_DIR}/protocol/generated/sluice/fbs/sluice_generated.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sluice/fbs)
    install(EXPORT SluiceTargets NAMESPACE Sluice:: DESTINATION ${package_dir})
    configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/SluiceConfig.cmake.in
        ${PROJECT_BINARY_DIR}/SluiceConfig.cmake INSTALL_DESTINATION ${package_dir})
    write_basic_package_version_file(${PROJECT_BINARY_DIR}/SluiceConfigVersion.cmake
        VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
    install(FILES ${PROJECT_BINARY_DIR}/SluiceConfig.cmake
        ${PROJECT_BINARY_DIR}/SluiceConfigVersion.cmake DESTINATION ${package_dir})
endfunction()

cmake_language(DEFER CALL _sluice_install_package)
