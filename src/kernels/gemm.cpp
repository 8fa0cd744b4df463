#include "kernels/gemm.hpp"

#include <dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/aligned.hpp"
#include "core/error.hpp"

namespace primus::kernels {

namespace {

using Key = std::tuple<int, bool, bool, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                       std::int64_t, std::int64_t, float, bool>;

struct Entry {
  dnnl::matmul prim;
  dnnl::memory a, b, c, scratch;
  AlignedBuffer<std::byte> scratch_buf;
  std::mutex mu;  // memory objects' handles are set per call
};

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::mutex mu;
  std::map<Key, std::unique_ptr<Entry>> cache;
};

Context& context() {
  static Context ctx;
  return ctx;
}

void check(const GemmArgs& g, std::int64_t lda, std::int64_t ldb, std::int64_t ldc) {
  if (g.m <= 0 || g.n <= 0 || g.k <= 0)
    fail("gemm: dimensions must be positive, got M={} N={} K={}", g.m, g.n, g.k);
  if (lda < (g.trans_a ? g.m : g.k) || ldb < (g.trans_b ? g.k : g.n) || ldc < g.n)
    fail("gemm: leading dimensions lda={} ldb={} ldc={} too small for M={} N={} K={}", lda, ldb,
         ldc, g.m, g.n, g.k);
}

struct Resolved {
  std::int64_t lda, ldb, ldc;
};

Resolved resolve(const GemmArgs& g) {
  const Resolved r{g.lda ? g.lda : (g.trans_a ? g.m : g.k), g.ldb ? g.ldb : (g.trans_b ? g.k : g.n),
                   g.ldc ? g.ldc : g.n};
  check(g, r.lda, r.ldb, r.ldc);
  return r;
}

using dims = dnnl::memory::dims;

// Memory descriptors of op(A) [M,K], op(B) [K,N], C [M,N]; transposes become strides.
dnnl::memory::desc a_desc(const GemmArgs& g, std::int64_t m, std::int64_t k, std::int64_t lda,
                          dnnl::memory::data_type t) {
  return {dims{m, k}, t, g.trans_a ? dims{1, lda} : dims{lda, 1}};
}
dnnl::memory::desc b_desc(const GemmArgs& g, std::int64_t k, std::int64_t n, std::int64_t ldb,
                          dnnl::memory::data_type t) {
  return {dims{k, n}, t, g.trans_b ? dims{1, ldb} : dims{ldb, 1}};
}
dnnl::memory::desc c_desc(std::int64_t m, std::int64_t n, std::int64_t ldc) {
  return {dims{m, n}, dnnl::memory::data_type::f32, dims{ldc, 1}};
}

Entry& lookup(const GemmArgs& g, dnnl::memory::data_type in_type) {
  const Resolved r = resolve(g);
  Context& ctx = context();
  const bool dyn = g.dynamic_shape;
  const Key key{static_cast<int>(in_type), g.trans_a, g.trans_b, dyn ? -1 : g.m, dyn ? -1 : g.n,
                dyn ? -1 : g.k, dyn ? -1 : r.lda, dyn ? -1 : r.ldb, dyn ? -1 : r.ldc, g.alpha,
                g.accumulate};
  std::lock_guard lock(ctx.mu);
  auto it = ctx.cache.find(key);
  if (it != ctx.cache.end()) return *it->second;

  const std::int64_t RT = DNNL_RUNTIME_DIM_VAL;
  const dnnl::memory::desc a_md = dyn ? a_desc(g, RT, RT, RT, in_type) : a_desc(g, g.m, g.k, r.lda, in_type);
  const dnnl::memory::desc b_md = dyn ? b_desc(g, RT, RT, RT, in_type) : b_desc(g, g.k, g.n, r.ldb, in_type);
  const dnnl::memory::desc c_md = dyn ? c_desc(RT, RT, RT) : c_desc(g.m, g.n, r.ldc);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // we own it: no per-call allocation
  if (g.alpha != 1.0f) attr.set_output_scales(0, {g.alpha});
  if (g.accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto entry = std::make_unique<Entry>();
  try {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, ctx.engine);
    entry->prim = dnnl::matmul(pd);
    const auto scratch_md = pd.scratchpad_desc();
    entry->scratch_buf = AlignedBuffer<std::byte>(scratch_md.get_size());
    entry->scratch = dnnl::memory(scratch_md, ctx.engine, entry->scratch_buf.data());
  } catch (const dnnl::error& e) {
    fail("gemm: oneDNN cannot build a matmul for M={} N={} K={} ({}{}): {}", g.m, g.n, g.k,
         in_type == dnnl::memory::data_type::bf16 ? "bf16" : "fp32",
         dyn ? ", dynamic shape" : "", e.what());
  }
  if (!dyn) {
    entry->a = dnnl::memory(a_md, ctx.engine, DNNL_MEMORY_NONE);
    entry->b = dnnl::memory(b_md, ctx.engine, DNNL_MEMORY_NONE);
    entry->c = dnnl::memory(c_md, ctx.engine, DNNL_MEMORY_NONE);
  }
  return *ctx.cache.emplace(key, std::move(entry)).first->second;
}

void run(const GemmArgs& g, dnnl::memory::data_type in_type, const void* a, const void* b,
         float* c) {
  Entry& e = lookup(g, in_type);
  Context& ctx = context();
  if (g.dynamic_shape) {
    // Concrete descriptors per call (small host objects; no data is allocated).
    const Resolved r = resolve(g);
    dnnl::memory am(a_desc(g, g.m, g.k, r.lda, in_type), ctx.engine, const_cast<void*>(a));
    dnnl::memory bm(b_desc(g, g.k, g.n, r.ldb, in_type), ctx.engine, const_cast<void*>(b));
    dnnl::memory cm(c_desc(g.m, g.n, r.ldc), ctx.engine, c);
    std::lock_guard lock(e.mu);  // the scratchpad is shared by every call of this primitive
    e.prim.execute(ctx.stream, {{DNNL_ARG_SRC, am},
                                {DNNL_ARG_WEIGHTS, bm},
                                {DNNL_ARG_DST, cm},
                                {DNNL_ARG_SCRATCHPAD, e.scratch}});
    ctx.stream.wait();
    return;
  }
  std::lock_guard lock(e.mu);
  e.a.set_data_handle(const_cast<void*>(a));
  e.b.set_data_handle(const_cast<void*>(b));
  e.c.set_data_handle(c);
  e.prim.execute(ctx.stream, {{DNNL_ARG_SRC, e.a},
                              {DNNL_ARG_WEIGHTS, e.b},
                              {DNNL_ARG_DST, e.c},
                              {DNNL_ARG_SCRATCHPAD, e.scratch}});
  ctx.stream.wait();
}

}  // namespace

void gemm(const GemmArgs& args, const float* a, const float* b, float* c) {
  run(args, dnnl::memory::data_type::f32, a, b, c);
}

void gemm(const GemmArgs& args, const bf16* a, const bf16* b, float* c) {
  run(args, dnnl::memory::data_type::bf16, a, b, c);
}

std::size_t gemm_cache_size() {
  Context& ctx = context();
  std::lock_guard lock(ctx.mu);
  return ctx.cache.size();
}

}  // namespace primus::kernels
