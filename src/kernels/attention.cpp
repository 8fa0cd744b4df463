#include "kernels/attention.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "kernels/simd.hpp"

namespace primus::kernels {

namespace {

using simd::v16;
constexpr std::int64_t T = kAttnTile;  // tile edge (queries and keys)
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- micro-kernels -------------------------------------------------------------------------

// Which part of a T x T tile a causal diagonal tile needs: all of it, only columns <= row
// (query rows x key columns), or only columns >= row (key rows x query columns). Skipped
// entries are masked by the caller, so skipping them saves half a diagonal tile's work.
enum class Part { All, Lower, Upper };

// First and one-past-last 16-column chunk row block [i, i+4) needs.
inline void chunk_range(Part part, std::int64_t i, int& x0, int& x1) {
  x0 = part == Part::Upper ? static_cast<int>(i / 16) : 0;
  x1 = part == Part::Lower ? static_cast<int>((i + 3) / 16) + 1 : 4;
}

// c[T][T] = a[T][d] . bt[d][T]   (a rows contiguous, row stride d; bt packed [d][T])
// Register block: 4 rows x 64 columns = 16 accumulators.
template <int X0, int X1>
void tile_abt_block(const float* a0, const float* bt, float* c, std::int64_t d) {
  v16 acc[4][4] = {};
  for (std::int64_t k = 0; k < d; ++k) {
    const float* brow = bt + k * T;
    v16 b[4];
    for (int x = X0; x < X1; ++x) {
      b[x] = simd::load(brow + 16 * x);
      simd::in_register(b[x]);
    }
    for (int r = 0; r < 4; ++r) {
      const v16 ar = simd::splat(a0[r * d + k]);
      for (int x = X0; x < X1; ++x) acc[r][x] += ar * b[x];
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int x = X0; x < X1; ++x) simd::store(c + r * T + 16 * x, acc[r][x]);
}

void tile_abt(const float* a, const float* bt, float* c, std::int64_t d, Part part = Part::All) {
  for (std::int64_t i = 0; i < T; i += 4) {
    int x0, x1;
    chunk_range(part, i, x0, x1);
    const float* a0 = a + i * d;
    float* c0 = c + i * T;
    switch (x0 * 8 + x1) {  // instantiate each chunk range so the loops fully unroll
      case 0 * 8 + 1: tile_abt_block<0, 1>(a0, bt, c0, d); break;
      case 0 * 8 + 2: tile_abt_block<0, 2>(a0, bt, c0, d); break;
      case 0 * 8 + 3: tile_abt_block<0, 3>(a0, bt, c0, d); break;
      case 1 * 8 + 4: tile_abt_block<1, 4>(a0, bt, c0, d); break;
      case 2 * 8 + 4: tile_abt_block<2, 4>(a0, bt, c0, d); break;
      case 3 * 8 + 4: tile_abt_block<3, 4>(a0, bt, c0, d); break;
      default: tile_abt_block<0, 4>(a0, bt, c0, d); break;
    }
  }
}

// c[T][d] += p[T][j0:j1] . v[j0:j1][d] per row block (p packed [T][T]; v rows with stride
// ldv; c stride d), j1 <= kc; the row block's range follows `part` as in tile_abt.
// Register block: 4 rows x (16*NV) columns.
template <int NV>
void tile_ab_acc_chunk(const float* p, std::int64_t kc, const float* v, std::int64_t ldv, float* c,
                       std::int64_t d, std::int64_t col, Part part) {
  for (std::int64_t i = 0; i < T; i += 4) {
    const std::int64_t j0 = part == Part::Upper ? i : 0;
    const std::int64_t j1 = part == Part::Lower ? std::min(kc, i + 4) : kc;
    v16 acc[4][NV];
    for (int r = 0; r < 4; ++r)
      for (int x = 0; x < NV; ++x) acc[r][x] = simd::load(c + (i + r) * d + col + 16 * x);
    const float* p0 = p + i * T;
    for (std::int64_t j = j0; j < j1; ++j) {
      v16 vv[NV];
      for (int x = 0; x < NV; ++x) {
        vv[x] = simd::load(v + j * ldv + col + 16 * x);
        simd::in_register(vv[x]);
      }
      for (int r = 0; r < 4; ++r) {
        const v16 pr = simd::splat(p0[r * T + j]);
        for (int x = 0; x < NV; ++x) acc[r][x] += pr * vv[x];
      }
    }
    for (int r = 0; r < 4; ++r)
      for (int x = 0; x < NV; ++x) simd::store(c + (i + r) * d + col + 16 * x, acc[r][x]);
  }
}

void tile_ab_acc(const float* p, std::int64_t kc, const float* v, std::int64_t ldv, float* c,
                 std::int64_t d, Part part = Part::All) {
  std::int64_t col = 0;
  for (; col + 64 <= d; col += 64) tile_ab_acc_chunk<4>(p, kc, v, ldv, c, d, col, part);
  switch ((d - col) / 16) {
    case 3: tile_ab_acc_chunk<3>(p, kc, v, ldv, c, d, col, part); break;
    case 2: tile_ab_acc_chunk<2>(p, kc, v, ldv, c, d, col, part); break;
    case 1: tile_ab_acc_chunk<1>(p, kc, v, ldv, c, d, col, part); break;
    default: break;
  }
}

// dst[r][0:d] = src row r * mul for r < n (src row stride ld), zero rows n..T-1.
void copy_rows(const float* src, std::int64_t ld, std::int64_t n, std::int64_t d, float mul,
               float* dst) {
  for (std::int64_t r = 0; r < T; ++r) {
    float* out = dst + r * d;
    if (r < n) {
      const float* in = src + r * ld;
#pragma omp simd
      for (std::int64_t c = 0; c < d; ++c) out[c] = in[c] * mul;
    } else {
      std::fill(out, out + d, 0.0f);
    }
  }
}

// dst[c][r] = src row r, column c * mul (transposed into [d][T]); zero columns n..T-1.
void copy_transposed(const float* src, std::int64_t ld, std::int64_t n, std::int64_t d, float mul,
                     float* dst) {
  for (std::int64_t r = 0; r < n; ++r) {
    const float* in = src + r * ld;
    for (std::int64_t c = 0; c < d; ++c) dst[c * T + r] = in[c] * mul;
  }
  if (n < T)
    for (std::int64_t c = 0; c < d; ++c) std::fill(dst + c * T + n, dst + c * T + T, 0.0f);
}

// ---- work partition ------------------------------------------------------------------------

std::int64_t tiles(std::int64_t seq) { return (seq + T - 1) / T; }

// Per-thread scratch (floats) for qk head dim dk and v head dim dv.
std::size_t fwd_per_thread(std::int64_t dk, std::int64_t dv) {
  return static_cast<std::size_t>(T * dk + T * dv + T * T + 2 * T);
}
std::size_t bwd_per_thread(std::int64_t dk, std::int64_t dv) {
  // max(pass 1: qs, acc [T][dk] + gs [T][dv]; pass 2: kc, dka [T][dk] + vc, dva [T][dv]).
  return static_cast<std::size_t>(2 * T * dk + 2 * T * dv + 2 * T * T + 2 * T);
}

// Floats of the transposed, tile-packed copy of a [batch, seq, heads, d] operand:
// [batch, heads, tiles, d, T], zero-padded past seq.
std::size_t packed_size(std::int64_t batch, std::int64_t heads, std::int64_t seq, std::int64_t d) {
  return static_cast<std::size_t>(batch * heads * ((seq + T - 1) / T) * d * T);
}

// Packs src (token stride ld, head stride d) transposed per tile into dst (see packed_size),
// multiplying by mul. Call inside a parallel region: work-shares over (batch, head, tile).
void pack_transposed(const float* src, std::int64_t ld, std::int64_t batch, std::int64_t heads,
                     std::int64_t seq, std::int64_t batch_tokens, std::int64_t d, float mul, float* dst) {
  const std::int64_t nt = (seq + T - 1) / T;
#pragma omp for schedule(static)
  for (std::int64_t item = 0; item < batch * heads * nt; ++item) {
    const std::int64_t tile = item % nt, bh = item / nt;
    const std::int64_t b = bh / heads, h = bh % heads;
    const std::int64_t s0 = tile * T, n = std::min(T, seq - s0);
    copy_transposed(src + (b * batch_tokens + s0) * ld + h * d, ld, n, d, mul, dst + item * d * T);
  }
}

int usable_threads(std::size_t have, std::size_t shared, std::size_t per_thread, const char* what,
                   std::size_t need_one) {
  if (have < shared + per_thread)
    fail("attention {}: workspace of {} floats is too small (needs at least {})", what, have,
         need_one);
  const auto fit = static_cast<int>(std::min<std::size_t>((have - shared) / per_thread, 1 << 20));
  return std::max(1, std::min(fit, omp_get_max_threads()));
}

}  // namespace

float AttentionShape::scale() const {
  return softmax_scale > 0.0f ? softmax_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

void AttentionShape::validate() const {
  if (batch <= 0 || seq <= 0 || heads <= 0 || groups <= 0 || head_dim <= 0 || v_head_dim < 0)
    fail("attention: dimensions must be positive (batch {}, seq {}, heads {}, groups {}, "
         "head_dim {}, v_head_dim {})",
         batch, seq, heads, groups, head_dim, v_head_dim);
  if (heads % groups != 0)
    fail("attention: query heads ({}) must be a multiple of key/value groups ({})", heads, groups);
  if (head_dim % 16 != 0 || v_dim() % 16 != 0)
    fail("attention: head dims (qk {}, v {}) must be multiples of 16 (the vector width of the "
         "kernels)",
         head_dim, v_dim());
  if (softmax_scale < 0.0f) fail("attention: softmax_scale {} is negative", softmax_scale);
  if ((batch_tokens && batch_tokens < seq) || (lse_stride && lse_stride < seq))
    fail("attention: batch token stride {} / lse stride {} shorter than the sequence {}", batch_tokens, lse_stride, seq);
  if (q_stride() < heads * head_dim || k_stride() < groups * head_dim ||
      v_stride() < groups * v_dim() || o_stride() < heads * v_dim())
    fail("attention: token strides (q {}, k {}, v {}, out {}) smaller than the packed row",
         q_stride(), k_stride(), v_stride(), o_stride());
}

std::size_t attention_forward_workspace(const AttentionShape& s, int threads) {
  s.validate();
  return static_cast<std::size_t>(std::max(threads, 1)) * fwd_per_thread(s.head_dim, s.v_dim()) +
         packed_size(s.batch, s.groups, s.seq, s.head_dim);
}

std::size_t attention_backward_workspace(const AttentionShape& s, int threads) {
  s.validate();
  return static_cast<std::size_t>(std::max(threads, 1)) * bwd_per_thread(s.head_dim, s.v_dim()) +
         static_cast<std::size_t>(s.batch * s.heads * s.seq) +
         packed_size(s.batch, s.groups, s.seq, s.head_dim) +
         packed_size(s.batch, s.groups, s.seq, s.v_dim()) +
         packed_size(s.batch, s.heads, s.seq, s.head_dim) +
         packed_size(s.batch, s.heads, s.seq, s.v_dim());
}

// In both directions below: dk = qk head dim, dv = v head dim (and of out/dout).

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       float* out, float* lse, float* workspace, std::size_t workspace_floats) {
  s.validate();
  const std::int64_t dk = s.head_dim, dv = s.v_dim(), S = s.seq, H = s.heads;
  const std::int64_t BT = s.batch_token_stride(), LS = s.lse_row_stride();
  const std::int64_t per_group = s.heads / s.groups;
  const std::int64_t ldq = s.q_stride(), ldk = s.k_stride(), ldv = s.v_stride();
  const std::int64_t ldo = s.o_stride();
  const std::size_t per = fwd_per_thread(dk, dv);
  const std::size_t packed_k = packed_size(s.batch, s.groups, S, dk);
  const int nt = usable_threads(workspace_floats, packed_k, per, "forward", packed_k + per);
  const std::int64_t nqt = tiles(S);
  const std::int64_t items = s.batch * H * nqt;
  // Scores live in the log2 domain: q is pre-multiplied by scale*log2(e), softmax uses exp2.
  const float qmul = simd::kLog2e * s.scale();
  float* kt_all = workspace;  // k transposed per tile: [batch, groups, tiles, dk, T]

#pragma omp parallel num_threads(nt)
  {
    pack_transposed(k, ldk, s.batch, s.groups, S, BT, dk, 1.0f, kt_all);
    float* ws = workspace + packed_k + per * static_cast<std::size_t>(omp_get_thread_num());
    float* qs = ws;             // [T][dk]
    float* acc = qs + T * dk;   // [T][dv]
    float* sc = acc + T * dv;   // [T][T] scores, then probabilities
    float* mrow = sc + T * T;   // [T] running max (log2 domain)
    float* lrow = mrow + T;     // [T] running sum of exp2

    // Most expensive items (last query tiles) first for dynamic load balance.
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t item = 0; item < items; ++item) {
      const std::int64_t qt = nqt - 1 - item / (s.batch * H);
      const std::int64_t bh = item % (s.batch * H);
      const std::int64_t b = bh / H, h = bh % H, g = h / per_group;
      const std::int64_t q0 = qt * T, nq = std::min(T, S - q0);
      copy_rows(q + (b * BT + q0) * ldq + h * dk, ldq, nq, dk, qmul, qs);
      std::fill(acc, acc + T * dv, 0.0f);
      std::fill(mrow, mrow + T, -kInf);
      std::fill(lrow, lrow + T, 0.0f);
      for (std::int64_t ktile = 0; ktile < (s.causal ? qt + 1 : nqt); ++ktile) {
        const std::int64_t k0 = ktile * T, nk = std::min(T, S - k0);
        const bool diagonal = s.causal && ktile == qt;
        const Part part = diagonal ? Part::Lower : Part::All;
        tile_abt(qs, kt_all + ((b * s.groups + g) * nqt + ktile) * dk * T, sc, dk, part);
        for (std::int64_t i = 0; i < nq; ++i) {
          float* row = sc + i * T;
          // key j > query i (causal), and keys past the end, are masked out
          for (std::int64_t j = diagonal ? std::min(i + 1, nk) : nk; j < T; ++j) row[j] = -kInf;
          v16 r0 = simd::load(row), r1 = simd::load(row + 16), r2 = simd::load(row + 32),
              r3 = simd::load(row + 48);
          const float mx = simd::hmax(simd::vmax(simd::vmax(r0, r1), simd::vmax(r2, r3)));
          const float m_new = std::max(mrow[i], mx);
          const float alpha = simd::exp2(mrow[i] - m_new);
          r0 = simd::exp2(r0 - m_new);
          r1 = simd::exp2(r1 - m_new);
          r2 = simd::exp2(r2 - m_new);
          r3 = simd::exp2(r3 - m_new);
          simd::store(row, r0);
          simd::store(row + 16, r1);
          simd::store(row + 32, r2);
          simd::store(row + 48, r3);
          lrow[i] = lrow[i] * alpha + simd::hsum((r0 + r1) + (r2 + r3));
          mrow[i] = m_new;
          if (alpha != 1.0f) {
            float* a = acc + i * dv;
#pragma omp simd
            for (std::int64_t c = 0; c < dv; ++c) a[c] *= alpha;
          }
        }
        for (std::int64_t i = nq; i < T; ++i) std::fill(sc + i * T, sc + i * T + T, 0.0f);
        tile_ab_acc(sc, nk, v + (b * BT + k0) * ldv + g * dv, ldv, acc, dv, part);
      }
      for (std::int64_t i = 0; i < nq; ++i) {
        const float inv = 1.0f / lrow[i];
        float* o = out + (b * BT + q0 + i) * ldo + h * dv;
        const float* a = acc + i * dv;
#pragma omp simd
        for (std::int64_t c = 0; c < dv; ++c) o[c] = a[c] * inv;
        lse[(b * H + h) * LS + q0 + i] = (mrow[i] + std::log2(lrow[i])) * simd::kLn2;
      }
    }
  }
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const float* out, const float* lse, const float* dout, float* dq,
                        float* dk_out, float* dv_out, float* workspace,
                        std::size_t workspace_floats) {
  s.validate();
  const std::int64_t dk = s.head_dim, dv = s.v_dim(), S = s.seq, H = s.heads, G = s.groups;
  const std::int64_t BT = s.batch_token_stride(), LS = s.lse_row_stride();
  const std::int64_t per_group = H / G;
  const std::int64_t ldq = s.q_stride(), ldk = s.k_stride(), ldv = s.v_stride();
  const std::int64_t ldo = s.o_stride();
  const std::size_t per = bwd_per_thread(dk, dv);
  const std::size_t packed_k = packed_size(s.batch, G, S, dk);
  const std::size_t packed_v = packed_size(s.batch, G, S, dv);
  const std::size_t packed_q = packed_size(s.batch, H, S, dk);
  const std::size_t packed_g = packed_size(s.batch, H, S, dv);
  const auto shared =
      static_cast<std::size_t>(s.batch * H * S) + packed_k + packed_v + packed_q + packed_g;
  const int nt = usable_threads(workspace_floats, shared, per, "backward", shared + per);
  const std::int64_t nqt = tiles(S);
  const float scale = s.scale();
  const float qmul = simd::kLog2e * scale;
  float* delta = workspace;                  // [batch, heads, seq]: rowsum(dout * out)
  float* kt_all = delta + s.batch * H * S;   // [batch, groups, tiles, dk, T]
  float* vt_all = kt_all + packed_k;         // [batch, groups, tiles, dv, T]
  float* qt_all = vt_all + packed_v;         // [batch, heads, tiles, dk, T] q*scale*log2e
  float* gt_all = qt_all + packed_q;         // [batch, heads, tiles, dv, T] dout
  float* thread_ws = workspace + shared;

#pragma omp parallel num_threads(nt)
  {
    float* ws = thread_ws + per * static_cast<std::size_t>(omp_get_thread_num());
    pack_transposed(k, ldk, s.batch, G, S, BT, dk, 1.0f, kt_all);
    pack_transposed(v, ldv, s.batch, G, S, BT, dv, 1.0f, vt_all);
    pack_transposed(q, ldq, s.batch, H, S, BT, dk, qmul, qt_all);
    pack_transposed(dout, ldo, s.batch, H, S, BT, dv, 1.0f, gt_all);

#pragma omp for collapse(2) schedule(static)
    for (std::int64_t bs = 0; bs < s.batch * S; ++bs)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t row = (bs / S) * BT + bs % S;
        const float* o = out + row * ldo + h * dv;
        const float* g = dout + row * ldo + h * dv;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (std::int64_t c = 0; c < dv; ++c) acc += o[c] * g[c];
        delta[((bs / S) * H + h) * S + bs % S] = acc;
      }

    // ---- pass 1: dq, one item per (b, head, query tile) ----
    {
      float* qs = ws;               // [T][dk] q * scale * log2e
      float* acc = qs + T * dk;     // [T][dk] dq accumulator
      float* gs = acc + T * dk;     // [T][dv] dout
      float* pt = gs + T * dv;      // [T][T] probabilities, then dS
      float* dp = pt + T * T;       // [T][T] dP
      float* lse2 = dp + T * T;     // [T]
      float* drow = lse2 + T;       // [T]
      const std::int64_t items = s.batch * H * nqt;
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t item = 0; item < items; ++item) {
        const std::int64_t qt = nqt - 1 - item / (s.batch * H);
        const std::int64_t bh = item % (s.batch * H);
        const std::int64_t b = bh / H, h = bh % H, g = h / per_group;
        const std::int64_t q0 = qt * T, nq = std::min(T, S - q0);
        copy_rows(q + (b * BT + q0) * ldq + h * dk, ldq, nq, dk, qmul, qs);
        copy_rows(dout + (b * BT + q0) * ldo + h * dv, ldo, nq, dv, 1.0f, gs);
        for (std::int64_t i = 0; i < T; ++i) {
          lse2[i] = i < nq ? lse[(b * H + h) * LS + q0 + i] * simd::kLog2e : kInf;
          drow[i] = i < nq ? delta[(b * H + h) * S + q0 + i] : 0.0f;
        }
        std::fill(acc, acc + T * dk, 0.0f);
        for (std::int64_t ktile = 0; ktile < (s.causal ? qt + 1 : nqt); ++ktile) {
          const std::int64_t k0 = ktile * T, nk = std::min(T, S - k0);
          const float* kbase = k + (b * BT + k0) * ldk + g * dk;
          const std::int64_t tile_index = (b * G + g) * nqt + ktile;
          const bool diagonal = s.causal && ktile == qt;
          const Part part = diagonal ? Part::Lower : Part::All;
          tile_abt(qs, kt_all + tile_index * dk * T, pt, dk, part);
          tile_abt(gs, vt_all + tile_index * dv * T, dp, dv, part);
          for (std::int64_t i = 0; i < T; ++i) {
            float* prow = pt + i * T;
            const float* dprow = dp + i * T;
            for (int x = 0; x < 4; ++x) {
              const v16 p = simd::exp2(simd::load(prow + 16 * x) - lse2[i]);
              simd::store(prow + 16 * x, p * (simd::load(dprow + 16 * x) - drow[i]));
            }
            for (std::int64_t j = diagonal ? std::min(i + 1, nk) : nk; j < T; ++j) prow[j] = 0.0f;
          }
          tile_ab_acc(pt, nk, kbase, ldk, acc, dk, part);
        }
        for (std::int64_t i = 0; i < nq; ++i) {
          float* o = dq + (b * BT + q0 + i) * ldq + h * dk;
          const float* a = acc + i * dk;
#pragma omp simd
          for (std::int64_t c = 0; c < dk; ++c) o[c] = a[c] * scale;
        }
      }
    }

    // ---- pass 2: dk, dv, one item per (b, group, key tile) ----
    {
      float* kc = ws;               // [T][dk] k rows
      float* dka = kc + T * dk;     // [T][dk]
      float* vc = dka + T * dk;     // [T][dv] v rows
      float* dva = vc + T * dv;     // [T][dv]
      float* pt = dva + T * dv;     // [T][T] P^T (rows: keys, cols: queries)
      float* dp = pt + T * T;       // [T][T] dP^T, then dS^T
      float* lse2 = dp + T * T;     // [T]
      float* drow = lse2 + T;       // [T]
      const std::int64_t items = s.batch * G * nqt;
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t item = 0; item < items; ++item) {
        const std::int64_t ktile = item / (s.batch * G);  // ktile 0 has the most query tiles
        const std::int64_t bg = item % (s.batch * G);
        const std::int64_t b = bg / G, g = bg % G;
        const std::int64_t k0 = ktile * T, nk = std::min(T, S - k0);
        copy_rows(k + (b * BT + k0) * ldk + g * dk, ldk, nk, dk, 1.0f, kc);
        copy_rows(v + (b * BT + k0) * ldv + g * dv, ldv, nk, dv, 1.0f, vc);
        std::fill(dka, dka + T * dk, 0.0f);
        std::fill(dva, dva + T * dv, 0.0f);
        for (std::int64_t h = g * per_group; h < (g + 1) * per_group; ++h) {
          for (std::int64_t qtile = s.causal ? ktile : 0; qtile < nqt; ++qtile) {
            const std::int64_t q0 = qtile * T, nq = std::min(T, S - q0);
            const float* qbase = q + (b * BT + q0) * ldq + h * dk;
            const float* gbase = dout + (b * BT + q0) * ldo + h * dv;
            for (std::int64_t i = 0; i < T; ++i) {
              lse2[i] = i < nq ? lse[(b * H + h) * LS + q0 + i] * simd::kLog2e : kInf;
              drow[i] = i < nq ? delta[(b * H + h) * S + q0 + i] : 0.0f;
            }
            const std::int64_t tile_index = (b * H + h) * nqt + qtile;
            const bool diagonal = s.causal && qtile == ktile;
            const Part part = diagonal ? Part::Upper : Part::All;
            tile_abt(kc, qt_all + tile_index * dk * T, pt, dk, part);
            tile_abt(vc, gt_all + tile_index * dv * T, dp, dv, part);
            const v16 l0 = simd::load(lse2), l1 = simd::load(lse2 + 16),
                      l2 = simd::load(lse2 + 32), l3 = simd::load(lse2 + 48);
            const v16 d0 = simd::load(drow), d1 = simd::load(drow + 16),
                      d2 = simd::load(drow + 32), d3 = simd::load(drow + 48);
            for (std::int64_t j = 0; j < T; ++j) {
              float* prow = pt + j * T;
              float* dprow = dp + j * T;
              const v16 p0 = simd::exp2(simd::load(prow) - l0);
              const v16 p1 = simd::exp2(simd::load(prow + 16) - l1);
              const v16 p2 = simd::exp2(simd::load(prow + 32) - l2);
              const v16 p3 = simd::exp2(simd::load(prow + 48) - l3);
              simd::store(prow, p0);
              simd::store(prow + 16, p1);
              simd::store(prow + 32, p2);
              simd::store(prow + 48, p3);
              simd::store(dprow, p0 * (simd::load(dprow) - d0));
              simd::store(dprow + 16, p1 * (simd::load(dprow + 16) - d1));
              simd::store(dprow + 32, p2 * (simd::load(dprow + 32) - d2));
              simd::store(dprow + 48, p3 * (simd::load(dprow + 48) - d3));
              if (diagonal)  // query i < key j is masked
                for (std::int64_t i = 0; i < std::min(j, T); ++i) prow[i] = dprow[i] = 0.0f;
            }
            tile_ab_acc(pt, nq, gbase, ldo, dva, dv, part);
            tile_ab_acc(dp, nq, qbase, ldq, dka, dk, part);
          }
        }
        for (std::int64_t j = 0; j < nk; ++j) {
          float* ok = dk_out + (b * BT + k0 + j) * ldk + g * dk;
          float* ov = dv_out + (b * BT + k0 + j) * ldv + g * dv;
          const float* ak = dka + j * dk;
          const float* av = dva + j * dv;
#pragma omp simd
          for (std::int64_t c = 0; c < dk; ++c) ok[c] = ak[c] * scale;
#pragma omp simd
          for (std::int64_t c = 0; c < dv; ++c) ov[c] = av[c];
        }
      }
    }
  }
}

}  // namespace primus::kernels
