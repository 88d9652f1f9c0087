/* A standalone attngen consumer: runs one attention of every variant the
 * library provides on random data and prints, per call, a checksum of the
 * output and the kernel that ran (attngen_last_kernel). Dense causal and
 * chunked attention are also checked against a naive reference.
 *
 * It uses only the installed attngen headers and library (no Halide).
 * Build it against an install prefix P with CMake
 *     cmake -S examples/consumer -B build-consumer -DCMAKE_PREFIX_PATH=P
 *     cmake --build build-consumer && build-consumer/attngen_consumer
 * or with pkg-config
 *     cc main.c $(PKG_CONFIG_PATH=P/lib/pkgconfig pkg-config --cflags --libs --static attngen)
 *
 * Exit status: 0 if every call succeeded (and matched the reference), 1 otherwise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attngen/attngen.h>
#include <attngen/layout.h>

static int g_failures = 0;

/* Deterministic uniform [-1, 1) (xorshift64*), the same on every platform. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    uint64_t x = g_rng * 0x2545F4914F6CDD1Dull;
    return (float)((double)(x >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *random_buffer(size_t n) {
    float *p = (float *)malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static double checksum(const float *p, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * (double)((i % 7) + 1);
    return s;
}

/* Setup calls (layouts): silent on success; returns 1 on success. */
static int check(const char *what, attngen_status st) {
    if (st == ATTNGEN_OK) return 1;
    fprintf(stderr, "FAIL %-14s %s: %s\n", what, attngen_status_string(st), attngen_last_error());
    g_failures++;
    return 0;
}

/* Prints one result line per attention call; returns 1 on success. */
static int report(const char *name, attngen_status st, const float *out, size_t n) {
    if (st != ATTNGEN_OK) {
        fprintf(stderr, "FAIL %-14s %s: %s\n", name, attngen_status_string(st), attngen_last_error());
        g_failures++;
        return 0;
    }
    double s = checksum(out, n);
    if (!isfinite(s)) {
        fprintf(stderr, "FAIL %-14s non-finite output\n", name);
        g_failures++;
        return 0;
    }
    printf("ok   %-14s checksum %14.6f  kernel %s\n", name, s, attngen_last_kernel());
    return 1;
}

/* Naive softmax attention for (B, N, H, D) row-major tensors, K/V heads
 * H / Hkv per group; causal uses absolute positions with Nq == Nk. */
static void reference(const float *q, const float *k, const float *v, float *o, int B, int Nq, int Nk, int H,
                      int Hkv, int D, int Dv, int causal) {
    double *w = (double *)malloc((size_t)Nk * sizeof *w);
    if (!w) exit(1);
    const double scale = 1.0 / sqrt((double)D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int hk = h / (H / Hkv);
            for (int i = 0; i < Nq; i++) {
                const float *qi = q + (((size_t)b * Nq + i) * H + h) * D;
                const int nk = causal ? i + 1 : Nk;
                double m = -INFINITY, sum = 0.0;
                for (int j = 0; j < nk; j++) {
                    const float *kj = k + (((size_t)b * Nk + j) * Hkv + hk) * D;
                    double d = 0.0;
                    for (int c = 0; c < D; c++) d += (double)qi[c] * kj[c];
                    w[j] = d * scale;
                    if (w[j] > m) m = w[j];
                }
                for (int j = 0; j < nk; j++) sum += (w[j] = exp(w[j] - m));
                float *oi = o + (((size_t)b * Nq + i) * H + h) * Dv;
                for (int c = 0; c < Dv; c++) {
                    double acc = 0.0;
                    for (int j = 0; j < nk; j++) acc += w[j] * v[(((size_t)b * Nk + j) * Hkv + hk) * Dv + c];
                    oi[c] = (float)(acc / sum);
                }
            }
        }
    free(w);
}

/* The fp32 tolerance of the project's tests: |out - ref| <= 1e-5 + 1e-4 |ref|. */
static void compare(const char *name, const float *out, const float *ref, size_t n) {
    double err = 0.0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - (double)ref[i]);
        if (!(e <= 1e-5 + 1e-4 * fabs((double)ref[i]))) bad++; /* also catches NaN */
        if (e > err) err = e;
    }
    if (bad) {
        fprintf(stderr, "FAIL %-14s %zu of %zu elements differ from the reference (max abs error %g)\n", name,
                bad, n, err);
        g_failures++;
    } else {
        printf("     %-14s max abs error %.3g against the reference\n", name, err);
    }
}

static void run_dense(void) {
    enum { B = 2, N = 100, H = 4, D = 64 };
    const size_t n = (size_t)B * N * H * D;
    float *q = random_buffer(n), *k = random_buffer(n), *v = random_buffer(n);
    float *o = (float *)calloc(n, sizeof *o), *r = (float *)calloc(n, sizeof *r);
    const int64_t shape[4] = {B, N, H, D};
    attngen_tensor tq = attngen_tensor_make(q, ATTNGEN_F32, 4, shape);
    attngen_tensor tk = attngen_tensor_make(k, ATTNGEN_F32, 4, shape);
    attngen_tensor tv = attngen_tensor_make(v, ATTNGEN_F32, 4, shape);
    attngen_tensor to = attngen_tensor_make(o, ATTNGEN_F32, 4, shape);
    attngen_dense_options opt;
    attngen_dense_options_init(&opt);
    opt.causal = 1;
    if (report("dense_causal", attngen_dense(&tq, &tk, &tv, &to, &opt), o, n)) {
        reference(q, k, v, r, B, N, N, H, H, D, D, 1);
        compare("dense_causal", o, r, n);
    }
    free(q), free(k), free(v), free(o), free(r);
}

static void run_sparse(void) {
    /* DALL-E layout: seq_len 72 = 9 text tokens + an 8 x 8 image. */
    enum { B = 1, N = 72, H = 2, D = 64, IMAGE = 8 };
    const size_t n = (size_t)B * N * H * D;
    float *q = random_buffer(n), *k = random_buffer(n), *v = random_buffer(n);
    float *o = (float *)calloc(n, sizeof *o);
    const int64_t shape[4] = {B, N, H, D};
    attngen_tensor tq = attngen_tensor_make(q, ATTNGEN_F32, 4, shape);
    attngen_tensor tk = attngen_tensor_make(k, ATTNGEN_F32, 4, shape);
    attngen_tensor tv = attngen_tensor_make(v, ATTNGEN_F32, 4, shape);
    attngen_tensor to = attngen_tensor_make(o, ATTNGEN_F32, 4, shape);
    attngen_sparse_options opt;
    attngen_sparse_options_init(&opt);
    opt.seq_len = N;
    opt.image_size = IMAGE;
    report("sparse_conv", attngen_sparse_conv(&tq, &tk, &tv, &to, &opt), o, n);
    opt.axis = 0;
    report("sparse_axial/0", attngen_sparse_axial(&tq, &tk, &tv, &to, &opt), o, n);
    opt.axis = 1;
    report("sparse_axial/1", attngen_sparse_axial(&tq, &tk, &tv, &to, &opt), o, n);
    free(q), free(k), free(v), free(o);
}

static void run_block_sparse(void) {
    enum { B = 1, N = 256, H = 4, D = 64, BLOCK = 16, TEXT = 64 };
    const size_t n = (size_t)B * N * H * D;
    int64_t nb = 0;
    if (!check("layout_blocks", attngen_layout_num_blocks(N, BLOCK, &nb))) return;
    const size_t layout_size = (size_t)(nb * nb);
    uint8_t *layout = (uint8_t *)malloc(layout_size);
    if (!layout) exit(1);
    if (!check("layout_dalle", attngen_layout_dalle(1, N, TEXT, 1, 42, layout, layout_size))) {
        free(layout);
        return;
    }
    const int64_t lshape[3] = {1, nb, nb};
    attngen_tensor tl = attngen_tensor_make(layout, ATTNGEN_U8, 3, lshape);
    attngen_block_layout *handle = NULL;
    const attngen_status st = attngen_block_layout_create(&tl, BLOCK, 1, &handle);
    free(layout); /* the handle keeps its own lists */
    if (!check("block_layout", st)) return;
    int64_t kept = 0, total = 0;
    if (!check("layout_stats", attngen_block_layout_stats(handle, &kept, &total))) {
        attngen_block_layout_destroy(handle);
        return;
    }
    float *q = random_buffer(n), *k = random_buffer(n), *v = random_buffer(n);
    float *o = (float *)calloc(n, sizeof *o);
    const int64_t shape[4] = {B, N, H, D};
    attngen_tensor tq = attngen_tensor_make(q, ATTNGEN_F32, 4, shape);
    attngen_tensor tk = attngen_tensor_make(k, ATTNGEN_F32, 4, shape);
    attngen_tensor tv = attngen_tensor_make(v, ATTNGEN_F32, 4, shape);
    attngen_tensor to = attngen_tensor_make(o, ATTNGEN_F32, 4, shape);
    attngen_block_sparse_options opt = {NULL};
    if (report("block_sparse", attngen_block_sparse(&tq, &tk, &tv, &to, handle, &opt), o, n))
        printf("     %-14s %lld of %lld blocks kept (DALL-E layout, causal)\n", "block_sparse", (long long)kept,
               (long long)total);
    attngen_block_layout_destroy(handle);
    free(q), free(k), free(v), free(o);
}

static void run_chunked(void) {
    enum { B = 1, NQ = 48, NK = 200, H = 4, HKV = 2, D = 64, DV = 32 };
    const size_t nq = (size_t)B * NQ * H * D, nk = (size_t)B * NK * HKV * D, nv = (size_t)B * NK * HKV * DV,
                 no = (size_t)B * NQ * H * DV;
    float *q = random_buffer(nq), *k = random_buffer(nk), *v = random_buffer(nv);
    float *o = (float *)calloc(no, sizeof *o), *r = (float *)calloc(no, sizeof *r);
    const int64_t sq[4] = {B, NQ, H, D}, sk[4] = {B, NK, HKV, D}, sv[4] = {B, NK, HKV, DV},
                  so[4] = {B, NQ, H, DV};
    attngen_tensor tq = attngen_tensor_make(q, ATTNGEN_F32, 4, sq);
    attngen_tensor tk = attngen_tensor_make(k, ATTNGEN_F32, 4, sk);
    attngen_tensor tv = attngen_tensor_make(v, ATTNGEN_F32, 4, sv);
    attngen_tensor to = attngen_tensor_make(o, ATTNGEN_F32, 4, so);
    attngen_chunked_options opt;
    attngen_chunked_options_init(&opt);
    if (report("chunked", attngen_chunked(&tq, &tk, &tv, &to, &opt), o, no)) {
        reference(q, k, v, r, B, NQ, NK, H, HKV, D, DV, 0);
        compare("chunked", o, r, no);
    }
    free(q), free(k), free(v), free(o), free(r);
}

int main(void) {
    printf("attngen %s (headers %s), CPU level %s\n", attngen_version(), ATTNGEN_VERSION_STRING,
           attngen_cpu_level());
    if (strcmp(attngen_version(), ATTNGEN_VERSION_STRING) != 0) {
        fprintf(stderr, "FAIL header version %s != library version %s\n", ATTNGEN_VERSION_STRING,
                attngen_version());
        g_failures++;
    }
    run_dense();
    run_sparse();
    run_block_sparse();
    run_chunked();
    if (g_failures) {
        fprintf(stderr, "%d failure(s)\n", g_failures);
        return 1;
    }
    printf("all variants ok\n");
    return 0;
}
