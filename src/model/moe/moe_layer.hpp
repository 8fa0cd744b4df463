// Megatron-Core's MoELayer as an MLP block:
//
//   indices, probs = router(x)                       top-k experts per token (+ auxiliary losses)
//   rows           = dispatch(x)                     tokens sorted by expert (capacity applied)
//   y              = combine(experts(rows, probs))   each token's expert outputs summed
//                  + gate(x) · shared_experts(x)     when moe_shared_expert_intermediate_size is set
//
// gate(x) = sigmoid(x · w_g) with moe_shared_expert_gate, else 1.
//
// Under sequence parallelism (required with tensor parallelism, as in Megatron) the routed part
// works on the rank's own tokens with whole experts (expert tensor parallelism 1); the shared
// experts are a tensor-parallel MLP over the gathered sequence.
// With expert_tensor_parallel_size > 1 each routed expert is split over the expert-tensor-parallel
// group instead (ExpertTensorParallel gathers the rows over it and reduce-scatters the outputs).
//
// Under expert parallelism (expert_model_parallel_size > 1) this rank holds E/ep of the routed
// experts; routing and planning stay on the rank's own tokens and an ExpertExchange (all-to-all or
// all-gather, moe_token_dispatcher_type) carries the rows to the experts' ranks and back. The shared
// experts and the router are dense (replicated over the expert group, reduced over data parallel).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/block.hpp"
#include "model/mlp.hpp"
#include "model/moe/expert_exchange.hpp"
#include "model/moe/expert_tensor_parallel.hpp"
#include "model/moe/experts.hpp"
#include "model/moe/router.hpp"
#include "model/moe/token_dispatcher.hpp"

namespace primus::model {

class MoeLayer final : public MlpBlock {
 public:
  // prefix: "decoder.layers.{i}.mlp."
  MoeLayer(const BuildContext& ctx, const std::string& prefix, BufferPlan& saved);

  std::int64_t scratch_floats() const override;
  void forward(const BlockCall& call, const float* x, float* y) override;
  void backward(const BlockCall& call, const float* x, const float* dy, float* dx) override;

  TopKRouter& router() { return router_; }

  // Appends each training forward's routing (tests compare it with the reference's): indices and
  // probabilities [T, k] and whether each pair survived the capacity.
  struct RoutingRecord {
    std::vector<std::int32_t> indices;
    std::vector<float> probs;
    std::vector<std::int32_t> kept;
  };
  void record_routing(RoutingRecord* record) { record_ = record; }
  // The expert-parallel exchange (nullptr on one expert-parallel rank).
  ExpertExchange* exchange() { return exchange_.get(); }

 private:
  BlockCall shared_call(const BlockCall& call) const;
  BlockCall local_call(const BlockCall& call) const;
  static BuildContext local_context(const BuildContext& ctx);
  // Rows reaching this rank's experts: before (rows_in) and after the expert-tensor-parallel gather.
  std::int64_t rows_in() const { return exchange_ ? exchange_->max_local_rows() : dispatcher_.max_rows(); }
  std::int64_t expert_rows() const { return etp_ ? etp_->max_rows() : rows_in(); }

  const ModelConfig& c_;
  const ModelParallel& mp_;
  BuildContext local_ctx_;  // the routed part's tokens: the rank's sequence shard
  BufferPlan scratch_;
  TopKRouter router_;
  TokenDispatcher dispatcher_;
  std::unique_ptr<ExpertExchange> exchange_;
  std::unique_ptr<ExpertTensorParallel> etp_;
  Experts experts_;
  std::unique_ptr<Mlp> shared_;
  ParamId gate_w_ = kNoParam;
  RoutingRecord* record_ = nullptr;
  std::int64_t rows_, shared_out_, gate_;                       // saved (rows_: the experts' input rows)
  std::int64_t out_rows_, d_rows_, dprob_row_, dprobs_, d_shared_, dx_shared_;  // scratch
  std::int64_t in_rows_, in_out_, in_prob_;  // scratch under expert TP: this rank's rows before the gather
};

}  // namespace primus::model
