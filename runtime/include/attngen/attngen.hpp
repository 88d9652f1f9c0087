// Thin C++ wrapper over the C API (attngen.h): tensor views from pointers
// and shapes, options with defaults, and errors as exceptions carrying the
// status and message. Header-only; the C API stays the ABI.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "attngen.h"

namespace attngen {

class Error : public std::runtime_error {
public:
    Error(attngen_status status, const std::string &msg) : std::runtime_error(msg), status_(status) {}
    attngen_status status() const { return status_; }

private:
    attngen_status status_;
};

// A view of caller memory; strides in elements (all 0 = contiguous).
struct Tensor {
    attngen_tensor t;

    Tensor(float *data, std::initializer_list<int64_t> shape) : Tensor(data, ATTNGEN_F32, shape) {}
    Tensor(const float *data, std::initializer_list<int64_t> shape)
        : Tensor(const_cast<float *>(data), ATTNGEN_F32, shape) {}
    Tensor(const uint8_t *data, std::initializer_list<int64_t> shape)
        : Tensor(const_cast<uint8_t *>(data), ATTNGEN_U8, shape) {}
    Tensor(void *data, attngen_dtype dtype, std::initializer_list<int64_t> shape) {
        int64_t s[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};
        int n = 0;
        for (int64_t x : shape) {
            if (n < ATTNGEN_MAX_DIMS) s[n] = x;
            n++;
        }
        t = attngen_tensor_make(data, dtype, n, s);
    }
    // Sets element strides (outermost first).
    Tensor &strides(std::initializer_list<int64_t> st) {
        int n = 0;
        for (int64_t x : st) {
            if (n < ATTNGEN_MAX_DIMS) t.strides[n] = x;
            n++;
        }
        return *this;
    }
    const attngen_tensor *get() const { return &t; }
    attngen_tensor *get() { return &t; }
};

struct DenseOptions {
    bool causal = false;
    bool stable = false;
    int64_t offset = 0;
    const Tensor *key_mask = nullptr;
    const Tensor *static_mask = nullptr;
    const Tensor *freqs = nullptr;
};

inline void check(attngen_status s) {
    if (s != ATTNGEN_OK) throw Error(s, attngen_last_error());
}

// Dense attention; throws attngen::Error on any failure.
inline void dense(const Tensor &q, const Tensor &k, const Tensor &v, Tensor &out, const DenseOptions &o = {}) {
    attngen_dense_options c;
    attngen_dense_options_init(&c);
    c.causal = o.causal;
    c.stable = o.stable;
    c.offset = o.offset;
    c.key_mask = o.key_mask ? o.key_mask->get() : nullptr;
    c.static_mask = o.static_mask ? o.static_mask->get() : nullptr;
    c.freqs = o.freqs ? o.freqs->get() : nullptr;
    check(attngen_dense(q.get(), k.get(), v.get(), out.get(), &c));
}

// What the last successful call on this thread ran.
inline std::string last_kernel() { return attngen_last_kernel(); }

}  // namespace attngen
