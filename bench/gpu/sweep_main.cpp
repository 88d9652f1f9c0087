// Dense-causal candidate sweep on the GPU (bench/gpu/sweep.sh builds it):
// every candidate kernel (same signature) is checked against a float64
// reference on a sample of rows, then timed (causal and non-causal).
#include "HalideBuffer.h"
#include "HalideRuntime.h"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "cands.h"
using Halide::Runtime::Buffer;
static void err(void *, const char *m) { fprintf(stderr, "HALIDE ERROR: %s\n", m); }
int main(int argc, char **argv) {
    halide_set_error_handler(err);
    halide_reuse_device_allocations(nullptr, true);
    int B = 8, H = 8, N = 1280, D = 64;
    if (argc > 3) { B = atoi(argv[1]); H = atoi(argv[2]); N = atoi(argv[3]); }
    Buffer<float> q(D, H, N, B), k(D, H, N, B), v(D, H, N, B), out(D, H, N, B);
    std::mt19937 rng(1); std::normal_distribution<float> nd;
    for (auto *b : {&q, &k, &v}) { b->for_each_value([&](float &x) { x = nd(rng); }); b->set_host_dirty(); }
    uint8_t one = 1; float zero = 0;
    Buffer<uint8_t> km(&one, 1, 1), sm(&one, 1, 1); Buffer<float> fr(&zero, 1, 1);
    for (const Cand &c : cands) {
      for (int causal = 1; causal >= 0; causal--) {
        int diag = causal ? 0 : N;
        out.copy_to_host(); out.fill(0.0f); out.set_host_dirty();
        int rc = c.fn(nullptr, q, k, v, km, sm, fr, diag, 0, false, false, 0, true, out);
        if (rc == 0) rc = out.copy_to_host();
        if (rc) { printf("%-40s causal=%d FAILED rc=%d\n", c.knobs, causal, rc); continue; }
        double maxerr = 0;
        for (int b = 0; b < std::min(B, 2); b++) for (int h = 0; h < H; h += 3) for (int i = 0; i < N; i += 7) {
            std::vector<double> s(N); double m = -1e300;
            int last = causal ? i : N - 1;
            for (int j = 0; j <= last; j++) { double a = 0; for (int d = 0; d < D; d++) a += (double)q(d,h,i,b)*k(d,h,j,b); s[j] = a / std::sqrt((double)D); m = std::max(m, s[j]); }
            double l = 0; for (int j = 0; j <= last; j++) { s[j] = std::exp(s[j]-m); l += s[j]; }
            for (int d = 0; d < D; d++) { double o = 0; for (int j = 0; j <= last; j++) o += s[j]*v(d,h,j,b); o /= l; maxerr = std::max(maxerr, std::fabs(o - out(d,h,i,b))); }
        }
        for (int w = 0; w < 3; w++) c.fn(nullptr, q, k, v, km, sm, fr, diag, 0, false, false, 0, true, out);
        out.device_sync();
        int iters = 20; auto t0 = std::chrono::steady_clock::now();
        for (int it = 0; it < iters; it++) c.fn(nullptr, q, k, v, km, sm, fr, diag, 0, false, false, 0, true, out);
        out.device_sync();
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
        double flops = 4.0 * B * H * (double)N * N * D * (causal ? 0.5 : 1.0);
        printf("%-40s causal=%d maxerr %.2e  %.3f ms  %.1f GFLOP/s\n", c.knobs, causal, maxerr, ms, flops / ms / 1e6);
        fflush(stdout);
      }
    }
    return 0;
}
