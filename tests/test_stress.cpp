// Concurrency stress: many threads call every variant (dense prefill/decode/
// rotary/masked, sparse_conv, sparse_axial, block_sparse on a shared layout
// handle, chunked) with different shapes at the same time, sharing Halide's
// worker pool, the counting allocator and the layout handles' list caches.
// Each result must be bitwise equal to the same call made alone, errors must
// stay in the thread that caused them, and no scratch may stay allocated.
// Also built under ThreadSanitizer (scripts/test-sanitizers.sh).
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attngen/attngen.h"
#include "attngen/layout.h"
#include "test_util.h"

namespace {

using namespace attngen_test;

// One call: inputs owned here, run() writes a fresh output each time.
struct Job {
  std::string name;
  std::function<attngen_status(std::vector<float>*)> run;
  attngen_status want = ATTNGEN_OK;      // a job may be a deliberate error
  std::string want_error_word;           // ... whose message names this word
  std::vector<float> baseline;           // output of the call made alone
};

struct Inputs {
  std::vector<float> q, k, v, freqs;
  std::vector<uint8_t> key_mask, static_mask, layout;
};

// Guard zones around out: a write outside it fails the job.
constexpr size_t kGuard = 32;
constexpr float kSentinel = 777.f;

attngen_status with_guarded_out(size_t n, std::vector<float>* out,
                                const std::function<attngen_status(float*)>& call) {
  std::vector<float> buf(n + 2 * kGuard, kSentinel);
  const attngen_status st = call(buf.data() + kGuard);
  for (size_t i = 0; i < kGuard; ++i) {
    if (buf[i] != kSentinel || buf[kGuard + n + i] != kSentinel) {
      ADD_FAILURE() << "a call wrote outside its output";
      break;
    }
  }
  out->assign(buf.begin() + kGuard, buf.begin() + kGuard + n);
  return st;
}

std::shared_ptr<Inputs> make_inputs(std::mt19937& rng, size_t nq, size_t nk, size_t nv) {
  auto in = std::make_shared<Inputs>();
  in->q = random_floats(nq, rng, -2.f, 2.f);
  in->k = random_floats(nk, rng, -2.f, 2.f);
  in->v = random_floats(nv, rng);
  return in;
}

Job dense_job(const std::string& name, int B, int Nq, int Nk, int H, int Hkv, int D, bool causal, int offset,
              bool key_mask, bool static_mask, int rotary, uint32_t seed) {
  std::mt19937 rng(seed);
  auto in = make_inputs(rng, size_t(B) * Nq * H * D, size_t(B) * Nk * Hkv * D, size_t(B) * Nk * Hkv * D);
  if (key_mask) {
    in->key_mask = random_mask(size_t(B) * Nk, rng, 0.7);
    in->key_mask[0] = 0;  // at least one masked key
  }
  const int S = Nk + 3;
  if (static_mask) in->static_mask = random_mask(size_t(S) * S, rng, 0.6);
  if (rotary) in->freqs = random_floats(size_t(Nk) * rotary, rng, -3.f, 3.f);
  Job j;
  j.name = name;
  j.run = [=](std::vector<float>* out) {
    return with_guarded_out(size_t(B) * Nq * H * D, out, [&](float* o) {
      attngen_tensor tq = f32_view(in->q.data(), {B, Nq, H, D});
      attngen_tensor tk = f32_view(in->k.data(), {B, Nk, Hkv, D});
      attngen_tensor tv = f32_view(in->v.data(), {B, Nk, Hkv, D});
      attngen_tensor to = f32_view(o, {B, Nq, H, D});
      attngen_tensor tkm = u8_view(in->key_mask.data(), {B, Nk});
      attngen_tensor tsm = u8_view(in->static_mask.data(), {S, S});
      attngen_tensor tfr = f32_view(in->freqs.data(), {Nk, rotary});
      attngen_dense_options opts;
      attngen_dense_options_init(&opts);
      opts.causal = causal;
      opts.offset = offset;
      opts.key_mask = key_mask ? &tkm : nullptr;
      opts.static_mask = static_mask ? &tsm : nullptr;
      opts.freqs = rotary ? &tfr : nullptr;
      return attngen_dense(&tq, &tk, &tv, &to, &opts);
    });
  };
  return j;
}

Job sparse_job(const std::string& name, bool conv, int B, int H, int D, int text, int image, int n, int kernel,
               int dilation, int axis, bool key_mask, int rotary, uint32_t seed) {
  std::mt19937 rng(seed);
  const int seq_len = text + image * image - 1;
  if (n <= 0) n = seq_len;
  const size_t size = size_t(B) * n * H * D;
  auto in = make_inputs(rng, size, size, size);
  if (key_mask) in->key_mask = random_mask(size_t(B) * text, rng, 0.8);
  if (rotary) in->freqs = random_floats(size_t(n) * rotary, rng, -3.f, 3.f);
  Job j;
  j.name = name;
  j.run = [=](std::vector<float>* out) {
    return with_guarded_out(size, out, [&](float* o) {
      attngen_tensor tq = f32_view(in->q.data(), {B, n, H, D});
      attngen_tensor tk = f32_view(in->k.data(), {B, n, H, D});
      attngen_tensor tv = f32_view(in->v.data(), {B, n, H, D});
      attngen_tensor to = f32_view(o, {B, n, H, D});
      attngen_tensor tkm = u8_view(in->key_mask.data(), {B, text});
      attngen_tensor tfr = f32_view(in->freqs.data(), {n, rotary});
      attngen_sparse_options opts;
      attngen_sparse_options_init(&opts);
      opts.seq_len = seq_len;
      opts.image_size = image;
      opts.kernel_size = kernel;
      opts.dilation = dilation;
      opts.axis = axis;
      opts.key_mask = key_mask ? &tkm : nullptr;
      opts.freqs = rotary ? &tfr : nullptr;
      return conv ? attngen_sparse_conv(&tq, &tk, &tv, &to, &opts) : attngen_sparse_axial(&tq, &tk, &tv, &to, &opts);
    });
  };
  return j;
}

// The handle is shared by every thread that runs the job (and by the other
// jobs made from it): its per-granule list cache is built under contention.
Job block_job(const std::string& name, std::shared_ptr<attngen_block_layout> handle, int B, int N, int H, int Hkv,
              int D, bool key_mask, uint32_t seed) {
  std::mt19937 rng(seed);
  auto in = make_inputs(rng, size_t(B) * N * H * D, size_t(B) * N * Hkv * D, size_t(B) * N * Hkv * D);
  if (key_mask) in->key_mask = random_mask(size_t(B) * N, rng, 0.8);
  Job j;
  j.name = name;
  j.run = [=](std::vector<float>* out) {
    return with_guarded_out(size_t(B) * N * H * D, out, [&](float* o) {
      attngen_tensor tq = f32_view(in->q.data(), {B, N, H, D});
      attngen_tensor tk = f32_view(in->k.data(), {B, N, Hkv, D});
      attngen_tensor tv = f32_view(in->v.data(), {B, N, Hkv, D});
      attngen_tensor to = f32_view(o, {B, N, H, D});
      attngen_tensor tkm = u8_view(in->key_mask.data(), {B, N});
      attngen_block_sparse_options opts{key_mask ? &tkm : nullptr};
      return attngen_block_sparse(&tq, &tk, &tv, &to, handle.get(), &opts);
    });
  };
  return j;
}

Job chunked_job(const std::string& name, int B, int Nq, int Nk, int H, int Hkv, int D, int Dv, int64_t query_chunk,
                uint32_t seed) {
  std::mt19937 rng(seed);
  auto in = make_inputs(rng, size_t(B) * Nq * H * D, size_t(B) * Nk * Hkv * D, size_t(B) * Nk * Hkv * Dv);
  Job j;
  j.name = name;
  j.run = [=](std::vector<float>* out) {
    return with_guarded_out(size_t(B) * Nq * H * Dv, out, [&](float* o) {
      attngen_tensor tq = f32_view(in->q.data(), {B, Nq, H, D});
      attngen_tensor tk = f32_view(in->k.data(), {B, Nk, Hkv, D});
      attngen_tensor tv = f32_view(in->v.data(), {B, Nk, Hkv, Dv});
      attngen_tensor to = f32_view(o, {B, Nq, H, Dv});
      attngen_chunked_options opts;
      attngen_chunked_options_init(&opts);
      opts.query_chunk_size = query_chunk;
      return attngen_chunked(&tq, &tk, &tv, &to, &opts);
    });
  };
  return j;
}

// A call that must fail validation, with a message naming `word`.
Job error_job(const std::string& name, attngen_status want, const std::string& word,
              std::function<attngen_status(std::vector<float>*)> run) {
  Job j;
  j.name = name;
  j.run = std::move(run);
  j.want = want;
  j.want_error_word = word;
  return j;
}

std::shared_ptr<attngen_block_layout> make_handle(int heads, int N, int block, bool causal, bool from_mask,
                                                  uint32_t seed) {
  attngen_block_layout* h = nullptr;
  if (from_mask) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> mask(size_t(N) * N);
    for (int r = 0; r < N; ++r)
      for (int c = 0; c < N; ++c) mask[size_t(r) * N + c] = (std::abs(r - c) < 24 || (rng() % 7 == 0)) ? 1 : 0;
    attngen_tensor t = u8_view(mask.data(), {N, N});
    EXPECT_EQ(attngen_block_layout_from_mask(&t, block, causal, &h), ATTNGEN_OK) << attngen_last_error();
  } else {
    int64_t nb = 0;
    EXPECT_EQ(attngen_layout_num_blocks(N, block, &nb), ATTNGEN_OK);
    std::vector<uint8_t> layout(size_t(heads) * nb * nb);
    if (block == 16) {
      EXPECT_EQ(attngen_layout_dalle(heads, N, N / 4, causal, seed, layout.data(), layout.size()), ATTNGEN_OK)
          << attngen_last_error();
    } else {  // DeepSpeed's variable sparsity at this block size, random blocks per head
      attngen_variable_sparsity_config cfg;
      attngen_variable_sparsity_config_init(&cfg);
      cfg.num_heads = heads;
      cfg.block = block;
      cfg.different_layout_per_head = 1;
      cfg.num_random_blocks = 1;
      cfg.attention = causal ? ATTNGEN_UNIDIRECTIONAL : ATTNGEN_BIDIRECTIONAL;
      cfg.seed = seed;
      EXPECT_EQ(attngen_layout_variable_sparsity(&cfg, N, layout.data(), layout.size()), ATTNGEN_OK)
          << attngen_last_error();
    }
    attngen_tensor t = u8_view(layout.data(), {heads, nb, nb});
    EXPECT_EQ(attngen_block_layout_create(&t, block, causal, &h), ATTNGEN_OK) << attngen_last_error();
  }
  return std::shared_ptr<attngen_block_layout>(h, attngen_block_layout_destroy);
}

std::vector<Job> make_jobs() {
  std::vector<Job> jobs;
  uint32_t seed = 100;
  // Dense: specialised and generic head dims, prefill and decode, GQA,
  // masks, rotary, KV cache.
  jobs.push_back(dense_job("dense_d64_causal", 1, 96, 96, 4, 4, 64, true, 0, false, false, 0, seed++));
  jobs.push_back(dense_job("dense_d40_gqa_keymask", 2, 70, 70, 6, 2, 40, false, 0, true, false, 0, seed++));
  jobs.push_back(dense_job("dense_d24_static", 1, 50, 50, 2, 1, 24, true, 0, false, true, 0, seed++));
  jobs.push_back(dense_job("dense_d64_rotary", 1, 65, 65, 2, 2, 64, true, 0, false, false, 32, seed++));
  jobs.push_back(dense_job("dense_d128_decode", 2, 1, 150, 4, 2, 128, true, 149, true, false, 0, seed++));
  jobs.push_back(dense_job("dense_d80_decode4", 1, 4, 40, 2, 2, 80, true, 36, false, false, 0, seed++));
  jobs.push_back(dense_job("dense_d16_tiny", 3, 3, 3, 1, 1, 16, false, 0, false, false, 0, seed++));
  // DALL-E sparse (conv and both axial axes, with/without mask and rotary).
  jobs.push_back(sparse_job("sparse_conv_d64", true, 1, 2, 64, 20, 8, 0, 5, 1, 0, true, 0, seed++));
  jobs.push_back(sparse_job("sparse_conv_d40_dil2", true, 2, 2, 40, 9, 6, 30, 3, 2, 0, false, 16, seed++));
  jobs.push_back(sparse_job("sparse_axial_row_d64", false, 1, 3, 64, 16, 7, 0, 5, 1, 0, true, 0, seed++));
  jobs.push_back(sparse_job("sparse_axial_col_d32", false, 1, 2, 32, 12, 6, 40, 5, 1, 1, false, 8, seed++));
  // Block-sparse: two handles, each shared by several jobs.
  auto dalle = make_handle(1, 128, 16, true, false, 7);
  auto per_head = make_handle(3, 96, 32, false, false, 8);
  auto masked = make_handle(1, 80, 16, true, true, 9);
  jobs.push_back(block_job("block_dalle_d64", dalle, 1, 128, 2, 2, 64, false, seed++));
  jobs.push_back(block_job("block_dalle_d40_keymask", dalle, 2, 128, 2, 1, 40, true, seed++));
  jobs.push_back(block_job("block_per_head_d64", per_head, 1, 96, 3, 3, 64, false, seed++));
  jobs.push_back(block_job("block_from_mask_d32", masked, 1, 80, 2, 2, 32, false, seed++));
  jobs.push_back(block_job("block_from_mask_short", masked, 1, 50, 2, 2, 32, true, seed++));
  // Chunked: Nq != Nk, Dv != D, GQA, several query chunks per call.
  jobs.push_back(chunked_job("chunked_d64", 1, 100, 100, 2, 2, 64, 64, 0, seed++));
  jobs.push_back(chunked_job("chunked_cross_dv", 2, 33, 77, 4, 2, 40, 24, 0, seed++));
  jobs.push_back(chunked_job("chunked_qchunks", 1, 130, 45, 2, 1, 80, 80, 32, seed++));
  // Deliberate errors, interleaved with the good calls.
  {
    std::mt19937 rng(seed++);
    auto in = make_inputs(rng, 2 * 8 * 2 * 16, 2 * 8 * 2 * 16, 2 * 8 * 2 * 16);
    jobs.push_back(error_job("error_dtype", ATTNGEN_ERR_DTYPE, "k", [in](std::vector<float>* out) {
      out->assign(in->q.size(), 0.f);
      attngen_tensor tq = f32_view(in->q.data(), {2, 8, 2, 16});
      attngen_tensor tk = make_view(in->k.data(), ATTNGEN_U8, {2, 8, 2, 16});
      attngen_tensor tv = f32_view(in->v.data(), {2, 8, 2, 16});
      attngen_tensor to = f32_view(out->data(), {2, 8, 2, 16});
      return attngen_chunked(&tq, &tk, &tv, &to, nullptr);
    }));
    jobs.push_back(error_job("error_offset", ATTNGEN_ERR_OPTION, "offset", [in](std::vector<float>* out) {
      out->assign(in->q.size(), 0.f);
      attngen_tensor tq = f32_view(in->q.data(), {2, 8, 2, 16});
      attngen_tensor tk = f32_view(in->k.data(), {2, 8, 2, 16});
      attngen_tensor tv = f32_view(in->v.data(), {2, 8, 2, 16});
      attngen_tensor to = f32_view(out->data(), {2, 8, 2, 16});
      attngen_dense_options o;
      attngen_dense_options_init(&o);
      o.offset = -1;
      return attngen_dense(&tq, &tk, &tv, &to, &o);
    }));
  }
  return jobs;
}

// Whole-word search (the message names the argument).
bool names_word(const std::string& msg, const std::string& w) {
  for (size_t p = msg.find(w); p != std::string::npos; p = msg.find(w, p + 1)) {
    const bool l = p == 0 || !(std::isalnum((unsigned char)msg[p - 1]) || msg[p - 1] == '_');
    const bool r = p + w.size() >= msg.size() || !(std::isalnum((unsigned char)msg[p + w.size()]) || msg[p + w.size()] == '_');
    if (l && r) return true;
  }
  return false;
}

// Runs one job and checks status, message and (for good jobs) the output
// against the baseline. Returns a description of the first problem, or "".
std::string run_and_check(const Job& j) {
  std::vector<float> out;
  const attngen_status st = j.run(&out);
  const std::string msg = attngen_last_error();
  if (st != j.want) {
    return j.name + ": status " + attngen_status_string(st) + " (" + msg + "), want " +
           attngen_status_string(j.want);
  }
  if (j.want != ATTNGEN_OK) {
    if (!names_word(msg, j.want_error_word)) return j.name + ": message '" + msg + "' does not name " + j.want_error_word;
    return "";
  }
  if (!msg.empty()) return j.name + ": successful call left an error message '" + msg + "'";
  attngen_call_stats stats{};
  if (attngen_last_call_stats(&stats) != ATTNGEN_OK || stats.kernel_calls < 1) {
    return j.name + ": last_call_stats does not describe this thread's call";
  }
  if (!bitwise_equal(out, j.baseline)) {
    size_t i = 0;
    while (i < out.size() && std::memcmp(&out[i], &j.baseline[i], sizeof(float)) == 0) ++i;
    return j.name + ": concurrent result differs from the single-threaded run at element " + std::to_string(i);
  }
  return "";
}

class Stress : public ::testing::Test {
 protected:
  void SetUp() override {
    jobs = make_jobs();
    // Baselines: every call alone, one after the other on this thread.
    for (Job& j : jobs) {
      const attngen_status st = j.run(&j.baseline);
      ASSERT_EQ(st, j.want) << j.name << ": " << attngen_last_error();
      if (st == ATTNGEN_OK) {
        bool finite = true;
        for (float x : j.baseline) finite &= std::isfinite(x);
        ASSERT_TRUE(finite) << j.name << ": baseline has non-finite values";
      }
      // A second run alone must already be bitwise identical.
      ASSERT_EQ(run_and_check(j), "");
    }
  }
  std::vector<Job> jobs;
};

void hammer(const std::vector<Job>& jobs, int threads, int rounds) {
  std::atomic<int> failures{0};
  std::vector<std::string> first_error(threads);
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int r = 0; r < rounds; ++r) {
        // Each thread walks the jobs from its own start and stride, so
        // different variants and shapes overlap in time.
        const size_t n = jobs.size();
        for (size_t i = 0; i < n; ++i) {
          const Job& j = jobs[(size_t(t) * 7 + i * (t % 2 ? 1 : n - 1) + r) % n];
          std::string e = run_and_check(j);
          if (!e.empty()) {
            failures.fetch_add(1);
            if (first_error[t].empty()) first_error[t] = e;
          }
        }
      }
    });
  }
  go = true;
  for (std::thread& th : pool) th.join();
  std::string all;
  for (const std::string& e : first_error)
    if (!e.empty()) all += "\n  " + e;
  EXPECT_EQ(failures.load(), 0) << "failures in concurrent calls:" << all;
}

TEST_F(Stress, SixteenThreadsAllVariantsBitwiseEqual) {
  const int64_t live_before = attngen_scratch_live_bytes();
  hammer(jobs, 16, 4);
  EXPECT_EQ(attngen_scratch_live_bytes(), live_before) << "kernel scratch still allocated after every call returned";
}

// Halide's pool is resized while other threads run kernels: results must
// not depend on the pool size, and nothing may crash.
TEST_F(Stress, PoolResizeDuringCalls) {
  std::atomic<bool> stop{false};
  std::thread resizer([&] {
    int n = 1;
    while (!stop.load()) {
      attngen_set_num_threads(n);
      n = n % 4 + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  hammer(jobs, 8, 1);
  stop = true;
  resizer.join();
  attngen_set_num_threads(0);
}

// Layout handles created, used by several threads and destroyed, repeatedly
// (the lists are built lazily, under contention, on the first call).
TEST(StressLayouts, FreshHandleSharedByThreads) {
  for (int rep = 0; rep < 3; ++rep) {
    auto handle = make_handle(1, 96, 16 * (rep + 1), rep % 2 == 0, rep == 2, 40 + rep);
    ASSERT_NE(handle, nullptr);
    Job j = block_job("fresh", handle, 1, 96, 2, 2, 32, false, 50 + rep);
    std::vector<std::thread> pool;
    std::vector<std::vector<float>> outs(8);
    std::vector<attngen_status> sts(8);
    for (int t = 0; t < 8; ++t) pool.emplace_back([&, t] { sts[t] = j.run(&outs[t]); });
    for (std::thread& th : pool) th.join();
    for (int t = 0; t < 8; ++t) {
      ASSERT_EQ(sts[t], ATTNGEN_OK);
      EXPECT_TRUE(bitwise_equal(outs[t], outs[0])) << "thread " << t << " of rep " << rep;
    }
    std::vector<float> alone;
    ASSERT_EQ(j.run(&alone), ATTNGEN_OK);
    EXPECT_TRUE(bitwise_equal(alone, outs[0]));
  }
}

}  // namespace
