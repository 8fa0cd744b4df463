// Gradients of the MoE and MLA blocks against central finite differences of the whole training
// objective (lm loss + load-balancing and z losses as attached): an independent check of every
// backward pass of the router (softmax/sigmoid, pre-softmax, expert bias, groups), the dispatch
// with capacity, the experts, the shared experts and their gate, and multi-latent attention
// (with and without q-LoRA, YaRN or plain rope), and multi-token prediction.
#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.hpp"
#include "model/gpt_model.hpp"

using namespace primus;
using namespace primus::model;

namespace {

ModelConfig base_config() {
  ModelConfig c;
  c.num_layers = 2;
  c.hidden = 32;
  c.ffn = 48;
  c.heads = 2;
  c.groups = 2;
  c.head_dim = 16;
  c.vocab = 50;
  c.padded_vocab = 64;
  c.seq_length = 8;
  c.init_std = 0.2f;
  c.rope.head_dim = c.head_dim;
  return c;
}

void make_moe(ModelConfig& c, bool first_dense) {
  c.layer_mlp = {first_dense ? MlpKind::Dense : MlpKind::MoE, MlpKind::MoE};
  c.moe.experts = 4;
  c.moe.topk = 2;
  c.moe.ffn = 24;
}

void make_mla(ModelConfig& c, std::int64_t q_lora, bool yarn) {
  c.multi_latent_attention = true;
  c.qk_layernorm = true;
  MlaConfig& m = c.mla;
  m.q_lora_rank = q_lora;
  m.kv_lora_rank = 24;
  m.qk_head_dim = 16;
  m.qk_pos_emb_head_dim = 16;
  m.v_head_dim = 16;
  m.softmax_scale = 1.0f / std::sqrt(32.0f);
  m.rope.head_dim = 16;
  m.rope.rotary_dim = 16;
  m.rope.interleaved = true;
  if (yarn) {
    m.rope.yarn = true;
    m.rope.yarn_factor = 4.0f;
    m.rope.original_max_positions = 4.0f;  // short, so the ramp is active at seq 8
    m.rope.mscale = 0.707f;
    m.rope.mscale_all_dim = 0.707f;
    m.softmax_scale *= 1.1f;
  }
}

struct Batch {
  std::vector<std::int32_t> tokens, labels;
  std::vector<float> mask;
  MicroBatch view() const { return MicroBatch{tokens.data(), labels.data(), mask.data()}; }
};

Batch make_batch(const ModelConfig& c, std::int64_t batch) {
  Batch b;
  Rng rng(7);
  for (std::int64_t i = 0; i < batch * c.seq_length; ++i) {
    b.tokens.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(c.vocab))));
    b.labels.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(c.vocab))));
    b.mask.push_back(i % 5 == 3 ? 0.0f : 1.0f);
  }
  return b;
}

// The training objective weight·Σ loss·mask + Σ auxiliary losses (scale 1), from a training-mode
// forward: the routers' metrics hold each loss divided by its coefficient.
double objective(GPTModel& m, const Batch& b, float weight) {
  std::vector<MoeMetrics> before;
  for (auto* r : m.routers()) before.push_back(r->metrics());
  MicroBatchState state;
  m.take_mtp_losses();
  const double lm = m.forward_loss(b.view(), nullptr, state);
  double aux = 0.0;
  const auto mtp = m.take_mtp_losses();
  for (double l : mtp) aux += m.config().mtp_loss_scaling_factor / static_cast<double>(mtp.size()) * l;
  const MoeConfig& moe = m.config().moe;
  for (size_t i = 0; i < m.routers().size(); ++i) {
    const MoeMetrics& now = m.routers()[i]->metrics();
    for (const auto& [kind, coeff] : moe.balancing)
      aux += coeff * (now.balancing[static_cast<size_t>(kind)] - before[i].balancing[static_cast<size_t>(kind)]);
    aux += moe.z_loss_coeff * (now.z_loss - before[i].z_loss);
  }
  return weight * lm + aux;
}

struct Case {
  const char* name;
  void (*setup)(ModelConfig&);
};

class MoeMlaGradients : public ::testing::TestWithParam<Case> {};

TEST_P(MoeMlaGradients, MatchFiniteDifferences) {
  ModelConfig c = base_config();
  GetParam().setup(c);
  GPTModel m(c, 2, {});
  m.initialize(11);
  for (auto* r : m.routers())
    if (!r->expert_bias().empty()) Rng(3, 1).fill_uniform(r->expert_bias().data(), r->expert_bias().size(), -0.05f, 0.05f);
  Batch batch = make_batch(c, 2);
  const float w = 1.0f / std::accumulate(batch.mask.begin(), batch.mask.end(), 0.0f);
  m.zero_grads();
  MicroBatchState state;
  m.forward_backward(batch.view(), w, state);
  std::vector<float> analytic(m.grads(), m.grads() + m.num_params());

  int checked = 0, skipped = 0;
  for (const auto& p : m.layout().params()) {
    for (std::int64_t k = 0; k < 3; ++k) {
      const std::int64_t i = p.offset + (k * 7919 + 13) % p.numel();
      float* x = m.params() + i;
      const float saved = *x;
      const float eps = 2e-3f;
      auto central = [&](float step) {
        *x = saved + step;
        const double up = objective(m, batch, w);
        *x = saved - step;
        const double down = objective(m, batch, w);
        *x = saved;
        return (up - down) / (2.0 * step);
      };
      const double numeric = central(eps);
      const double exact = analytic[static_cast<size_t>(i)];
      const double tol = 2e-3 + 2e-2 * std::abs(numeric);
      if (std::abs(exact - numeric) > tol) {
        // A routing decision that flips inside [x - eps, x + eps] makes the objective jump: the
        // two step sizes then disagree, and the point says nothing about the gradient.
        const double half = central(eps / 2);
        if (std::abs(numeric - half) > 1e-3 + 5e-2 * std::abs(numeric)) {
          ++skipped;
          continue;
        }
      }
      EXPECT_NEAR(exact, numeric, tol) << p.name << "[" << i - p.offset << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
  EXPECT_LT(skipped, checked / 10 + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MoeMlaGradients,
    ::testing::Values(
        Case{"moe_softmax_aux_z",
             [](ModelConfig& c) {
               make_moe(c, false);
               c.moe.balancing = {{LoadBalancing::Aux, 0.1f}};
               c.moe.z_loss_coeff = 0.01f;
             }},
        Case{"moe_pre_softmax_seq_aux_shared_gate",
             [](ModelConfig& c) {
               make_moe(c, true);
               c.moe.pre_softmax = true;
               c.moe.balancing = {{LoadBalancing::SeqAux, 0.1f}, {LoadBalancing::Aux, 0.05f}};
               c.moe.shared_ffn = 16;
               c.moe.shared_gate = true;
             }},
        Case{"moe_sigmoid_bias_groups_scaling",
             [](ModelConfig& c) {
               make_moe(c, false);
               c.moe.experts = 8;
               c.moe.topk = 4;
               c.moe.sigmoid = true;
               c.moe.expert_bias = true;
               c.moe.num_groups = 4;
               c.moe.group_topk = 2;
               c.moe.topk_scaling_factor = 2.5f;
               c.moe.balancing = {{LoadBalancing::SeqAux, 0.1f}};
               c.moe.shared_ffn = 16;
             }},
        Case{"moe_capacity_probs_gelu",
             [](ModelConfig& c) {
               make_moe(c, false);
               c.swiglu = false;
               c.moe.capacity_factor = 1.0f;
               c.moe.balancing = {{LoadBalancing::Aux, 0.1f}};
             }},
        Case{"moe_capacity_position_padded",
             [](ModelConfig& c) {
               make_moe(c, false);
               c.moe.capacity_factor = 1.25f;
               c.moe.drop_by_position = true;
               c.moe.pad_to_capacity = true;
             }},
        Case{"mla_no_q_lora_rope", [](ModelConfig& c) { make_mla(c, 0, false); }},
        Case{"mla_q_lora_yarn_moe",
             [](ModelConfig& c) {
               make_mla(c, 20, true);
               make_moe(c, true);
               c.moe.balancing = {{LoadBalancing::Aux, 0.1f}};
             }},
        Case{"mtp_two_depths_moe",
             [](ModelConfig& c) {
               make_moe(c, true);
               c.moe.balancing = {{LoadBalancing::Aux, 0.1f}};
               c.mtp_layers = 2;
               c.mtp_loss_scaling_factor = 0.3f;
             }},
        Case{"mtp_mla_tied_layernorm",
             [](ModelConfig& c) {
               make_mla(c, 0, false);
               c.norm = Norm::LayerNorm;
               c.tied_embeddings = true;
               c.mtp_layers = 1;
             }},
        Case{"mla_layernorm_no_norms",
             [](ModelConfig& c) {
               make_mla(c, 20, true);
               c.norm = Norm::LayerNorm;
               c.qk_layernorm = false;
             }}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
