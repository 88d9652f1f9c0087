// Per-thread error reporting shared by every runtime source file: a failed
// entry point records a message naming the offending argument and returns
// its status; attngen_last_error() reads it back.
#pragma once

#include "attngen/attngen.h"

namespace attngen::detail {

// Records the message (printf-style) for this thread and returns s.
attngen_status set_error(attngen_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Clears this thread's message (every entry point does so first).
void clear_error();

}  // namespace attngen::detail
