# Build integration of the tuning database (issue 5): the best-points table
# tuning/db/best.txt (written by `attngen_tune best`, one line per key:
# kernel|target|halide|params|source) replaces a kernel's hand-default PARAMS
# when a record matches its kernel name, the feature level of the build's
# first (most capable) CPU target and the Halide version exactly. Any other
# key gets the hand default (attngen_default_knobs): a record is never served
# across targets, Halide versions, head dims, buckets or dtypes.
#
# A kernel library holds every feature level of ATTNGEN_CPU_TARGETS with one
# PARAMS; the record is looked up for the first level (x86-64-avx512 in the
# default build) and the library's lower levels (the fallbacks for older
# CPUs) are compiled with the same knobs.
#
# Also usable in script mode (tests/tuning/lookup_test.cmake).

# "x86-64-linux-avx512_skylake-avx2-...-user_context" -> "x86-64-avx512"
# (the same rule as attngen::tune::target_level).
function(attngen_target_level out target)
    string(REPLACE "-" ";" parts "${target}")
    list(LENGTH parts n)
    if (n LESS 2)
        set(${out} "" PARENT_SCOPE)
        return()
    endif ()
    # GPU kernels are keyed by the GPU capability, not the host's level.
    if (target MATCHES "-cuda")
        if (target MATCHES "cuda_capability_([0-9]+)")
            set(${out} "cuda-sm${CMAKE_MATCH_1}" PARENT_SCOPE)
        else ()
            set(${out} "cuda" PARENT_SCOPE)
        endif ()
        return()
    endif ()
    list(GET parts 0 arch)
    list(GET parts 1 bits)
    set(level "${arch}-${bits}")
    if (arch STREQUAL "x86")
        if (target MATCHES "-avx512")
            string(APPEND level "-avx512")
        elseif (target MATCHES "-avx2(-|$)")
            string(APPEND level "-avx2")
        elseif (target MATCHES "-sse41(-|$)")
            string(APPEND level "-sse41")
        endif ()
    endif ()
    set(${out} "${level}" PARENT_SCOPE)
endfunction()

# attngen_tuned_lookup(<params-var> <source-var> <table> <kernel> <level> <halide>)
# Sets the two variables to the matching record's params and source, or to
# "" when the table has no record for exactly this key. A malformed line is
# a fatal error (naming the line), like the C++ reader.
function(attngen_tuned_lookup out_params out_source table kernel level halide)
    set(${out_params} "" PARENT_SCOPE)
    set(${out_source} "" PARENT_SCOPE)
    if (NOT EXISTS "${table}")
        return()
    endif ()
    file(STRINGS "${table}" lines)
    set(n 0)
    foreach (line IN LISTS lines)
        math(EXPR n "${n} + 1")
        if (line STREQUAL "" OR line MATCHES "^#")
            continue()
        endif ()
        string(REPLACE "|" ";" f "${line}")
        list(LENGTH f nf)
        if (NOT nf EQUAL 5)
            message(FATAL_ERROR "${table}: line ${n}: expected kernel|target|halide|params|source")
        endif ()
        list(GET f 0 k)
        list(GET f 1 t)
        list(GET f 2 h)
        if (k STREQUAL kernel AND t STREQUAL level AND h STREQUAL halide)
            list(GET f 3 p)
            list(GET f 4 s)
            if (NOT p MATCHES "^([a-z_]+=[0-9]+ ?)+$")
                message(FATAL_ERROR "${table}: line ${n}: malformed params '${p}'")
            endif ()
            set(${out_params} "${p}" PARENT_SCOPE)
            set(${out_source} "${s}" PARENT_SCOPE)
            return()
        endif ()
    endforeach ()
endfunction()

# attngen_apply_tuning(<params-var> <source-var> <kernel> [<targets>]): in a
# build, swaps the knobs of <params-var> (keeping non-knob params such as
# axis=) for the record's when the table has one for <kernel> on this build's
# key. <targets>: the kernel's Halide targets (default ATTNGEN_CPU_TARGETS);
# the first one gives the key's target level.
function(attngen_apply_tuning params_var source_var kernel)
    set(targets ${ATTNGEN_CPU_TARGETS})
    if (ARGC GREATER 3 AND NOT "${ARGV3}" STREQUAL "")
        set(targets ${ARGV3})
    endif ()
    if (NOT ATTNGEN_USE_TUNING OR NOT ATTNGEN_TUNING_TABLE)
        return()
    endif ()
    if (NOT CMAKE_SCRIPT_MODE_FILE AND EXISTS "${ATTNGEN_TUNING_TABLE}")
        # A changed table re-runs configure, so the build picks up new records.
        set_property(DIRECTORY "${CMAKE_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ATTNGEN_TUNING_TABLE}")
    endif ()
    list(GET targets 0 first)
    attngen_target_level(level "${first}")
    set(halide "${Halide_VERSION}")
    attngen_tuned_lookup(p s "${ATTNGEN_TUNING_TABLE}" "${kernel}" "${level}" "${halide}")
    set(label "${kernel}")
    if (level MATCHES "^cuda")
        set(label "${kernel}@${level}")  # the GPU kernel of the same name
    endif ()
    if (p STREQUAL "")
        set_property(GLOBAL APPEND PROPERTY ATTNGEN_UNTUNED_KERNELS "${label}")
        return()
    endif ()
    set(keep "")
    separate_arguments(old UNIX_COMMAND "${${params_var}}")
    foreach (tok IN LISTS old)
        if (NOT tok MATCHES "^(tq|kc|kci|vec|rq|rk|qvec|threads_split|lanes)=")
            list(APPEND keep "${tok}")
        endif ()
    endforeach ()
    list(APPEND keep "${p}")
    list(JOIN keep " " merged)
    set(${params_var} "${merged}" PARENT_SCOPE)
    set(${source_var} "${s}" PARENT_SCOPE)
    set_property(GLOBAL APPEND PROPERTY ATTNGEN_TUNED_KERNELS "${label}")
endfunction()

# One configure-time message: which kernels use a record, which the hand
# default (and why: no record for this key).
function(attngen_report_tuning)
    if (NOT ATTNGEN_USE_TUNING)
        message(STATUS "attngen: tuning database disabled (ATTNGEN_USE_TUNING=OFF): hand defaults everywhere")
        return()
    endif ()
    get_property(tuned GLOBAL PROPERTY ATTNGEN_TUNED_KERNELS)
    get_property(untuned GLOBAL PROPERTY ATTNGEN_UNTUNED_KERNELS)
    list(LENGTH tuned nt)
    list(LENGTH untuned nu)
    list(GET ATTNGEN_CPU_TARGETS 0 first)
    attngen_target_level(level "${first}")
    message(STATUS "attngen: ${nt} kernels use tuned records of ${ATTNGEN_TUNING_TABLE} (${level}, Halide ${Halide_VERSION})")
    if (nt GREATER 0)
        list(JOIN tuned " " t)
        message(STATUS "attngen:   tuned: ${t}")
    endif ()
    if (nu GREATER 0)
        list(JOIN untuned " " u)
        message(STATUS "attngen: ${nu} kernels have no record for this key and use the hand default: ${u}")
    endif ()
endfunction()
