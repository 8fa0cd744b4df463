#include "checkpoint/model_io.hpp"

#include <set>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint {

bool is_vocabulary_tensor(const std::string& name) {
  return name == "embedding.word_embeddings.weight" || name == "output_layer.weight";
}

void check_model_tensors(const CheckpointReader& ckpt, const std::vector<ModelTensor>& tensors, std::int64_t real_vocab,
                         std::vector<std::string>* unclaimed) {
  std::set<std::string> ours;
  for (const ModelTensor& t : tensors) {
    ours.insert(t.name);
    if (!ckpt.has(t.name))
      fail("{}: the checkpoint has no tensor '{}': it holds another model (compare 'primus checkpoint inspect' with the "
           "experiment)",
           ckpt.dir().string(), t.name);
    const StoredTensor& st = ckpt.tensor(t.name);
    const bool vocab = is_vocabulary_tensor(t.name) && st.shape.size() == 2 && st.cols() == t.cols &&
                       st.rows() >= real_vocab && t.rows >= real_vocab;
    if (st.shape != t.shape() && !vocab)
      fail("{}: tensor '{}' is [{}] in the checkpoint but [{}] in the experiment's model: the checkpoint holds another "
           "model",
           ckpt.dir().string(), t.name, fmt::join(st.shape, ", "), fmt::join(t.shape(), ", "));
  }
  for (const auto& [name, t] : ckpt.metadata().tensors)
    if (!name.starts_with("optimizer.") && !ours.count(name)) {
      if (unclaimed) {
        unclaimed->push_back(name);
        continue;
      }
      fail("{}: the checkpoint has tensor '{}', which the experiment's model does not: it holds another model",
           ckpt.dir().string(), name);
    }
}

void read_model(CheckpointReader& ckpt, model::PipelineStage& stage, std::vector<std::string>* unclaimed) {
  check_model_tensors(ckpt, model_tensors(stage), stage.config().vocab, unclaimed);
  float* params = stage.params();
  for (const model::ParamInfo& p : stage.layout().params())
    ckpt.read(p.name, local_region(p), params + p.offset, is_vocabulary_tensor(p.name));
  for (const auto& b : stage.buffers())
    ckpt.read(b.name, whole_region(static_cast<std::int64_t>(b.values->size()), 0), b.values->data());
  stage.parameters_changed();
}

}  // namespace primus::checkpoint
