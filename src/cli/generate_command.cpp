// `primus generate`: load a checkpoint (or an imported model) and continue a prompt, with a KV
// cache, greedily or by sampling — a sanity check of a checkpoint from the command line.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/model_io.hpp"
#include "checkpoint/training_state.hpp"
#include "cli/commands.hpp"
#include "cli/experiment_model.hpp"
#include "cli/number_options.hpp"
#include "cli/overrides_option.hpp"
#include "core/error.hpp"
#include "inference/generator.hpp"

namespace primus::cli {

namespace {

struct Options {
  std::string config, load, prompt, prompt_ids, format = "text";
  std::int64_t max_new_tokens = 32, ckpt_step = -1, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  std::optional<std::int64_t> seed;
  bool greedy = false, ignore_eos = false;
  bool has_prompt = false, has_ids = false, has_temperature = false, has_top_k = false, has_top_p = false;
};

std::vector<std::int32_t> parse_ids(const std::string& text, std::int64_t vocab) {
  std::vector<std::int32_t> ids;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    char* end = nullptr;
    const long long v = item.empty() ? -1 : std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v >= vocab)
      fail("--prompt-ids: '{}' is not a token id (integers 0..{} separated by commas)", item, vocab - 1);
    ids.push_back(static_cast<std::int32_t>(v));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return ids;
}

void run(const Options& o, const std::vector<std::string>& overrides) {
  if (o.has_prompt == o.has_ids) fail("give exactly one of --prompt TEXT or --prompt-ids 1,2,3");
  const bool sampling = o.has_temperature || o.has_top_k || o.has_top_p;
  if (o.greedy && sampling) fail("--greedy cannot be combined with --temperature, --top-k or --top-p");
  ExperimentModel m = load_experiment_model(o.config, overrides);
  report_notes(m.resolved);
  std::optional<std::int64_t> step;
  if (o.ckpt_step >= 0) step = o.ckpt_step;
  const auto dir = checkpoint::resolve_checkpoint_dir(o.load, step);
  if (!dir) fail("{}: no checkpoint there (no latest_checkpointed_iteration.txt and no metadata.json)", o.load);
  checkpoint::CheckpointReader reader(*dir);
  if (reader.state().contains("model"))
    checkpoint::check_model_summary(reader.state()["model"], checkpoint::model_summary(m.args(), m.config), dir->string());
  checkpoint::read_model(reader, *m.model);

  std::vector<std::int32_t> prompt =
      o.has_ids ? parse_ids(o.prompt_ids, m.config.vocab) : m.tokenizer->encode(o.prompt, /*add_special_tokens=*/true);
  inference::SamplingConfig sc;
  sc.greedy = !sampling;
  if (sampling) {
    sc.temperature = o.has_temperature ? o.temperature : 1.0;
    sc.top_k = o.top_k;
    sc.top_p = o.top_p;
  }
  sc.seed = static_cast<std::uint64_t>(o.seed.value_or(m.args().seed));
  inference::Sampler sampler(sc, m.config.vocab);
  inference::GenerationOptions go;
  go.max_new_tokens = o.max_new_tokens;
  if (!o.ignore_eos) go.stop_token = m.tokenizer->eod();
  go.max_positions = m.args().max_position_embeddings;
  const inference::GenerationResult r = inference::generate(*m.model, prompt, sampler, go);
  const std::string text = m.tokenizer->decode(r.ids);
  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["checkpoint"] = dir->string();
    j["iteration"] = reader.iteration();
    j["prompt_ids"] = prompt;
    j["generated_ids"] = r.ids;
    j["prompt"] = m.tokenizer->decode(prompt);
    j["text"] = text;
    j["stopped_at_eos"] = r.stopped;
    j["sampling"] = sc.greedy ? nlohmann::ordered_json{{"greedy", true}}
                              : nlohmann::ordered_json{{"temperature", sc.temperature}, {"top_k", sc.top_k},
                                                       {"top_p", sc.top_p}, {"seed", sc.seed}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s%s\n", o.has_prompt ? m.tokenizer->decode(prompt, /*skip_special_tokens=*/true).c_str() : "", text.c_str());
  }
}

}  // namespace

void register_generate_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* g = app.add_subcommand("generate", "Continue a prompt with a checkpoint's model (KV cache; greedy or sampled)");
  g->add_option("--config", o->config, "Experiment YAML file of the checkpoint's model")->required();
  g->add_option("--load", o->load, "Checkpoint folder (or an iter_* / release folder)")->required();
  g->add_option_function<std::string>("--prompt", [o](const std::string& v) { o->prompt = v; o->has_prompt = true; },
                                      "Text to continue (tokenized with the experiment's tokenizer)");
  g->add_option_function<std::string>("--prompt-ids", [o](const std::string& v) { o->prompt_ids = v; o->has_ids = true; },
                                      "Token ids to continue, e.g. 1,2,3");
  g->add_option_function<std::string>("--max-new-tokens", [o](const std::string& v) {
       o->max_new_tokens = parse_positive_integer("--max-new-tokens", v, 1LL << 30); }, "Tokens to generate (default 32)")
      ->type_name("N");
  g->add_flag("--greedy", o->greedy, "Pick the most likely token at each step (the default)");
  g->add_option_function<std::string>("--temperature", [o](const std::string& v) {
       o->temperature = parse_positive_seconds("--temperature", v, 1e6); o->has_temperature = true; },
                                      "Sample from softmax(logits / T)")
      ->type_name("T");
  g->add_option_function<std::string>("--top-k", [o](const std::string& v) {
       o->top_k = parse_positive_integer("--top-k", v, 1LL << 30); o->has_top_k = true; },
                                      "Sample among the K most likely tokens")
      ->type_name("K");
  g->add_option_function<std::string>("--top-p", [o](const std::string& v) {
       char* end = nullptr;
       const double p = std::strtod(v.c_str(), &end);
       if (v.empty() || *end != '\0' || !(p > 0.0 && p <= 1.0)) fail("--top-p must be a number in (0, 1], got '{}'", v);
       o->top_p = p;
       o->has_top_p = true; }, "Sample within the smallest set of tokens whose probability reaches P")
      ->type_name("P");
  g->add_option_function<std::string>("--seed", [o](const std::string& v) {
       o->seed = parse_positive_integer("--seed", v, 1LL << 62); }, "Sampling seed (default: the experiment's seed)")
      ->type_name("S");
  g->add_option("--format", o->format, "text or json")
      ->check(CLI::Validator([](std::string& v) { return v == "text" || v == "json" ? std::string() : "must be text or json, got '" + v + "'"; },
                             "text|json"));
  add_positive_integer_option(g, "--ckpt-step", o->ckpt_step, "Iteration to load instead of the latest", 1LL << 50);
  g->add_flag("--ignore-eos", o->ignore_eos, "Do not stop at the end-of-document token");
  allow_overrides(*g);
  g->callback([o, g] { run(*o, collect_overrides(*g)); });
}

}  // namespace primus::cli
