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

set(SLUICE_WARNINGS -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
set(SLUICE_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

function(_sluice_common target)
    target_compile_options(${target} PRIVATE ${SLUICE_WARNINGS})
    if(SLUICE_SANITIZE)
        target_compile_options(${target} PRIVATE ${SLUICE_SANITIZER_FLAGS})
        target_link_options(${target} PRIVATE ${SLUICE_SANITIZER_FLAGS})
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
