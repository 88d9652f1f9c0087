// attngen_convert: f32 <-> f16 <-> bf16, in software (exact, round to
// nearest even), for callers and the CLI that hold data in another type.
#include <cstdint>
#include <cstring>

#include "errors.h"
#include "internal.h"

namespace {

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return float_of(sign | 0x7f800000u | (man << 13));  // inf, NaN (payload kept)
    if (exp != 0) return float_of(sign | ((exp + 112) << 23) | (man << 13));
    if (man == 0) return float_of(sign);
    // Subnormal: man * 2^-24, exact in f32.
    const float m = static_cast<float>(man) * (1.0f / 16777216.0f);
    return sign ? -m : m;
}

uint16_t f32_to_f16(float f) {
    const uint32_t u = bits_of(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (a >= 0x38800000u) {  // normal f16 range (>= 2^-14)
        const uint32_t rounded = a + 0x0fffu + ((a >> 13) & 1u);
        return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
    }
    // Subnormal or zero: value / 2^-24, rounded to nearest even.
    const float scaled = float_of(a) * 16777216.0f;  // exact (power of two)
    uint32_t m = static_cast<uint32_t>(scaled);
    const float frac = scaled - static_cast<float>(m);
    if (frac > 0.5f || (frac == 0.5f && (m & 1u))) m++;
    return static_cast<uint16_t>(sign | m);
}

float bf16_to_f32(uint16_t b) { return float_of(uint32_t(b) << 16); }

uint16_t f32_to_bf16(float f) {
    const uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float load(const void *p, attngen_dtype t, int64_t i) {
    if (t == ATTNGEN_F32) return static_cast<const float *>(p)[i];
    const uint16_t h = static_cast<const uint16_t *>(p)[i];
    return t == ATTNGEN_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

void store(void *p, attngen_dtype t, int64_t i, float f) {
    if (t == ATTNGEN_F32) {
        static_cast<float *>(p)[i] = f;
    } else {
        static_cast<uint16_t *>(p)[i] = t == ATTNGEN_F16 ? f32_to_f16(f) : f32_to_bf16(f);
    }
}

}  // namespace

extern "C" attngen_status attngen_convert(const void *src, attngen_dtype src_type, void *dst, attngen_dtype dst_type,
                                          int64_t count) {
    using namespace attngen::detail;
    clear_error();
    if (!src) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "src: pointer is NULL");
    if (!dst) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "dst: pointer is NULL");
    int32_t raw[2];
    std::memcpy(&raw[0], &src_type, sizeof raw[0]);
    std::memcpy(&raw[1], &dst_type, sizeof raw[1]);
    const char *names[2] = {"src_type", "dst_type"};
    for (int i = 0; i < 2; i++) {
        if (raw[i] != ATTNGEN_F32 && raw[i] != ATTNGEN_F16 && raw[i] != ATTNGEN_BF16) {
            return set_error(ATTNGEN_ERR_DTYPE, "%s: %d is not f32, f16 or bf16", names[i], (int)raw[i]);
        }
    }
    if (count < 0) return set_error(ATTNGEN_ERR_OPTION, "count: %lld is negative", (long long)count);
    if (src == dst && dtype_bytes(src_type) != dtype_bytes(dst_type)) {
        return set_error(ATTNGEN_ERR_LAYOUT, "src and dst are the same buffer but the element sizes differ");
    }
    for (int64_t i = 0; i < count; i++) store(dst, dst_type, i, load(src, src_type, i));
    return ATTNGEN_OK;
}
