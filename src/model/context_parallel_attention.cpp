#include "model/context_parallel_attention.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace primus::model {

namespace {

constexpr int kTagKv = 7301, kTagDkv = 7302;

// dst rows [rows, width] (stride ld_dst) += src rows (stride ld_src).
void add_rows(float* dst, std::int64_t ld_dst, const float* src, std::int64_t ld_src, std::int64_t rows,
              std::int64_t width) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * ld_dst;
    const float* s = src + r * ld_src;
#pragma omp simd
    for (std::int64_t c = 0; c < width; ++c) d[c] += s[c];
  }
}

}  // namespace

ContextParallelAttention::ContextParallelAttention(const kernels::AttentionShape& shape, const ModelParallel& parallel,
                                                   BufferPlan& scratch)
    : shape_(shape), mp_(parallel) {
  shape_.validate();
  const int threads = num_threads();
  ws_floats_ = std::max(kernels::attention_forward_workspace(shape_, threads),
                        kernels::attention_backward_workspace(shape_, threads));
  ws_ = scratch.add(static_cast<std::int64_t>(ws_floats_));
  kv_[0] = kv_[1] = dkv_[0] = dkv_[1] = dkv_part_ = dq_part_ = out_part_ = lse_part_ = 0;
  if (mp_.cp_size() == 1) return;
  if (!shape_.causal || shape_.batch_tokens || shape_.lse_stride)
    fail("internal: context-parallel attention takes the rank's whole causal attention");
  if (shape_.seq % 2 != 0) fail("internal: context-parallel attention needs two equal chunks, got {} tokens", shape_.seq);
  if (shape_.o_stride() != shape_.heads * shape_.v_dim())
    fail("internal: context-parallel attention needs a packed output");
  chunk_ = shape_.seq / 2;
  kv_width_ = shape_.groups * (shape_.head_dim + shape_.v_dim());
  const std::int64_t B = shape_.batch, S = shape_.seq, H = shape_.heads;
  for (int i = 0; i < 2; ++i) {
    kv_[i] = scratch.add(B * S * kv_width_);
    dkv_[i] = scratch.add(B * S * kv_width_);
  }
  dkv_part_ = scratch.add(B * S * kv_width_);
  dq_part_ = scratch.add(B * S * shape_.q_stride());
  out_part_ = scratch.add(B * S * H * shape_.v_dim());
  lse_part_ = scratch.add(B * H * S);
}

kernels::AttentionShape ContextParallelAttention::chunk_shape() const {
  kernels::AttentionShape s = shape_;
  s.seq = chunk_;
  s.causal = false;
  s.batch_tokens = shape_.seq;
  s.lse_stride = shape_.seq;
  s.ld_kv = s.ld_v = kv_width_;
  return s;
}

void ContextParallelAttention::forward(const BlockCall& call, const float* q, const float* k, const float* v,
                                       float* out, float* lse) const {
  float* ws = call.at_scratch(ws_);
  kernels::attention_forward(shape_, q, k, v, out, lse, ws, ws_floats_);
  const int cp = mp_.cp_size();
  if (cp == 1) return;
  const int r = mp_.cp_rank(), next = (r + 1) % cp, prev = (r + cp - 1) % cp;
  parallel::Communicator& group = mp_.cp_group();
  const std::int64_t B = shape_.batch, S = shape_.seq, H = shape_.heads, G = shape_.groups, dk = shape_.head_dim,
                     dv = shape_.v_dim(), c = chunk_, W = kv_width_, n = B * S * W, ldq = shape_.q_stride(),
                     ldo = H * dv;
  float* kv[2] = {call.at_scratch(kv_[0]), call.at_scratch(kv_[1])};
  // The ring's layout of this rank's block: [k groups | v groups] per token.
  const std::int64_t ldk = shape_.k_stride(), ldv = shape_.v_stride();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < B * S; ++t) {
    std::copy_n(k + t * ldk, G * dk, kv[0] + t * W);
    std::copy_n(v + t * ldv, G * dv, kv[0] + t * W + G * dk);
  }
  parallel::Request send = group.isend(kv[0], n, next, kTagKv), recv = group.irecv(kv[1], n, prev, kTagKv);
  float* out_part = call.at_scratch(out_part_);
  float* lse_part = call.at_scratch(lse_part_);
  const kernels::AttentionShape cs = chunk_shape();
  // out, lse of query chunk qc merged with the block's chunk kc.
  auto partial = [&](const float* block, int qc, int kc) {
    const std::int64_t q0 = chunk_rows(qc), k0 = chunk_rows(kc);
    kernels::attention_forward(cs, q + q0 * ldq, block + k0 * W, block + k0 * W + G * dk, out_part + q0 * ldo,
                               lse_part + q0, ws, ws_floats_);
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t s = q0; s < q0 + c; ++s)
        for (std::int64_t h = 0; h < H; ++h) {
          float& l = lse[(b * H + h) * S + s];
          const float lp = lse_part[(b * H + h) * S + s];
          const float m = std::max(l, lp);
          const float merged = m + std::log(std::exp(l - m) + std::exp(lp - m));
          const float wo = std::exp(l - merged), wp = std::exp(lp - merged);
          float* o = out + (b * S + s) * ldo + h * dv;
          const float* p = out_part + (b * S + s) * ldo + h * dv;
#pragma omp simd
          for (std::int64_t x = 0; x < dv; ++x) o[x] = wo * o[x] + wp * p[x];
          l = merged;
        }
  };
  for (int i = 1; i < cp; ++i) {
    group.wait(send);
    group.wait(recv);
    const float* block = kv[i % 2];  // the block of rank j
    if (i + 1 < cp) {
      send = group.isend(block, n, next, kTagKv);
      recv = group.irecv(kv[(i + 1) % 2], n, prev, kTagKv);
    }
    const int j = (r - i + cp) % cp;
    if (j < r) {
      partial(block, 0, 0);
      partial(block, 1, 0);
    } else {
      partial(block, 1, 0);
      partial(block, 1, 1);
    }
  }
}

void ContextParallelAttention::backward(const BlockCall& call, const float* q, const float* k, const float* v,
                                        const float* out, const float* lse, const float* dout, float* dq, float* dk,
                                        float* dv_out) const {
  float* ws = call.at_scratch(ws_);
  const int cp = mp_.cp_size();
  if (cp == 1) {
    kernels::attention_backward(shape_, q, k, v, out, lse, dout, dq, dk, dv_out, ws, ws_floats_);
    return;
  }
  const int r = mp_.cp_rank(), next = (r + 1) % cp, prev = (r + cp - 1) % cp;
  parallel::Communicator& group = mp_.cp_group();
  const std::int64_t B = shape_.batch, S = shape_.seq, H = shape_.heads, G = shape_.groups, dqk = shape_.head_dim,
                     dv = shape_.v_dim(), W = kv_width_, n = B * S * W, ldq = shape_.q_stride(), ldo = H * dv,
                     ldk = shape_.k_stride(), ldv = shape_.v_stride();
  float* kv[2] = {call.at_scratch(kv_[0]), call.at_scratch(kv_[1])};
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < B * S; ++t) {
    std::copy_n(k + t * ldk, G * dqk, kv[0] + t * W);
    std::copy_n(v + t * ldv, G * dv, kv[0] + t * W + G * dqk);
  }
  parallel::Request send = group.isend(kv[0], n, next, kTagKv), recv = group.irecv(kv[1], n, prev, kTagKv);
  float* acc = call.at_scratch(dkv_[0]);  // dK/dV of the block this rank holds, summed so far
  float* in = call.at_scratch(dkv_[1]);
  kernels::AttentionShape own = shape_;
  own.ld_kv = own.ld_v = W;
  kernels::attention_backward(own, q, kv[0], kv[0] + G * dqk, out, lse, dout, dq, acc, acc + G * dqk, ws, ws_floats_);

  float* dq_part = call.at_scratch(dq_part_);
  float* dkv_part = call.at_scratch(dkv_part_);
  const kernels::AttentionShape cs = chunk_shape();
  auto partial = [&](const float* block, int qc, int kc) {
    const std::int64_t q0 = chunk_rows(qc), k0 = chunk_rows(kc);
    kernels::attention_backward(cs, q + q0 * ldq, block + k0 * W, block + k0 * W + G * dqk, out + q0 * ldo, lse + q0,
                                dout + q0 * ldo, dq_part + q0 * ldq, dkv_part + k0 * W, dkv_part + k0 * W + G * dqk, ws,
                                ws_floats_);
    for (std::int64_t b = 0; b < B; ++b) {
      add_rows(dq + (b * S + q0) * ldq, ldq, dq_part + (b * S + q0) * ldq, ldq, chunk_, H * dqk);
      add_rows(acc + (b * S + k0) * W, W, dkv_part + (b * S + k0) * W, W, chunk_, W);
    }
  };
  for (int i = 1; i < cp; ++i) {
    // The previous block's dK/dV go on with it to the next rank; this rank adds to the block it gets.
    parallel::Request dsend = group.isend(acc, n, next, kTagDkv), drecv = group.irecv(in, n, prev, kTagDkv);
    group.wait(send);
    group.wait(recv);
    const float* block = kv[i % 2];
    if (i + 1 < cp) {
      send = group.isend(block, n, next, kTagKv);
      recv = group.irecv(kv[(i + 1) % 2], n, prev, kTagKv);
    }
    group.wait(dsend);
    group.wait(drecv);
    std::swap(acc, in);
    const int j = (r - i + cp) % cp;
    if (j < r) {
      partial(block, 0, 0);
      partial(block, 1, 0);
    } else {
      partial(block, 1, 0);
      partial(block, 1, 1);
    }
  }
  // One more hop brings each block's complete dK/dV home.
  parallel::Request dsend = group.isend(acc, n, next, kTagDkv), drecv = group.irecv(in, n, prev, kTagDkv);
  group.wait(dsend);
  group.wait(drecv);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < B * S; ++t) {
    std::copy_n(in + t * W, G * dqk, dk + t * ldk);
    std::copy_n(in + t * W + G * dqk, G * dv, dv_out + t * ldv);
  }
}

}  // namespace primus::model
