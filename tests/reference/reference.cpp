// Reference attention: see reference.h. Every variant is "build a keep
// predicate, maybe rotate copies of q/k/v, call attention_masked".
#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace attngen::ref {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("attngen::ref: ") + what);
}

void check_shape(const Shape& s) {
  require(s.B >= 1 && s.H >= 1 && s.Hkv >= 1 && s.D >= 1 && s.Dv >= 1, "B, H, Hkv, D, Dv must be >= 1");
  require(s.Nq >= 0 && s.Nk >= 0, "Nq, Nk must be >= 0");
  require(s.H % s.Hkv == 0, "H must be a multiple of Hkv");
}

size_t numel(int B, int N, int H, int D) { return size_t(B) * N * H * D; }

// Shared by sparse_conv / sparse_axial: validates the DALL-E sequence options.
struct SeqGeom { int text_len, img, len; };
SeqGeom seq_geom(const SparseSeqOpts& o) {
  require(o.image_size >= 1, "image_size must be >= 1");
  const int img2 = o.image_size * o.image_size;
  const int text_len = o.seq_len + 1 - img2;
  require(text_len >= 1, "seq_len + 1 - image_size^2 must be >= 1");
  require(!o.key_mask || o.key_mask_len >= text_len, "key_mask_len must be >= text_len");
  return {text_len, o.image_size, text_len + img2};
}

// Pads the n input tokens with zero rows to the full text + image length (as
// the seed does), rotates the real rows, runs attention, returns first n rows.
void sparse_seq(const Shape& s, const float* q, const float* k, const float* v, float* out,
                const SparseSeqOpts& o, const KeepFn& keep) {
  check_shape(s);
  const SeqGeom g = seq_geom(o);
  const int n = s.Nq;
  require(s.Nq == s.Nk, "sparse variants need Nq == Nk");
  require(n <= o.seq_len, "n must be <= seq_len");
  const int L = g.len;
  std::vector<float> qp(numel(s.B, L, s.H, s.D), 0.f), kp(numel(s.B, L, s.Hkv, s.D), 0.f),
      vp(numel(s.B, L, s.Hkv, s.Dv), 0.f), op(numel(s.B, L, s.H, s.Dv));
  for (int b = 0; b < s.B; ++b) {
    std::copy_n(q + numel(b, n, s.H, s.D), numel(1, n, s.H, s.D), qp.data() + numel(b, L, s.H, s.D));
    std::copy_n(k + numel(b, n, s.Hkv, s.D), numel(1, n, s.Hkv, s.D), kp.data() + numel(b, L, s.Hkv, s.D));
    std::copy_n(v + numel(b, n, s.Hkv, s.Dv), numel(1, n, s.Hkv, s.Dv), vp.data() + numel(b, L, s.Hkv, s.Dv));
    if (o.freqs) {  // padding rows are zero, so rotating them would change nothing
      apply_rotary(qp.data() + numel(b, L, s.H, s.D), 1, n, s.H, s.D, o.freqs, o.freqs_n, o.rotary_dim, 0);
      apply_rotary(kp.data() + numel(b, L, s.Hkv, s.D), 1, n, s.Hkv, s.D, o.freqs, o.freqs_n, o.rotary_dim, 0);
      apply_rotary(vp.data() + numel(b, L, s.Hkv, s.Dv), 1, n, s.Hkv, s.Dv, o.freqs, o.freqs_n, o.rotary_dim, 0);
    }
  }
  Shape sp = s;
  sp.Nq = sp.Nk = L;
  attention_masked(sp, qp.data(), kp.data(), vp.data(), op.data(), keep);
  for (int b = 0; b < s.B; ++b)
    std::copy_n(op.data() + numel(b, L, s.H, s.Dv), numel(1, n, s.H, s.Dv), out + numel(b, n, s.H, s.Dv));
}

}  // namespace

void attention_masked(const Shape& s, const float* q, const float* k, const float* v, float* out,
                      const KeepFn& keep) {
  check_shape(s);
  const double scale = 1.0 / std::sqrt(double(s.D));
  const int group = s.H / s.Hkv;
  std::vector<double> score(s.Nk), acc(s.Dv);
  std::vector<int> kept;
  kept.reserve(s.Nk);
  for (int b = 0; b < s.B; ++b)
    for (int i = 0; i < s.Nq; ++i)
      for (int h = 0; h < s.H; ++h) {
        const float* qi = q + (size_t(b * s.Nq + i) * s.H + h) * s.D;
        const int hk = h / group;
        kept.clear();
        double mx = -std::numeric_limits<double>::infinity();
        for (int j = 0; j < s.Nk; ++j) {
          if (!keep(b, h, i, j)) continue;
          const float* kj = k + (size_t(b * s.Nk + j) * s.Hkv + hk) * s.D;
          double dot = 0;
          for (int d = 0; d < s.D; ++d) dot += double(qi[d]) * kj[d];
          score[j] = dot * scale;
          mx = std::max(mx, score[j]);
          kept.push_back(j);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0;
        for (int j : kept) {
          const double w = std::exp(score[j] - mx);
          const float* vj = v + (size_t(b * s.Nk + j) * s.Hkv + hk) * s.Dv;
          sum += w;
          for (int d = 0; d < s.Dv; ++d) acc[d] += w * vj[d];
        }
        float* oi = out + (size_t(b * s.Nq + i) * s.H + h) * s.Dv;
        for (int d = 0; d < s.Dv; ++d) oi[d] = kept.empty() ? 0.f : float(acc[d] / sum);
      }
}

void apply_rotary(float* t, int B, int N, int H, int D, const float* freqs, int Nf, int R, int pos0) {
  require(freqs != nullptr, "apply_rotary: freqs is null");
  require(R >= 0 && R % 2 == 0 && R <= D, "rotary_dim must be even and <= feature size");
  require(pos0 >= 0 && pos0 + N <= Nf, "rotary position past the end of freqs");
  for (int b = 0; b < B; ++b)
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < H; ++h) {
        float* x = t + (size_t(b * N + n) * H + h) * D;
        const float* f = freqs + size_t(pos0 + n) * R;
        for (int i = 0; i < R; i += 2) {
          const double x0 = x[i], x1 = x[i + 1];
          x[i] = float(x0 * std::cos(double(f[i])) - x1 * std::sin(double(f[i])));
          x[i + 1] = float(x1 * std::cos(double(f[i + 1])) + x0 * std::sin(double(f[i + 1])));
        }
      }
}

KeepFn dense_keep(const Shape& s, const DenseOpts& o) {
  const int Nk = s.Nk;
  return [o, Nk](int b, int, int i, int j) {
    if (o.causal && j > o.offset + i) return false;
    if (o.key_mask && !o.key_mask[size_t(b) * Nk + j]) return false;
    if (o.static_mask && !o.static_mask[size_t(o.offset + i) * o.static_size + j]) return false;
    return true;
  };
}

void dense(const Shape& s, const float* q, const float* k, const float* v, float* out, const DenseOpts& o) {
  check_shape(s);
  require(o.offset >= 0 && s.Nk == o.offset + s.Nq, "dense needs Nk == offset + Nq");
  require(!o.static_mask || o.static_size >= s.Nk, "static_size must cover offset + Nq");
  if (!o.freqs) return attention_masked(s, q, k, v, out, dense_keep(s, o));
  std::vector<float> qr(q, q + numel(s.B, s.Nq, s.H, s.D)), kr(k, k + numel(s.B, s.Nk, s.Hkv, s.D)),
      vr(v, v + numel(s.B, s.Nk, s.Hkv, s.Dv));
  apply_rotary(qr.data(), s.B, s.Nq, s.H, s.D, o.freqs, o.freqs_n, o.rotary_dim, o.offset);
  for (int b = 0; b < s.B; ++b) {  // only the new rows; cached rows are already rotated
    apply_rotary(kr.data() + numel(b, s.Nk, s.Hkv, s.D) + numel(1, o.offset, s.Hkv, s.D), 1, s.Nq, s.Hkv, s.D,
                 o.freqs, o.freqs_n, o.rotary_dim, o.offset);
    apply_rotary(vr.data() + numel(b, s.Nk, s.Hkv, s.Dv) + numel(1, o.offset, s.Hkv, s.Dv), 1, s.Nq, s.Hkv, s.Dv,
                 o.freqs, o.freqs_n, o.rotary_dim, o.offset);
  }
  attention_masked(s, qr.data(), kr.data(), vr.data(), out, dense_keep(s, o));
}

KeepFn sparse_conv_keep(const SparseSeqOpts& o) {
  const SeqGeom g = seq_geom(o);
  require(o.kernel_size >= 1 && o.kernel_size % 2 == 1, "kernel_size must be odd");
  require(o.dilation >= 1, "dilation must be >= 1");
  return [o, g](int b, int, int i, int j) {
    if (i < g.text_len) return j <= i;  // text: causal over text, no key mask
    if (j < g.text_len) return !o.key_mask || o.key_mask[size_t(b) * o.key_mask_len + j] != 0;
    const int dr = (i - g.text_len) / g.img - (j - g.text_len) / g.img;
    const int dc = (i - g.text_len) % g.img - (j - g.text_len) % g.img;
    return dr >= 0 && dc >= 0 && dr % o.dilation == 0 && dc % o.dilation == 0 &&
           dr / o.dilation < o.kernel_size && dc / o.dilation < o.kernel_size;
  };
}

KeepFn sparse_axial_keep(const SparseSeqOpts& o) {
  const SeqGeom g = seq_geom(o);
  require(o.axis == 0 || o.axis == 1, "axis must be 0 or 1");
  return [o, g](int b, int, int i, int j) {
    if (i < g.text_len) return j <= i;
    if (j < g.text_len) return !o.key_mask || o.key_mask[size_t(b) * o.key_mask_len + j] != 0;
    const int r = (i - g.text_len) / g.img, c = (i - g.text_len) % g.img;
    const int rj = (j - g.text_len) / g.img, cj = (j - g.text_len) % g.img;
    return o.axis == 0 ? (rj == r && cj <= c) : (cj == c && rj <= r);
  };
}

void sparse_conv(const Shape& s, const float* q, const float* k, const float* v, float* out, const SparseSeqOpts& o) {
  sparse_seq(s, q, k, v, out, o, sparse_conv_keep(o));
}

void sparse_axial(const Shape& s, const float* q, const float* k, const float* v, float* out, const SparseSeqOpts& o) {
  sparse_seq(s, q, k, v, out, o, sparse_axial_keep(o));
}

KeepFn block_sparse_keep(const Shape& s, const uint8_t* layout, int block, bool causal, const uint8_t* key_mask) {
  require(layout != nullptr && block >= 1, "block_sparse needs a layout and block >= 1");
  require(s.Nq == s.Nk, "block_sparse needs Nq == Nk");
  const int N = s.Nk, nb = (N + block - 1) / block;
  return [=](int b, int h, int i, int j) {
    if (!layout[(size_t(h) * nb + i / block) * nb + j / block]) return false;
    if (causal && j > i) return false;
    return !key_mask || key_mask[size_t(b) * N + j] != 0;
  };
}

void block_sparse(const Shape& s, const float* q, const float* k, const float* v, float* out,
                  const uint8_t* layout, int block, bool causal, const uint8_t* key_mask) {
  attention_masked(s, q, k, v, out, block_sparse_keep(s, layout, block, causal, key_mask));
}

void chunked(const Shape& s, const float* q, const float* k, const float* v, float* out) {
  attention_masked(s, q, k, v, out, [](int, int, int, int) { return true; });
}

std::vector<uint8_t> mask_matrix(const Shape& s, const KeepFn& keep, int b, int h) {
  std::vector<uint8_t> m(size_t(s.Nq) * s.Nk);
  for (int i = 0; i < s.Nq; ++i)
    for (int j = 0; j < s.Nk; ++j) m[size_t(i) * s.Nk + j] = keep(b, h, i, j) ? 1 : 0;
  return m;
}

}  // namespace attngen::ref
