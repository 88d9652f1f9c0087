# Sanitizer builds and libFuzzer targets.
#
#   -DATTNGEN_SANITIZE=address,undefined   ASan + UBSan (+ LeakSanitizer, on by
#                                           default with ASan on Linux)
#   -DATTNGEN_SANITIZE=thread              ThreadSanitizer
#   -DATTNGEN_BUILD_FUZZERS=ON             libFuzzer targets of fuzz/ (clang
#                                           only); the instrumented targets also
#                                           get -fsanitize=fuzzer-no-link, so the
#                                           readers and the runtime give the
#                                           fuzzers coverage feedback
#
# The flags go to every C/C++ target this project compiles (runtime, I/O,
# CLI, tests, fuzzers) except the Halide generator executables, which run
# at build time and would only get slower (ATTNGEN_SANITIZE_EXCLUDE). The
# generated kernel objects are not compiled by the C++ compiler and are not
# instrumented.
#
# Included near the end of the top-level CMakeLists.txt, after every target
# (tests included) has been defined.

set(ATTNGEN_SANITIZE "" CACHE STRING
    "Comma-separated -fsanitize= list for the runtime, I/O, CLI, tests and fuzzers (e.g. address,undefined or thread)")
option(ATTNGEN_BUILD_FUZZERS "Build the libFuzzer targets of fuzz/ (clang)" OFF)
set(ATTNGEN_SANITIZE_EXCLUDE attngen_generators CACHE STRING
    "Targets never instrumented (the Halide generators run at build time)")

if (ATTNGEN_BUILD_FUZZERS AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ATTNGEN_BUILD_FUZZERS needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
endif ()
if (ATTNGEN_SANITIZE MATCHES "thread" AND ATTNGEN_SANITIZE MATCHES "address")
    message(FATAL_ERROR "ATTNGEN_SANITIZE: thread and address cannot be combined")
endif ()

set(_attngen_san_compile "")
set(_attngen_san_link "")
if (NOT ATTNGEN_SANITIZE STREQUAL "")
    string(REPLACE ";" "," _san "${ATTNGEN_SANITIZE}")
    # Any finding is fatal (UBSan otherwise prints and continues), frame
    # pointers for readable stacks.
    list(APPEND _attngen_san_compile -fsanitize=${_san} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
    list(APPEND _attngen_san_link -fsanitize=${_san} -fno-sanitize-recover=all)
    # Calls through the kernel table cast void* to the kernel's type, which
    # clang's -fsanitize=function cannot check on uninstrumented (Halide)
    # code; it adds nothing here.
    if (CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND _san MATCHES "undefined")
        list(APPEND _attngen_san_compile -fno-sanitize=function)
        list(APPEND _attngen_san_link -fno-sanitize=function)
    endif ()
endif ()
if (ATTNGEN_BUILD_FUZZERS)
    list(APPEND _attngen_san_compile -fsanitize=fuzzer-no-link)
    if (ATTNGEN_SANITIZE STREQUAL "")
        # The coverage hooks live in the sanitizer runtimes.
        message(FATAL_ERROR "ATTNGEN_BUILD_FUZZERS needs ATTNGEN_SANITIZE (e.g. -DATTNGEN_SANITIZE=address,undefined)")
    endif ()
    add_subdirectory(fuzz)
endif ()

# Every buildsystem target of a directory and its subdirectories.
function(_attngen_collect_targets dir out)
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
    foreach (sub IN LISTS subdirs)
        _attngen_collect_targets("${sub}" sub_targets)
        list(APPEND targets ${sub_targets})
    endforeach ()
    set(${out} ${targets} PARENT_SCOPE)
endfunction()

if (_attngen_san_compile)
    _attngen_collect_targets("${CMAKE_CURRENT_SOURCE_DIR}" _attngen_all_targets)
    set(_attngen_instrumented "")
    foreach (t IN LISTS _attngen_all_targets)
        if (t IN_LIST ATTNGEN_SANITIZE_EXCLUDE)
            continue()
        endif ()
        get_target_property(type ${t} TYPE)
        if (NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY)$")
            continue()
        endif ()
        # Targets made of generated objects only (Halide kernel libraries
        # and runtimes) compile nothing.
        get_target_property(srcs ${t} SOURCES)
        set(compiles FALSE)
        foreach (s IN LISTS srcs)
            if (s MATCHES "\\.(c|cc|cpp|cxx)$")
                set(compiles TRUE)
            endif ()
        endforeach ()
        if (NOT compiles)
            continue()
        endif ()
        target_compile_options(${t} PRIVATE ${_attngen_san_compile})
        if (type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$")
            target_link_options(${t} PRIVATE ${_attngen_san_link})
        endif ()
        list(APPEND _attngen_instrumented ${t})
    endforeach ()
    message(STATUS "attngen: sanitizer flags '${_attngen_san_compile}' on: ${_attngen_instrumented}")
endif ()
