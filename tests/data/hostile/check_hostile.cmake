# ctest check of `attngen check` on the hostile cases (tests/CMakeLists.txt):
#   cmake -DATTNGEN=<attngen binary> -DDIR=<tests/data/hostile> -P check_hostile.cmake
# Asserts: exit status exactly 1 (not 0, not 2 = unusable manifest, not a
# signal or a timeout), one FAIL line with a reason per case in manifest
# order (the case's name where it is printable as is), no PASS line, the
# summary "0 passed, N failed", all within MAX_SECONDS.
cmake_minimum_required(VERSION 3.22)
foreach (v IN ITEMS ATTNGEN DIR)
    if (NOT DEFINED ${v})
        message(FATAL_ERROR "check_hostile: -D${v}= not given")
    endif ()
endforeach ()
if (NOT DEFINED MAX_SECONDS)
    set(MAX_SECONDS 20)
endif ()

file(READ "${DIR}/manifest.json" manifest)
string(JSON ncases LENGTH "${manifest}" cases)

string(TIMESTAMP t0 "%s" UTC)
execute_process(COMMAND "${ATTNGEN}" check "${DIR}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT ${MAX_SECONDS})
string(TIMESTAMP t1 "%s" UTC)
math(EXPR elapsed "${t1} - ${t0}")
message(STATUS "attngen check ${DIR}: exit '${rc}' after ~${elapsed} s\n${out}${err}")

if (NOT rc STREQUAL "1")
    message(FATAL_ERROR "check_hostile: expected exit status exactly 1, got '${rc}' "
                        "(a number is an exit code; text means a signal or a timeout)")
endif ()
if (elapsed GREATER MAX_SECONDS)
    message(FATAL_ERROR "check_hostile: took ${elapsed} s (limit ${MAX_SECONDS} s)")
endif ()

# CMake lists split at ';' and treat '[' ']' specially: neutralise them
# before splitting the output into lines (names are compared the same way).
string(REPLACE ";" "," flat "${out}")
string(REPLACE "[" "(" flat "${flat}")
string(REPLACE "]" ")" flat "${flat}")
string(REGEX MATCHALL "[^\n]+" lines "${flat}")
set(fail_lines "")
foreach (line IN LISTS lines)
    if (line MATCHES "^PASS ")
        message(FATAL_ERROR "check_hostile: a hostile case passed: ${line}")
    elseif (line MATCHES "^FAIL ")
        list(APPEND fail_lines "${line}")
    endif ()
endforeach ()
list(LENGTH fail_lines nfail)
if (NOT nfail EQUAL ncases)
    message(FATAL_ERROR "check_hostile: ${nfail} FAIL lines for ${ncases} cases")
endif ()
math(EXPR last "${ncases} - 1")
foreach (i RANGE ${last})
    list(GET fail_lines ${i} line)
    # "FAIL <name> <err|-> <reason...>": a reason is at least one more field.
    if (NOT line MATCHES "^FAIL [^ ]+ [^ ]+ [^ ].*")
        message(FATAL_ERROR "check_hostile: case ${i} has no reason: ${line}")
    endif ()
    string(JSON type TYPE "${manifest}" cases ${i})
    if (type STREQUAL "OBJECT")
        string(JSON ntype ERROR_VARIABLE jerr TYPE "${manifest}" cases ${i} name)
        if (ntype STREQUAL "STRING")
            string(JSON name GET "${manifest}" cases ${i} name)
            if (name MATCHES "^[A-Za-z0-9_./-]+$")
                string(FIND "${line}" "FAIL ${name} " pos)
                if (NOT pos EQUAL 0)
                    message(FATAL_ERROR "check_hostile: case ${i} '${name}' is not reported in order: ${line}")
                endif ()
            endif ()
        endif ()
    endif ()
endforeach ()
if (NOT out MATCHES "\n0 passed, ${ncases} failed\n")
    message(FATAL_ERROR "check_hostile: no summary '0 passed, ${ncases} failed'")
endif ()
message(STATUS "check_hostile: ${ncases} hostile cases, every one FAIL with a reason, exit 1, ~${elapsed} s")
