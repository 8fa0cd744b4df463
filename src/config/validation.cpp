#include "config/validation.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "config/args_from_values.hpp"
#include "config/pipeline_layout.hpp"
#include "config/range_checks.hpp"
#include "config/schema.hpp"
#include "config/split_weights.hpp"
#include "core/checked_math.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

namespace {

// Reads and writes resolved values by key, remembering origins for messages.
class Values {
 public:
  explicit Values(ResolvedConfig& c) : c_(c) {}

  const Value& get(const std::string& key) const { return c_.values.at(key).value; }
  bool is_null(const std::string& key) const { return get(key).is_null(); }
  bool flag(const std::string& key) const { const Value& v = get(key); return v.is_bool() && v.as_bool(); }
  int64_t integer(const std::string& key) const { return get(key).as_int(); }
  double number(const std::string& key) const { return get(key).as_float(); }
  std::string text(const std::string& key) const { return get(key).is_null() ? "" : get(key).to_display(); }
  bool is_set_by_user(const std::string& key) const { return c_.values.at(key).origin.kind != Origin::Kind::kDefault; }

  // "llama3_8B.yaml:7: num_attention_heads = 30"
  std::string where(const std::string& key) const {
    return fmt::format("{}: {} = {}", c_.values.at(key).origin.describe(), key, get(key).for_message());
  }
  void note(std::string text) { c_.notes.push_back(std::move(text)); }
  void derive(const std::string& key, Value v, const std::string& rule) {
    c_.values[key] = Setting{std::move(v), Origin{Origin::Kind::kDerived, "", 0, "", rule}};
  }
  void require(const std::string& key) const {
    if (!is_null(key)) return;
    const Origin& o = c_.values.at(key).origin;
    // Unset by default: no file is to blame; set to null somewhere: that place is.
    if (o.kind == Origin::Kind::kDefault)
      fail("{} is not set; give it in the model preset, the experiment's overrides or as --{} N", key, key);
    fail("{}: {} is set to null; give it a value in the model preset, the experiment's overrides or as --{} N",
         o.describe(), key, key);
  }

 private:
  ResolvedConfig& c_;
};

void apply_megatron_conversions(Values& v, ResolvedConfig& c) {
  // Deprecated spellings Megatron still accepts, turned into what they mean.
  if (v.flag("use_rotary_position_embeddings") && v.text("position_embedding_type") != "rope")
    v.derive("position_embedding_type", Value{"rope"}, "use_rotary_position_embeddings");
  if (v.flag("recompute_activations") && v.is_null("recompute_granularity"))
    v.derive("recompute_granularity", Value{"selective"}, "recompute_activations");
  if (v.flag("sequence_parallel") && v.integer("tensor_model_parallel_size") == 1) {
    // Presets switch it on for GPU layouts; only tell the user when they asked for it themselves.
    auto kind = c.values.at("sequence_parallel").origin.kind;
    if (kind == Origin::Kind::kExperiment || kind == Origin::Kind::kCommandLine)
      c.notes.push_back("sequence_parallel switched off: it needs tensor_model_parallel_size > 1");
    v.derive("sequence_parallel", Value{false}, "tensor_model_parallel_size == 1");
  }
  // PAI-Megatron-Patch (ROCm fork) spelling of grouped-query attention.
  if (!v.is_null("n_head_kv")) {
    if (v.flag("group_query_attention") && !v.is_null("num_query_groups") &&
        v.integer("num_query_groups") != v.integer("n_head_kv"))
      fail("{} but num_query_groups = {}: give one of them", v.where("n_head_kv"), v.integer("num_query_groups"));
    v.derive("group_query_attention", Value{true}, "n_head_kv");
    v.derive("num_query_groups", v.get("n_head_kv"), "n_head_kv");
  }
}

// PAI-Megatron-Patch (ROCm fork): shared experts as a count of expert-sized MLPs; Megatron-Core
// has one shared MLP of num_shared_experts × that size (upstream Primus' DeepSeek presets write
// moe_shared_expert_intermediate_size = num_shared_experts × moe_ffn_hidden_size the same way).
void derive_shared_experts(Values& v) {
  if (v.is_null("num_shared_experts")) return;
  if (v.is_null("num_experts")) fail("{}: shared experts need num_experts (a MoE model)", v.where("num_shared_experts"));
  const char* one = !v.is_null("shared_moe_ffn_hidden_size") ? "shared_moe_ffn_hidden_size" : "moe_ffn_hidden_size";
  const int64_t size =
      checked_mul(v.integer("num_shared_experts"), v.integer(one), "moe_shared_expert_intermediate_size");
  if (!v.is_null("moe_shared_expert_intermediate_size") && v.integer("moe_shared_expert_intermediate_size") != size)
    fail("{} but moe_shared_expert_intermediate_size = {} (not num_shared_experts × {} = {}); give one of them",
         v.where("num_shared_experts"), v.integer("moe_shared_expert_intermediate_size"), one, size);
  v.derive("moe_shared_expert_intermediate_size", Value{size}, fmt::format("num_shared_experts × {}", one));
}

void derive_model_shape(Values& v) {
  // Positive and below 2^31 already (the table's ranges): the arithmetic below cannot overflow.
  for (const char* key : {"num_layers", "hidden_size", "num_attention_heads"}) v.require(key);
  int64_t hidden = v.integer("hidden_size"), heads = v.integer("num_attention_heads");
  if (v.is_null("kv_channels")) {
    if (hidden % heads != 0)
      fail("{}: hidden_size {} is not divisible by num_attention_heads {}; set kv_channels explicitly",
           v.where("num_attention_heads"), hidden, heads);
    v.derive("kv_channels", Value{hidden / heads}, "hidden_size / num_attention_heads");
  }
  if (!v.flag("group_query_attention")) {
    if (v.is_null("num_query_groups") || v.integer("num_query_groups") != heads)
      v.derive("num_query_groups", Value{heads}, "num_attention_heads (group_query_attention is false)");
  } else if (v.is_null("num_query_groups")) {
    fail("{}: group_query_attention is true but num_query_groups is not set", v.where("group_query_attention"));
  }
  int64_t groups = v.integer("num_query_groups");
  if (heads % groups != 0)
    fail("{}: num_attention_heads {} must be a multiple of num_query_groups", v.where("num_query_groups"), heads);
  if (v.is_null("ffn_hidden_size")) {
    int64_t ffn = v.flag("swiglu") ? int64_t(4.0 * double(hidden) * 2.0 / 3.0 / 64.0) * 64 : 4 * hidden;
    v.derive("ffn_hidden_size", Value{ffn}, v.flag("swiglu") ? "int(4·hidden·2/3 / 64)·64 (swiglu)" : "4·hidden_size");
  }
  if (!v.is_null("num_experts") && v.is_null("moe_ffn_hidden_size"))
    v.derive("moe_ffn_hidden_size", v.get("ffn_hidden_size"), "ffn_hidden_size");
  v.require("seq_length");
  if (v.is_null("max_position_embeddings"))
    v.derive("max_position_embeddings", v.get("seq_length"), "seq_length");
}

void check_parallel_layout(Values& v, ResolvedConfig& c, int64_t world) {
  int64_t tp = v.integer("tensor_model_parallel_size"), pp = v.integer("pipeline_model_parallel_size");
  int64_t cp = v.integer("context_parallel_size"), ep = v.integer("expert_model_parallel_size");
  if (world < 1 || world > kMaxWorldSize)
    fail("world size {} is not a process count (1 to {})", world, kMaxWorldSize);
  const int64_t mp = checked_product({tp, pp, cp}, "model parallel size (tensor × pipeline × context parallel)");
  if (world % mp != 0) {
    const char* culprit = pp > 1 ? "pipeline_model_parallel_size" : cp > 1 ? "context_parallel_size" : "tensor_model_parallel_size";
    fail("world size {} is not divisible by tensor × pipeline × context parallel = {}×{}×{} = {} ({}); "
         "run with a multiple of {} processes (--world-size / mpirun -np)",
         world, tp, pp, cp, mp, v.where(culprit), mp);
  }
  int64_t dp = world / mp;
  int64_t heads = v.integer("num_attention_heads"), groups = v.integer("num_query_groups");
  if (heads % tp != 0)
    fail("{}: num_attention_heads {} is not divisible by tensor_model_parallel_size {}",
         v.where("num_attention_heads"), heads, tp);
  if (groups % tp != 0 && tp % groups != 0)
    fail("{}: num_query_groups {} must be a multiple or a divisor of tensor_model_parallel_size {}",
         v.where("num_query_groups"), groups, tp);
  if (ep > 1 && v.is_null("num_experts"))
    fail("{}: expert parallelism needs a mixture-of-experts model (num_experts is not set)",
         v.where("expert_model_parallel_size"));
  if (!v.is_null("num_experts")) {
    int64_t experts = v.integer("num_experts");
    if (experts % ep != 0)
      fail("{}: num_experts {} is not divisible by expert_model_parallel_size {}", v.where("num_experts"), experts, ep);
    int64_t etp = v.is_null("expert_tensor_parallel_size") ? tp : v.integer("expert_tensor_parallel_size");
    if ((dp * cp * tp) % checked_mul(ep, etp, "expert_model_parallel_size × expert_tensor_parallel_size") != 0)
      fail("{}: expert_model_parallel_size {} × expert tensor parallel {} must divide data × context × tensor "
           "parallel = {} (world size {}); run with more processes or lower it",
           v.where("expert_model_parallel_size"), ep, etp, dp * cp * tp, world);
    // Megatron (parallel_state.py): unless pipeline parallelism is the slowest axis, the expert
    // grid's data-parallel size must equal the dense one.
    if (v.flag("use_tp_pp_dp_mapping") && pp > 1 && ep * etp != tp * cp)
      fail("{}: with use_tp_pp_dp_mapping and pipeline parallelism, expert_model_parallel_size {} × expert tensor "
           "parallel {} must equal tensor × context parallel = {} (the expert and dense data-parallel sizes must match)",
           v.where("expert_model_parallel_size"), ep, etp, tp * cp);
  }
  // Pipeline split, as Megatron-LM's validate_args (d3528a2) checks it.
  int64_t layers = v.integer("num_layers");
  int given = !v.is_null("num_layers_per_virtual_pipeline_stage") + !v.is_null("num_virtual_stages_per_pipeline_rank") +
              !v.is_null("pipeline_model_parallel_layout");
  if (given > 1)
    fail("{}: give at most one of num_layers_per_virtual_pipeline_stage, num_virtual_stages_per_pipeline_rank and "
         "pipeline_model_parallel_layout",
         v.where(!v.is_null("pipeline_model_parallel_layout") ? "pipeline_model_parallel_layout"
                                                              : "num_virtual_stages_per_pipeline_rank"));
  // Embedding and loss count as layers of the split when Megatron is told to account for them.
  int64_t counted = layers + v.flag("account_for_embedding_in_pipeline_split") + v.flag("account_for_loss_in_pipeline_split");
  bool uneven = !v.is_null("decoder_first_pipeline_num_layers") || !v.is_null("decoder_last_pipeline_num_layers");
  int64_t virtual_stages = 1;
  if (!v.is_null("pipeline_model_parallel_layout")) {
    try {
      PipelineLayout layout = parse_pipeline_layout(v.text("pipeline_model_parallel_layout"));
      std::optional<int64_t> mtp;
      if (!v.is_null("mtp_num_layers")) mtp = v.integer("mtp_num_layers");
      check_pipeline_layout(layout, pp, layers, mtp);
      virtual_stages = layout.virtual_stages(pp);
    } catch (const Error& e) {
      fail("{}: {}", v.where("pipeline_model_parallel_layout"), e.what());
    }
  } else if (!v.is_null("decoder_pipeline_manual_split_list")) {
    const Value& split_value = v.get("decoder_pipeline_manual_split_list");
    const Value::List split = split_value.is_list() ? split_value.as_list() : Value::List{split_value};
    int64_t sum = 0;
    for (const auto& s : split) sum = checked_add(sum, s.as_int(), "the sum of decoder_pipeline_manual_split_list");
    if (int64_t(split.size()) != pp || sum != layers)
      fail("{}: needs {} entries (one per pipeline stage) adding up to num_layers {}",
           v.where("decoder_pipeline_manual_split_list"), pp, layers);
  } else if (uneven) {
    // Uneven split: the first/last stages take the given counts, the middle ones share the rest.
    if (!v.is_null("num_layers_per_virtual_pipeline_stage"))
      fail("{}: with decoder_first/last_pipeline_num_layers, give the virtual pipeline size as "
           "num_virtual_stages_per_pipeline_rank",
           v.where("num_layers_per_virtual_pipeline_stage"));
    int64_t first = v.is_null("decoder_first_pipeline_num_layers") ? -1 : v.integer("decoder_first_pipeline_num_layers");
    int64_t last = v.is_null("decoder_last_pipeline_num_layers") ? -1 : v.integer("decoder_last_pipeline_num_layers");
    int64_t fixed = (first >= 0) + (last >= 0);
    int64_t rest = layers - std::max<int64_t>(first, 0) - std::max<int64_t>(last, 0);
    if (pp < 2 || rest < 0 || (pp - fixed > 0 ? rest % (pp - fixed) != 0 : rest != 0))
      fail("{}: with num_layers {} and pipeline_model_parallel_size {}, the remaining {} layers do not split evenly "
           "over the other {} stages",
           v.where(first >= 0 ? "decoder_first_pipeline_num_layers" : "decoder_last_pipeline_num_layers"), layers, pp,
           rest, pp - fixed);
  } else if (counted % pp != 0) {
    fail("{}: num_layers {}{} is not divisible by pipeline_model_parallel_size {}; set "
         "decoder_first/last_pipeline_num_layers, pipeline_model_parallel_layout or decoder_pipeline_manual_split_list "
         "for an uneven split",
         v.where("num_layers"), layers, counted != layers ? fmt::format(" (+{} for embedding/loss)", counted - layers) : "",
         pp);
  }
  if (!v.is_null("num_layers_per_virtual_pipeline_stage")) {
    int64_t per_virtual = v.integer("num_layers_per_virtual_pipeline_stage");
    if (per_virtual <= 0 || (counted / pp) % per_virtual != 0)
      fail("{}: layers per pipeline stage ({}) must be divisible by it", v.where("num_layers_per_virtual_pipeline_stage"),
           counted / pp);
    virtual_stages = counted / pp / per_virtual;
    v.derive("num_virtual_stages_per_pipeline_rank", Value{virtual_stages},
             "num_layers / pipeline_model_parallel_size / num_layers_per_virtual_pipeline_stage");
  } else if (!v.is_null("num_virtual_stages_per_pipeline_rank")) {
    virtual_stages = v.integer("num_virtual_stages_per_pipeline_rank");
    if (virtual_stages < 1) fail("{}: must be at least 1", v.where("num_virtual_stages_per_pipeline_rank"));
  } else if (virtual_stages > 1) {
    v.derive("num_virtual_stages_per_pipeline_rank", Value{virtual_stages},
             "stages of pipeline_model_parallel_layout / pipeline_model_parallel_size");
  }
  if (virtual_stages > 1) {
    // Megatron: interleaving needs pp > 1 with p2p overlap (its default), pp > 2 without it.
    const char* culprit = !v.is_null("num_layers_per_virtual_pipeline_stage") ? "num_layers_per_virtual_pipeline_stage"
                          : !v.is_null("pipeline_model_parallel_layout")       ? "pipeline_model_parallel_layout"
                                                                               : "num_virtual_stages_per_pipeline_rank";
    if (v.flag("overlap_p2p_comm") && pp < 2)
      fail("{}: interleaved pipelining needs pipeline_model_parallel_size > 1", v.where(culprit));
    if (!v.flag("overlap_p2p_comm") && pp <= 2)
      fail("{}: interleaved pipelining with overlap_p2p_comm off needs pipeline_model_parallel_size > 2 (Megatron-LM "
           "sends and receives twice between the same two ranks otherwise); turn overlap_p2p_comm on or add stages",
           v.where(culprit));
  }
  // Upstream writes virtual_pipeline_model_parallel_size, which Megatron derives itself.
  if (!v.is_null("virtual_pipeline_model_parallel_size") && v.integer("virtual_pipeline_model_parallel_size") != virtual_stages)
    c.notes.push_back(fmt::format("{}, but the virtual pipeline size Megatron-LM derives here is {} (from {}); the "
                                  "setting has no effect (upstream Primus drops it too)",
                                  v.where("virtual_pipeline_model_parallel_size"), virtual_stages,
                                  given ? "the layout / virtual-stage settings" : "no interleaving setting"));
  if (cp > 1 && v.integer("seq_length") % (2 * cp) != 0)
    fail("{}: seq_length must be divisible by 2 × context_parallel_size = {}", v.where("seq_length"), 2 * cp);

  // Batch sizes.
  v.require("micro_batch_size");
  const int64_t mbs = v.integer("micro_batch_size");
  const int64_t per_step = checked_mul(mbs, dp, "micro_batch_size × data parallel size");
  if (v.is_null("global_batch_size")) v.derive("global_batch_size", Value{per_step}, "micro_batch_size × data parallel size");
  const int64_t gbs = v.integer("global_batch_size");
  if (gbs % per_step != 0)
    fail("{}: must be a multiple of micro_batch_size × data parallel size = {} × {} = {}", v.where("global_batch_size"),
         mbs, dp, per_step);

  c.derived["world_size"] = Setting{Value{world}, Origin{Origin::Kind::kDerived, "", 0, "", "number of processes"}};
  c.derived["data_parallel_size"] = Setting{
      Value{dp}, Origin{Origin::Kind::kDerived, "", 0, "", "world_size / (tensor × pipeline × context parallel)"}};
  c.derived["num_micro_batches"] = Setting{
      Value{gbs / per_step}, Origin{Origin::Kind::kDerived, "", 0, "", "global_batch_size / (micro_batch_size × data parallel)"}};
}

void check_training(Values& v) {
  if (v.flag("fp16") && v.flag("bf16"))
    fail("{}: fp16 and bf16 are exclusive; set one of them to false", v.where(v.is_set_by_user("bf16") ? "bf16" : "fp16"));
  bool iters = !v.is_null("train_iters"), samples = !v.is_null("train_samples");
  if (iters && samples) fail("{}: train_iters and train_samples are exclusive", v.where("train_samples"));
  if (!iters && !samples) fail("train_iters is not set; give train_iters (or train_samples)");
  if (iters && !v.is_null("lr_warmup_samples") && v.integer("lr_warmup_samples") != 0)
    fail("{}: sample-based warmup needs train_samples, not train_iters", v.where("lr_warmup_samples"));
  if (!v.is_null("lr_warmup_fraction") && v.integer("lr_warmup_iters") != 0)
    fail("{}: give at most one of lr_warmup_fraction and lr_warmup_iters ({})", v.where("lr_warmup_fraction"),
         v.where("lr_warmup_iters"));
  v.require("lr");
  if (v.flag("overlap_param_gather") && !(v.flag("use_distributed_optimizer") && v.flag("overlap_grad_reduce")))
    fail("{}: overlap_param_gather needs use_distributed_optimizer and overlap_grad_reduce", v.where("overlap_param_gather"));
  std::string pos = v.text("position_embedding_type");
  if ((pos == "rope" || pos == "learned_absolute" || pos == "yarn") &&
      v.integer("max_position_embeddings") < v.integer("seq_length"))
    fail("{}: must be at least seq_length = {}", v.where("max_position_embeddings"), v.integer("seq_length"));
  if (!v.is_null("save") && v.is_null("save_interval"))
    fail("{}: save is set, so save_interval must be a positive number of iterations", v.where("save_interval"));
}

// Products of the model's sizes that the engine plans buffers with: each must fit in int64 (with
// room for bytes), or the plan would wrap around. A value that big is named, not allocated.
void check_sizes(Values& v) {
  const int64_t mbs = v.integer("micro_batch_size"), gbs = v.integer("global_batch_size");
  const int64_t seq = v.integer("seq_length"), layers = v.integer("num_layers");
  const int64_t hidden = v.integer("hidden_size"), ffn = v.integer("ffn_hidden_size");
  const int64_t heads = v.integer("num_attention_heads"), kv = v.integer("kv_channels");
  const int64_t widest = std::max({hidden, 2 * ffn, 3 * heads * kv});
  checked_product({gbs, seq, 16}, "the global batch's token buffers (global_batch_size × seq_length × 16 bytes)");
  checked_product({mbs, seq, widest, layers + 1, 16},
                  "the activations of one micro-batch (micro_batch_size × seq_length × the widest layer × "
                  "(num_layers + 1) × 16 bytes)");
  checked_product({mbs, heads, seq, 16}, "the attention statistics (micro_batch_size × num_attention_heads × seq_length)");
  checked_product({layers, hidden, std::max(hidden, ffn), 64}, "the parameters (num_layers × hidden_size × ffn_hidden_size)");
}

// Megatron's learning-rate and weight-decay schedule rules (OptimizerParamScheduler's asserts),
// in samples, checked here so that `config show` refuses what `train` would.
void check_schedule(Values& v) {
  const int64_t gbs = v.integer("global_batch_size");
  int64_t decay = 0, warmup_iters_samples = 0;
  std::string decay_key, warmup_key;
  if (!v.is_null("train_iters")) {
    const int64_t iters = v.integer("train_iters");
    checked_mul(iters, gbs, "the training samples (train_iters × global_batch_size)");
    decay_key = v.is_null("lr_decay_iters") ? "train_iters" : "lr_decay_iters";
    decay = checked_mul(v.integer(decay_key), gbs, decay_key + " × global_batch_size");
    warmup_key = "lr_warmup_iters";
    warmup_iters_samples = checked_mul(v.integer("lr_warmup_iters"), gbs, "lr_warmup_iters × global_batch_size");
    if (!v.is_null("lr_wsd_decay_iters"))
      checked_mul(v.integer("lr_wsd_decay_iters"), gbs, "lr_wsd_decay_iters × global_batch_size");
    if (v.integer("eval_iters") > 0) {
      const int64_t evals = iters / v.integer("eval_interval") + 1;
      checked_product({evals, v.integer("eval_iters"), gbs},
                      "the validation samples ((train_iters / eval_interval + 1) × eval_iters × global_batch_size)");
    }
  } else {
    decay_key = v.is_null("lr_decay_samples") ? "train_samples" : "lr_decay_samples";
    decay = v.integer(decay_key);
    warmup_key = "lr_warmup_samples";
    warmup_iters_samples = v.integer("lr_warmup_samples");
  }
  double warmup = static_cast<double>(warmup_iters_samples);
  if (!v.is_null("lr_warmup_fraction")) {
    warmup_key = "lr_warmup_fraction";
    warmup = v.number("lr_warmup_fraction") * static_cast<double>(decay);
  }
  if (!(warmup < static_cast<double>(decay)))
    fail("{}: the warmup ({} samples) must be shorter than the learning-rate decay ({} samples: {} × "
         "global_batch_size {}); lower it or raise {}",
         v.where(warmup_key), warmup, decay, v.where(decay_key), gbs, decay_key);
  if (v.text("lr_decay_style") == "WSD" && v.is_null("lr_wsd_decay_iters") && v.is_null("lr_wsd_decay_samples"))
    fail("{}: WSD needs the length of its anneal phase: set lr_wsd_decay_iters (or lr_wsd_decay_samples with "
         "train_samples)",
         v.where("lr_decay_style"));
  const std::string incr = v.text("weight_decay_incr_style");
  if (incr == "constant") {
    for (const char* key : {"start_weight_decay", "end_weight_decay"})
      if (!v.is_null(key))
        fail("{}: applies only with weight_decay_incr_style linear or cosine; with constant, set weight_decay ({})",
             v.where(key), v.where("weight_decay"));
  } else {
    const double start = v.is_null("start_weight_decay") ? v.number("weight_decay") : v.number("start_weight_decay");
    const double end = v.is_null("end_weight_decay") ? v.number("weight_decay") : v.number("end_weight_decay");
    if (end < start)
      fail("{}: the weight decay's end {} must be at least its start {} (weight_decay_incr_style {})",
           v.where(v.is_null("end_weight_decay") ? "weight_decay" : "end_weight_decay"), end, start, incr);
  }
}

// "0.3 pathA 0.7 pathB": weights must be finite and not negative, and not all zero.
void check_blend(Values& v, const char* key) {
  if (v.is_null(key)) return;
  const Value& given = v.get(key);
  if (!given.is_list() || given.as_list().size() < 2) return;
  const auto& items = given.as_list();
  if (items.size() % 2 != 0) fail("{}: expected 'weight path' pairs, got {} entries", v.where(key), items.size());
  double sum = 0;
  for (size_t i = 0; i < items.size(); i += 2) {
    const Value w = parse_plain_scalar(items[i].to_display());
    if (!(w.is_int() || w.is_float()) || !std::isfinite(w.as_float()) || w.as_float() < 0)
      fail("{}: '{}' is not a weight (a finite number, not negative, before each path)", v.where(key),
           printable(items[i].to_display()));
    sum += w.as_float();
  }
  if (!(sum > 0)) fail("{}: the weights must not all be zero", v.where(key));
}

void check_data(Values& v) {
  int sources = 0;
  std::string named;
  for (const char* key : {"mock_data", "data_path", "train_data_path", "valid_data_path", "test_data_path"}) {
    bool set = std::string(key) == "mock_data" ? v.flag(key) : !v.is_null(key);
    if (!set) continue;
    bool per_split = std::string(key).find('_') != std::string(key).rfind('_');  // train_data_path, ...
    if (per_split && named.find("data_path (per split)") != std::string::npos) continue;
    ++sources;
    named += (named.empty() ? "" : " and ") + (per_split ? std::string("data_path (per split)") : v.where(key));
  }
  if (sources > 1) fail("give at most one data source: {}", named);
  if (!v.is_null("data_path") && v.is_null("split")) v.derive("split", Value{"969, 30, 1"}, "Megatron's default split");
  for (const char* key : {"data_path", "train_data_path", "valid_data_path", "test_data_path"}) check_blend(v, key);
  if (!v.is_null("split")) {
    const std::array<double, 3> weights = parse_split_weights(v.text("split"), v.where("split"));
    // Evaluation asked for on a split that gets no data: said once, not skipped in silence.
    if (!v.is_null("data_path") && v.integer("eval_iters") > 0 && weights[1] == 0)
      v.note(fmt::format("{} but {} gives the validation split no data: no evaluation will run (set eval_iters: 0, "
                         "or give the split a validation share such as 98,2,0)",
                         v.where("eval_iters"), v.where("split")));
  }
  if (!v.is_null("train_data_path") && v.is_null("valid_data_path") && v.integer("eval_iters") > 0)
    v.note(fmt::format("{} but valid_data_path is not set: no evaluation will run (set eval_iters: 0 or give "
                       "valid_data_path)",
                       v.where("eval_iters")));
}

// A key the engine never reads that a derivation read (num_shared_experts gives
// moe_shared_expert_intermediate_size, n_head_kv gives num_query_groups) has its effect there.
bool feeds_a_derivation(const ResolvedConfig& c, const std::string& key) {
  for (const auto& [k, s] : c.values) {
    if (s.origin.kind != Origin::Kind::kDerived) continue;
    const std::string& rule = s.origin.detail;
    for (size_t at = rule.find(key); at != std::string::npos; at = rule.find(key, at + 1)) {
      auto word = [&](size_t i) { return i >= rule.size() || !(std::isalnum(static_cast<unsigned char>(rule[i])) || rule[i] == '_'); };
      if ((at == 0 || word(at - 1)) && word(at + key.size())) return true;
    }
  }
  return false;
}

void list_keys_without_effect(ResolvedConfig& c) {
  const Schema& schema = Schema::instance();
  for (const auto& spec : schema.all()) {
    const Setting& s = c.values.at(spec.key);
    // A key the engine reads only in some settings (vocab_size: NullTokenizer) has no effect outside them.
    bool acted_on = spec.acted_on;
    if (acted_on && spec.acted_on_when) {
      const Value& other = c.values.at(spec.acted_on_when->key).value;
      acted_on = !other.is_null() ? compare_values(other, spec.acted_on_when->op, spec.acted_on_when->literal)
                                  : spec.acted_on_when->op == Compare::kNotEqual;
    }
    if (acted_on || s.origin.kind == Origin::Kind::kDefault || s.origin.kind == Origin::Kind::kDerived) continue;
    if (!spec.refused && feeds_a_derivation(c, spec.key)) continue;
    Value def = schema.coerce(spec, spec.effective_default(), s.origin);
    if (s.value == def) continue;
    if (spec.refused)
      c.refused.push_back(fmt::format("{} = {} ({})", spec.key, s.value.to_yaml(), spec.note));
    else
      c.without_effect.push_back(spec.key);
  }
}

}  // namespace

void derive_and_validate(ResolvedConfig& config, int64_t world_size) {
  Values v(config);
  check_ranges(config, RangePhase::kAsGiven);
  apply_megatron_conversions(v, config);
  derive_model_shape(v);
  derive_shared_experts(v);
  check_parallel_layout(v, config, world_size);
  check_ranges(config, RangePhase::kDerived);
  check_sizes(v);
  check_training(v);
  check_schedule(v);
  check_data(v);
  list_keys_without_effect(config);

  config.args = args_from_values(config.values);
  config.args.world_size = world_size;
  config.args.data_parallel_size = config.derived.at("data_parallel_size").value.as_int();
  config.args.num_micro_batches = config.derived.at("num_micro_batches").value.as_int();
  // padded_vocab_size is derived from the tokenizer's vocabulary when the run starts (Megatron's
  // _vocab_size_with_padding); the config layer does not load tokenizers.
}

}  // namespace primus::config
