// Plain reference implementation of every attention variant in SPEC.md.
//
// This is the test oracle: written for obviousness, not speed. Dot products,
// softmax and the weighted sum of values are accumulated in double; results
// are stored as float32. Cost is O(B * H * Nq * Nk * (D + Dv)).
//
// Layout: q (B, Nq, H, D), k (B, Nk, Hkv, D), v (B, Nk, Hkv, Dv),
// out (B, Nq, H, Dv), all float32 row-major. Query head h reads kv head
// h / (H / Hkv). Masks are uint8, 1 = keep. A query row with no kept key
// outputs zeros. Scores are (q . k) / sqrt(D), the scale applied after rotary.
// Bad shapes or options throw std::invalid_argument.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace attngen::ref {

struct Shape { int B, Nq, Nk, H, Hkv, D, Dv; };

// keep(b, h, i, j): may query i (of batch b, head h) see key j?
using KeepFn = std::function<bool(int b, int h, int i, int j)>;

// Generic core: softmax over the kept keys (max-subtracted, double); rows
// with no kept key output zeros.
void attention_masked(const Shape& s, const float* q, const float* k, const float* v, float* out,
                      const KeepFn& keep);

// Rotary in place on a (B, N, H, D) tensor; token t of every batch is at
// absolute position pos0 + t. freqs is (Nf, R), R even, R <= D; the first R
// features rotate in interleaved pairs (SPEC "Rotary embedding"), computed in
// double. Throws if pos0 + N > Nf.
void apply_rotary(float* t, int B, int N, int H, int D, const float* freqs, int Nf, int R, int pos0);

// ---- Section 1: dense ----------------------------------------------------
struct DenseOpts {
  bool causal = false;
  int offset = 0;                       // KV-cache length; Nk == offset + Nq
  const uint8_t* key_mask = nullptr;    // (B, Nk)
  const uint8_t* static_mask = nullptr; // (S, S); query i at offset+i, key j at j
  int static_size = 0;
  const float* freqs = nullptr;         // (freqs_n, rotary_dim); rotates q, k, v
  int freqs_n = 0;
  int rotary_dim = 0;
};
// Without cache Nq == Nk and offset 0. With offset > 0, causal is
// j <= offset + i, and rotary rotates only q and the new k/v rows
// (offset..Nk-1) at absolute positions offset + t; cached rows are used as
// given (already rotated).
void dense(const Shape& s, const float* q, const float* k, const float* v, float* out, const DenseOpts& o);
KeepFn dense_keep(const Shape& s, const DenseOpts& o);

// ---- Sections 2 and 3: sparse conv / axial (DALL-E text + image grid) -----
struct SparseSeqOpts {
  int seq_len;
  int image_size;
  int kernel_size = 5;                // conv only, odd
  int dilation = 1;                   // conv only
  int axis = 0;                       // axial only: 0 = rows, 1 = columns
  const uint8_t* key_mask = nullptr;  // (B, key_mask_len), first text_len columns used; null = keep all
  int key_mask_len = 0;
  const float* freqs = nullptr;       // (freqs_n, rotary_dim); rotates q, k, v at positions 0..n-1
  int freqs_n = 0;
  int rotary_dim = 0;
};
// n = s.Nq = s.Nk <= seq_len tokens; text_len = seq_len + 1 - image_size^2
// (>= 1). The sequence is padded with zero vectors to text_len + image_size^2
// tokens, as the seed does, and the first n output rows are returned.
// Text query i: causal over text keys 0..i, no key mask. Image query (r, c):
// text keys with key_mask[b, j], plus conv: (r - a*dil, c - e*dil), a, e in
// 0..kernel_size-1, inside the grid; axial axis 0: (r, c' <= c); axis 1:
// (r' <= r, c).
void sparse_conv(const Shape& s, const float* q, const float* k, const float* v, float* out, const SparseSeqOpts& o);
void sparse_axial(const Shape& s, const float* q, const float* k, const float* v, float* out, const SparseSeqOpts& o);
KeepFn sparse_conv_keep(const SparseSeqOpts& o);
KeepFn sparse_axial_keep(const SparseSeqOpts& o);

// ---- Section 4: block-sparse ---------------------------------------------
// layout (H, nb, nb), nb = ceil(N / block), N = Nq = Nk. Keep (i, j) iff
// layout[h][i/block][j/block] && (!causal || j <= i) && (!key_mask || key_mask[b*N + j]).
void block_sparse(const Shape& s, const float* q, const float* k, const float* v, float* out,
                  const uint8_t* layout, int block, bool causal, const uint8_t* key_mask);
KeepFn block_sparse_keep(const Shape& s, const uint8_t* layout, int block, bool causal, const uint8_t* key_mask);

// ---- Section 5: chunked --------------------------------------------------
// Plain softmax attention, no mask. Chunk sizes do not change the math, so
// the reference has none.
void chunked(const Shape& s, const float* q, const float* k, const float* v, float* out);

// The boolean mask a variant implies, for building tests: (Nq x Nk)
// row-major 0/1 for batch b, head h. Use with the *_keep factories above,
// e.g. mask_matrix(s, dense_keep(s, o), b, h).
std::vector<uint8_t> mask_matrix(const Shape& s, const KeepFn& keep, int b, int h);

}  // namespace attngen::ref
