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

Entry& lookup(const GemmArgs& g, dnnl::memory::data_type in_type) {
  const std::int64_t lda = g.lda ? g.lda : (g.trans_a ? g.m : g.k);
  const std::int64_t ldb = g.ldb ? g.ldb : (g.trans_b ? g.k : g.n);
  const std::int64_t ldc = g.ldc ? g.ldc : g.n;
  check(g, lda, ldb, ldc);
  Context& ctx = context();
  const Key key{static_cast<int>(in_type), g.trans_a, g.trans_b, g.m, g.n, g.k, lda, ldb, ldc,
                g.alpha, g.accumulate};
  std::lock_guard lock(ctx.mu);
  auto it = ctx.cache.find(key);
  if (it != ctx.cache.end()) return *it->second;

  using dims = dnnl::memory::dims;
  // Transposes are expressed as strides of the logical [M,K] / [K,N] matrices.
  const dnnl::memory::desc a_md(dims{g.m, g.k}, in_type,
                                g.trans_a ? dims{1, lda} : dims{lda, 1});
  const dnnl::memory::desc b_md(dims{g.k, g.n}, in_type,
                                g.trans_b ? dims{1, ldb} : dims{ldb, 1});
  const dnnl::memory::desc c_md(dims{g.m, g.n}, dnnl::memory::data_type::f32, dims{ldc, 1});
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
    fail("gemm: oneDNN cannot build a matmul for M={} N={} K={} ({}): {}", g.m, g.n, g.k,
         in_type == dnnl::memory::data_type::bf16 ? "bf16" : "fp32", e.what());
  }
  entry->a = dnnl::memory(a_md, ctx.engine, DNNL_MEMORY_NONE);
  entry->b = dnnl::memory(b_md, ctx.engine, DNNL_MEMORY_NONE);
  entry->c = dnnl::memory(c_md, ctx.engine, DNNL_MEMORY_NONE);
  return *ctx.cache.emplace(key, std::move(entry)).first->second;
}

void run(Entry& e, const void* a, const void* b, float* c) {
  std::lock_guard lock(e.mu);
  e.a.set_data_handle(const_cast<void*>(a));
  e.b.set_data_handle(const_cast<void*>(b));
  e.c.set_data_handle(c);
  Context& ctx = context();
  e.prim.execute(ctx.stream, {{DNNL_ARG_SRC, e.a},
                              {DNNL_ARG_WEIGHTS, e.b},
                              {DNNL_ARG_DST, e.c},
                              {DNNL_ARG_SCRATCHPAD, e.scratch}});
  ctx.stream.wait();
}

}  // namespace

void gemm(const GemmArgs& args, const float* a, const float* b, float* c) {
  run(lookup(args, dnnl::memory::data_type::f32), a, b, c);
}

void gemm(const GemmArgs& args, const bf16* a, const bf16* b, float* c) {
  run(lookup(args, dnnl::memory::data_type::bf16), a, b, c);
}

std::size_t gemm_cache_size() {
  Context& ctx = context();
  std::lock_guard lock(ctx.mu);
  return ctx.cache.size();
}

}  // namespace primus::kernels
