// Loop extents of the DALL-E sparse kernels (generators/dalle_sparse_generator.cpp),
// computed by their callers per call: the runtime (runtime/src/sparse.cpp)
// and the tuner's runner (tuning/runner_main.cpp). Plain C++, no Halide.
#pragma once

#include <algorithm>
#include <cstdint>

namespace attngen {
namespace dalle {

enum class Pattern { Conv, AxialRow, AxialCol };

// Slots the image phase walks per query: the kernel_size^2 box cells, the
// G steps up a column, or, for rows, the window of tq + G - 1 keys that
// holds the grid rows of a tile of tq queries (CPU kernels) or the G steps
// along the row (GPU kernels).
inline int64_t image_slots(Pattern p, int64_t image_size, int64_t kernel_size, int64_t tq, bool gpu) {
    switch (p) {
    case Pattern::Conv: return kernel_size * kernel_size;
    case Pattern::AxialRow: return gpu ? image_size : tq + image_size - 1;
    default: return image_size;
    }
}

// Chunks of kc text keys: ceil(min(text_len, n) / kc).
inline int32_t text_chunks(int64_t text_len, int64_t n, int64_t kc) {
    return static_cast<int32_t>((std::min(text_len, n) + kc - 1) / kc);
}

// Chunks of kci image slots; none when every token is text (CPU kernels
// walk the image chunks on text tiles too, masked).
inline int32_t image_chunks(Pattern p, int64_t text_len, int64_t n, int64_t image_size, int64_t kernel_size,
                            int64_t tq, int64_t kci, bool gpu) {
    if (n <= text_len) return 0;
    return static_cast<int32_t>((image_slots(p, image_size, kernel_size, tq, gpu) + kci - 1) / kci);
}

// The first query tile holding an image query (GPU kernels skip the image
// chunks before it).
inline int32_t first_image_tile(int64_t text_len, int64_t tq) { return static_cast<int32_t>(text_len / tq); }

}  // namespace dalle
}  // namespace attngen
