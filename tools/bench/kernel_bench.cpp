// Kernel micro-benchmark at tiny_llama's shapes (hidden 512, ffn 1408, 8 heads / 4 KV groups of
// 64, vocab 32000, 8 x 512 tokens): GFLOP/s of the three GEMMs of every linear layer in fp32 and
// bf16, and the causal attention forward/backward time. Compare attention with PyTorch's plain
// matmul-softmax attention: /usr/bin/python3 tools/bench/attention_torch.py.
//
//   kernel_bench [--tokens 4096] [--seq 512] [--reps 5]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/aligned.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "core/timer.hpp"
#include "kernels/activation.hpp"
#include "kernels/attention.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/gemm.hpp"
#include "kernels/optimizer.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rope.hpp"

using namespace primus;
using namespace primus::kernels;

namespace {

template <typename F>
double best_seconds(int reps, F&& f) {
  f();  // warm-up: primitive creation, first touch
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    Timer t;
    f();
    best = std::min(best, t.seconds());
  }
  return best;
}

struct Linear {
  const char* name;
  std::int64_t out, in;
};

}  // namespace

int main(int argc, char** argv) {
  std::int64_t tokens = 4096, seq = 512;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seq")) seq = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  std::printf("threads %d, tokens %lld\n\n", num_threads(), static_cast<long long>(tokens));
  const Linear layers[] = {{"qkv", 1024, 512},   {"proj", 512, 512}, {"fc1", 2816, 512},
                           {"fc2", 512, 1408},   {"logits", 32000, 512}};
  std::int64_t max_elems = 0;
  for (const auto& l : layers)
    max_elems = std::max({max_elems, tokens * l.in, tokens * l.out, l.out * l.in});
  Rng rng(1);
  AlignedBuffer<float> a(max_elems), b(max_elems), c(max_elems);
  rng.fill_normal(a.data(), a.size(), 0, 1);
  rng.fill_normal(b.data(), b.size(), 0, 1);
  AlignedBuffer<bf16> ah(max_elems), bh(max_elems);
  convert_f32_to_bf16(a.data(), ah.data(), a.size());
  convert_f32_to_bf16(b.data(), bh.data(), b.size());

  std::printf("%-8s %-8s %6s %6s %6s   %10s %10s\n", "layer", "gemm", "M", "N", "K", "fp32 GF/s",
              "bf16 GF/s");
  for (const auto& l : layers) {
    const std::int64_t T = tokens;
    struct Case {
      const char* what;
      GemmArgs g;
    } cases[] = {
        {"fwd", {false, true, T, l.out, l.in, 0, 0, 0, 1.0f, false}},
        {"dgrad", {false, false, T, l.in, l.out, 0, 0, 0, 1.0f, false}},
        {"wgrad", {true, false, l.out, l.in, T, 0, 0, 0, 1.0f, true}},
    };
    for (const auto& cs : cases) {
      const double flops = gemm_flops(cs.g.m, cs.g.n, cs.g.k);
      const double t32 = best_seconds(reps, [&] { gemm(cs.g, a.data(), b.data(), c.data()); });
      const double t16 = best_seconds(reps, [&] { gemm(cs.g, ah.data(), bh.data(), c.data()); });
      std::printf("%-8s %-8s %6lld %6lld %6lld   %10.1f %10.1f\n", l.name, cs.what,
                  static_cast<long long>(cs.g.m), static_cast<long long>(cs.g.n),
                  static_cast<long long>(cs.g.k), flops / t32 * 1e-9, flops / t16 * 1e-9);
    }
  }

  AttentionShape s{.batch = tokens / seq, .seq = seq, .heads = 8, .groups = 4, .head_dim = 64};
  const std::int64_t nq = s.batch * s.seq * s.heads * s.head_dim;
  const std::int64_t nkv = s.batch * s.seq * s.groups * s.head_dim;
  AlignedBuffer<float> q(nq), k(nkv), v(nkv), o(nq), dout(nq), dq(nq), dk(nkv), dv(nkv);
  AlignedBuffer<float> lse(s.batch * s.heads * s.seq);
  rng.fill_normal(q.data(), nq, 0, 1);
  rng.fill_normal(k.data(), nkv, 0, 1);
  rng.fill_normal(v.data(), nkv, 0, 1);
  rng.fill_normal(dout.data(), nq, 0, 1);
  const std::size_t ws = attention_backward_workspace(s, num_threads());
  AlignedBuffer<float> work(ws);
  const double tf = best_seconds(reps, [&] {
    attention_forward(s, q.data(), k.data(), v.data(), o.data(), lse.data(), work.data(), ws);
  });
  const double tb = best_seconds(reps, [&] {
    attention_backward(s, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(),
                       dq.data(), dk.data(), dv.data(), work.data(), ws);
  });
  // Useful flops of causal attention: QK^T and PV over the lower triangle (backward: 2.5x).
  const double fwd_flops = 2.0 * s.batch * s.heads * double(s.seq) * s.seq * s.head_dim;
  std::printf("\nattention b=%lld s=%lld heads=%lld groups=%lld d=%lld (causal)\n",
              static_cast<long long>(s.batch), static_cast<long long>(s.seq),
              static_cast<long long>(s.heads), static_cast<long long>(s.groups),
              static_cast<long long>(s.head_dim));
  std::printf("  forward  %8.2f ms  %6.1f GFLOP/s\n", tf * 1e3, fwd_flops / tf * 1e-9);
  std::printf("  backward %8.2f ms  %6.1f GFLOP/s\n", tb * 1e3, 2.5 * fwd_flops / tb * 1e-9);
  std::printf("  workspace %.1f MiB\n", double(ws) * 4 / (1 << 20));

  // Memory-bound kernels: time and effective bandwidth (bytes each kernel must move).
  std::printf("\n%-28s %10s %10s\n", "kernel", "ms", "GB/s");
  const auto row = [&](const char* name, double bytes, auto&& fn) {
    const double t = best_seconds(reps, fn);
    std::printf("%-28s %10.3f %10.1f\n", name, t * 1e3, bytes / t * 1e-9);
  };
  const std::int64_t T = tokens, hid = 512, ffn = 1408, vocab = 32000;
  AlignedBuffer<float> x(T * 2 * ffn), y(T * 2 * ffn), w(2 * ffn), rstd(T), nws(32 * 2 * ffn);
  rng.fill_normal(x.data(), x.size(), 0, 1);
  rng.fill_normal(w.data(), w.size(), 1, 0.1f);
  row("rmsnorm fwd [T,512]", 8.0 * T * hid,
      [&] { rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), T, hid, 1e-5f); });
  row("rmsnorm bwd [T,512]", 12.0 * T * hid, [&] {
    rmsnorm_backward(x.data(), x.data(), w.data(), rstd.data(), y.data(), w.data() + hid, T, hid,
                     nws.data());
  });
  row("swiglu fwd [T,2*1408]", 12.0 * T * ffn,
      [&] { swiglu_forward(x.data(), y.data(), T, ffn); });
  row("swiglu bwd [T,2*1408]", 20.0 * T * ffn,
      [&] { swiglu_backward(x.data(), x.data(), y.data(), T, ffn); });
  RopeConfig rc;
  rc.head_dim = 64;
  rc.base = 500000.0f;
  AlignedBuffer<float> table(rope_table_size(rc, seq));
  rope_tables(rc, seq, table.data());
  row("rope fwd q [T,8,64]", 8.0 * T * hid,
      [&] { rope_forward(x.data(), table.data(), T / seq, seq, 8, hid, rc, seq); });
  {
    AlignedBuffer<float> logits(T * vocab), losses(T), lse(T), dl(T);
    AlignedBuffer<std::int32_t> tgt(T);
    for (std::int64_t t = 0; t < T; ++t) {
      tgt[t] = static_cast<std::int32_t>((t * 7919) % vocab);
      dl[t] = 1.0f / static_cast<float>(T);
    }
    rng.fill_normal(logits.data(), logits.size(), 0, 1);
    row("cross-entropy fwd [T,32000]", 4.0 * T * vocab, [&] {
      cross_entropy_forward(logits.data(), tgt.data(), losses.data(), lse.data(), T, vocab, vocab);
    });
    row("cross-entropy bwd in place", 8.0 * T * vocab, [&] {
      cross_entropy_backward(logits.data(), lse.data(), tgt.data(), dl.data(), logits.data(), T,
                             vocab, vocab);
    });
  }
  {
    const std::int64_t n = 56'000'000;  // tiny_llama's parameter count
    AlignedBuffer<float> p(n), g(n), m(n), v(n);
    AlignedBuffer<bf16> pb(n);
    std::int64_t step = 0;
    row("adamw 56M params", 28.0 * n, [&] {
      adamw_step(p.data(), g.data(), m.data(), v.data(), n,
                 AdamWParams{.lr = 1e-3f, .weight_decay = 0.1f, .step = ++step});
    });
    row("adamw 56M + bf16 copy", 30.0 * n, [&] {
      adamw_step(p.data(), g.data(), m.data(), v.data(), n,
                 AdamWParams{.lr = 1e-3f, .weight_decay = 0.1f, .step = ++step}, pb.data());
    });
  }
  return 0;
}
