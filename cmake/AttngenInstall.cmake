# Installation: `cmake --install BUILD [--prefix P]` puts into P
#   include/attngen/   attngen.h, attngen.hpp, layout.h, version.h
#   lib/libattngen.a   ONE static archive: the runtime (C API, dispatch), every
#                      generated kernel library and the shared Halide runtime
#   lib/cmake/attngen/ attngenConfig.cmake, attngenConfigVersion.cmake
#   lib/pkgconfig/     attngen.pc
#   bin/attngen        the CLI
# A consumer needs neither Halide nor its headers: the kernels' headers are
# private to the runtime and the Halide runtime is linked into the archive.
#
# Included at the end of the top-level CMakeLists.txt, after the targets
# attngen and attngen_cli and the global properties ATTNGEN_KERNEL_LIBS and
# ATTNGEN_RUNTIME_TARGET exist.
#
# Why one archive: the kernel libraries link Halide::Runtime (an interface
# target of Halide's package) and the runtime target is a generated object,
# so install(EXPORT) of them would drag Halide's package into the consumer.
# Instead attngen_bundle (built by default) merges the archives with an ar
# MRI script into ${CMAKE_BINARY_DIR}/bundle/libattngen.a, and the package
# config defines attngen::attngen as an IMPORTED STATIC library on it.
#
# The same file, run in script mode (cmake -P, see attngen_bundle below),
# does the merging.

# ---- Script mode: merge archives -------------------------------------------------
if (CMAKE_SCRIPT_MODE_FILE)
    # -DAR=<ar> -DOUT=<archive> -DINPUTS=<archive|archive|...> -DRANLIB=<ranlib or "">
    foreach (v IN ITEMS AR OUT INPUTS)
        if (NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
            message(FATAL_ERROR "attngen bundle: ${v} not given")
        endif ()
    endforeach ()
    string(REPLACE "|" ";" INPUTS "${INPUTS}")
    get_filename_component(_dir "${OUT}" DIRECTORY)
    set(_tmp "${OUT}.tmp")
    file(REMOVE "${_tmp}")
    file(REMOVE_RECURSE "${_dir}/objects")
    # ar's MRI language has no quoting: a path with a blank, '(', ')', ',',
    # ';', '*' or '+' cannot appear in it. Such builds take the fallback:
    # extract every archive into its own folder and re-archive the objects.
    set(_mri_ok TRUE)
    set(_expected 0)
    foreach (lib IN LISTS INPUTS)
        if (NOT EXISTS "${lib}")
            message(FATAL_ERROR "attngen bundle: missing input archive ${lib}")
        endif ()
        if ("${lib}" MATCHES "[ \t(),;*+]")
            set(_mri_ok FALSE)
        endif ()
        execute_process(COMMAND "${AR}" t "${lib}" OUTPUT_VARIABLE _members RESULT_VARIABLE rc)
        if (NOT rc EQUAL 0)
            message(FATAL_ERROR "attngen bundle: '${AR} t ${lib}' failed")
        endif ()
        string(REGEX MATCHALL "[^\n]+" _members "${_members}")
        list(LENGTH _members n)
        math(EXPR _expected "${_expected} + ${n}")
    endforeach ()
    if ("${_tmp}" MATCHES "[ \t(),;*+]")
        set(_mri_ok FALSE)
    endif ()
    if (_mri_ok)
        set(_mri "CREATE ${_tmp}\n")
        foreach (lib IN LISTS INPUTS)
            string(APPEND _mri "ADDLIB ${lib}\n")
        endforeach ()
        string(APPEND _mri "SAVE\nEND\n")
        file(WRITE "${OUT}.mri" "${_mri}")
        execute_process(COMMAND "${AR}" -M INPUT_FILE "${OUT}.mri" RESULT_VARIABLE rc
                        OUTPUT_VARIABLE out ERROR_VARIABLE out)
        if (NOT rc EQUAL 0)
            message(FATAL_ERROR "attngen bundle: '${AR} -M < ${OUT}.mri' failed:\n${out}")
        endif ()
    else ()
        set(_objs "")
        set(i 0)
        foreach (lib IN LISTS INPUTS)
            set(d "${_dir}/objects/${i}")
            file(MAKE_DIRECTORY "${d}")
            execute_process(COMMAND "${AR}" x "${lib}" WORKING_DIRECTORY "${d}" RESULT_VARIABLE rc)
            if (NOT rc EQUAL 0)
                message(FATAL_ERROR "attngen bundle: '${AR} x ${lib}' failed")
            endif ()
            file(GLOB o LIST_DIRECTORIES false "${d}/*")
            list(SORT o)
            list(APPEND _objs ${o})
            math(EXPR i "${i} + 1")
        endforeach ()
        execute_process(COMMAND "${AR}" qc "${_tmp}" ${_objs} RESULT_VARIABLE rc)
        file(REMOVE_RECURSE "${_dir}/objects")
        if (NOT rc EQUAL 0)
            message(FATAL_ERROR "attngen bundle: '${AR} qc' failed")
        endif ()
    endif ()
    if (RANLIB)
        execute_process(COMMAND "${RANLIB}" "${_tmp}" RESULT_VARIABLE rc)
        if (NOT rc EQUAL 0)
            message(FATAL_ERROR "attngen bundle: '${RANLIB} ${_tmp}' failed")
        endif ()
    endif ()
    # Every member of every input must be in the result.
    execute_process(COMMAND "${AR}" t "${_tmp}" OUTPUT_VARIABLE _members RESULT_VARIABLE rc)
    string(REGEX MATCHALL "[^\n]+" _members "${_members}")
    list(LENGTH _members n)
    if (NOT rc EQUAL 0 OR NOT n EQUAL _expected)
        message(FATAL_ERROR "attngen bundle: ${_tmp} holds ${n} members, expected ${_expected}")
    endif ()
    file(RENAME "${_tmp}" "${OUT}")
    return()
endif ()

# ---- Project mode -----------------------------------------------------------------
option(ATTNGEN_INSTALL "Generate the install rules and the combined archive (attngen_bundle)" ON)
if (NOT ATTNGEN_INSTALL)
    return()
endif ()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach (t IN ITEMS attngen attngen_cli)
    if (NOT TARGET ${t})
        message(FATAL_ERROR "AttngenInstall.cmake: target ${t} must exist before it is included")
    endif ()
endforeach ()
get_property(_attngen_kernel_libs GLOBAL PROPERTY ATTNGEN_KERNEL_LIBS)
get_property(_attngen_runtime GLOBAL PROPERTY ATTNGEN_RUNTIME_TARGET)
if (NOT _attngen_kernel_libs OR NOT _attngen_runtime)
    message(FATAL_ERROR "AttngenInstall.cmake: no kernel libraries or Halide runtime target registered")
endif ()

# The installed archive may end up in a consumer's shared library (a Python
# extension, a plugin): build the runtime as PIC, as the kernels already are.
set_target_properties(attngen PROPERTIES POSITION_INDEPENDENT_CODE ON)

# ---- The combined archive ---------------------------------------------------------
get_property(_attngen_multi GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if (_attngen_multi)
    set(_attngen_bundle_dir "${CMAKE_BINARY_DIR}/bundle/$<CONFIG>")
else ()
    set(_attngen_bundle_dir "${CMAKE_BINARY_DIR}/bundle")
endif ()
set(ATTNGEN_BUNDLE
    "${_attngen_bundle_dir}/${CMAKE_STATIC_LIBRARY_PREFIX}attngen${CMAKE_STATIC_LIBRARY_SUFFIX}")
set(_attngen_bundle_inputs "$<TARGET_FILE:attngen>")
foreach (lib IN LISTS _attngen_kernel_libs _attngen_runtime)
    list(APPEND _attngen_bundle_inputs "$<TARGET_FILE:${lib}>")
endforeach ()
set(_attngen_ranlib "")
if (CMAKE_RANLIB)
    set(_attngen_ranlib "${CMAKE_RANLIB}")
endif ()
add_custom_command(
    OUTPUT "${ATTNGEN_BUNDLE}"
    COMMAND "${CMAKE_COMMAND}" "-DAR=${CMAKE_AR}" "-DRANLIB=${_attngen_ranlib}"
            "-DOUT=${ATTNGEN_BUNDLE}" "-DINPUTS=$<JOIN:${_attngen_bundle_inputs},|>"
            -P "${CMAKE_CURRENT_LIST_FILE}"
    DEPENDS attngen ${_attngen_kernel_libs} ${_attngen_runtime} "${CMAKE_CURRENT_LIST_FILE}"
    COMMENT "Merging attngen, its kernels and the Halide runtime into ${ATTNGEN_BUNDLE}"
    VERBATIM)
add_custom_target(attngen_bundle ALL DEPENDS "${ATTNGEN_BUNDLE}")

# ---- Install rules ----------------------------------------------------------------
set(ATTNGEN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/attngen"
    CACHE STRING "Where attngenConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(ATTNGEN_INSTALL_CMAKEDIR)

install(FILES "${ATTNGEN_BUNDLE}" DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT attngen_development)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runtime/include/attngen"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT attngen_development
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(FILES "${CMAKE_BINARY_DIR}/include/attngen/version.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/attngen" COMPONENT attngen_development)
install(TARGETS attngen_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT attngen_runtime)

# CMake package (relocatable: paths are relative to the installed config).
# ATTNGEN_CXX_RUNTIME_LIBS: the C++ standard library a C-only consumer links
# in place of the C++ driver (empty: such a consumer must enable CXX).
set(ATTNGEN_CXX_RUNTIME_LIBS "")
if (UNIX AND NOT APPLE AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    set(ATTNGEN_CXX_RUNTIME_LIBS "stdc++;m")
elseif (APPLE)
    set(ATTNGEN_CXX_RUNTIME_LIBS "c++")
endif ()
configure_package_config_file(
    "${CMAKE_CURRENT_LIST_DIR}/attngenConfig.cmake.in"
    "${CMAKE_BINARY_DIR}/install/attngenConfig.cmake"
    INSTALL_DESTINATION "${ATTNGEN_INSTALL_CMAKEDIR}"
    PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(
    "${CMAKE_BINARY_DIR}/install/attngenConfigVersion.cmake"
    VERSION "${attngen_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${CMAKE_BINARY_DIR}/install/attngenConfig.cmake"
              "${CMAKE_BINARY_DIR}/install/attngenConfigVersion.cmake"
        DESTINATION "${ATTNGEN_INSTALL_CMAKEDIR}" COMPONENT attngen_development)

# pkg-config (relocatable: prefix is found from the .pc file's own folder,
# so `cmake --install --prefix P` and a moved or unpacked tree both work).
set(_attngen_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if (IS_ABSOLUTE "${_attngen_pc_dir}")
    set(ATTNGEN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else ()
    file(RELATIVE_PATH _attngen_pc_up "/attngen_prefix/${_attngen_pc_dir}" "/attngen_prefix")
    string(REGEX REPLACE "/$" "" _attngen_pc_up "${_attngen_pc_up}")
    set(ATTNGEN_PC_PREFIX "\${pcfiledir}/${_attngen_pc_up}")
endif ()
foreach (d IN ITEMS INCLUDEDIR LIBDIR)
    if (IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
        set(ATTNGEN_PC_${d} "${CMAKE_INSTALL_${d}}")
    else ()
        set(ATTNGEN_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
    endif ()
endforeach ()
configure_file("${CMAKE_CURRENT_LIST_DIR}/attngen.pc.in" "${CMAKE_BINARY_DIR}/install/attngen.pc" @ONLY)
install(FILES "${CMAKE_BINARY_DIR}/install/attngen.pc" DESTINATION "${_attngen_pc_dir}"
        COMPONENT attngen_development)
