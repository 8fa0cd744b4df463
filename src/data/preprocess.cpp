#include "data/preprocess.hpp"

#include <zlib.h>

#include <barrier>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "data/indexed_dataset_writer.hpp"

namespace primus::data {
namespace {

// One JSON document per line: a longer "line" is a file of another kind (or a device).
constexpr std::size_t kMaxLineBytes = std::size_t{256} << 20;

// Line reader over plain or gzip-compressed files (zlib's gzread passes plain files through).
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path) {
    check_input_file(path, "input file", InputKind::kFileOrPipe);
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) fail("{}: cannot open: {}", path, std::strerror(errno));
    gzbuffer(file_, 1 << 20);
    buffer_.resize(1 << 20);
  }
  ~LineReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its '\n' (and '\r'); false at the end of the file.
  bool next(std::string& line) {
    line.clear();
    ++lines_;
    while (true) {
      if (line.size() > kMaxLineBytes)
        fail("{}:{}: a line longer than {} (is this a JSONL file, one JSON document per line?)", path_, lines_,
             format_bytes(kMaxLineBytes));
      if (pos_ == end_) {
        if (eof_) return !line.empty();
        const int n = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
        if (n < 0) {
          int err = 0;
          const char* msg = gzerror(file_, &err);
          fail("{}: read failed: {}", path_, msg != nullptr ? msg : "unknown error");
        }
        if (n == 0) {
          eof_ = true;
          if (!gzeof(file_)) fail("{}: read failed (truncated gzip stream?)", path_);
          return !line.empty();
        }
        pos_ = 0;
        end_ = static_cast<std::size_t>(n);
        bytes_ += n;
      }
      const char* start = buffer_.data() + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      if (nl == nullptr) {
        line.append(start, end_ - pos_);
        pos_ = end_;
        continue;
      }
      const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
      line.append(start, len);
      pos_ += len + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
  }
  std::int64_t bytes() const { return bytes_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  std::vector<char> buffer_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::int64_t bytes_ = 0;
  std::int64_t lines_ = 0;
};

struct Encoded {
  // Per key: the document's tokens; nullopt when the line is skipped.
  std::vector<std::vector<std::int32_t>> keys;
  bool skipped = false;
  bool blank = false;
  std::string error;
};

bool is_blank(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

void encode_line(const Tokenizer& tokenizer, const PreprocessOptions& opt, const std::string& line,
                 Encoded& out) {
  out.keys.assign(opt.json_keys.size(), {});
  out.skipped = false;
  out.blank = false;
  out.error.clear();
  if (is_blank(line)) {
    out.blank = true;
    return;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (what.size() > 160) what = what.substr(0, 160) + "...";
    out.error = "malformed JSON: " + what;
    return;
  }
  if (!doc.is_object()) {
    out.error = "expected a JSON object";
    return;
  }
  for (std::size_t k = 0; k < opt.json_keys.size(); ++k) {
    const auto it = doc.find(opt.json_keys[k]);
    if (it == doc.end()) {
      out.error = "no key '" + opt.json_keys[k] + "'";
      return;
    }
    auto& ids = out.keys[k];
    auto add = [&](const nlohmann::json& v) {
      if (!v.is_string()) {
        out.error = "key '" + opt.json_keys[k] + "' is not a string (or list of strings)";
        return false;
      }
      tokenizer.encode(v.get_ref<const std::string&>(), ids, true);
      return true;
    };
    try {
      if (it->is_array()) {
        for (const auto& s : *it) {
          if (!add(s)) return;
        }
      } else if (!add(*it)) {
        return;
      }
    } catch (const Error& e) {
      out.error = e.what();
      return;
    }
    if (!ids.empty() && opt.append_eod) ids.push_back(tokenizer.eod());
  }
}

}  // namespace

PreprocessStats preprocess_jsonl(const Tokenizer& tokenizer, const PreprocessOptions& opt,
                                 const std::function<void(const PreprocessStats&)>& progress) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  if (opt.json_keys.empty()) fail("preprocess: --json-keys must name at least one key");
  if (opt.workers < 1 || opt.workers > kMaxWorkers)
    fail("preprocess: --workers must be between 1 and {}, got {}", kMaxWorkers, opt.workers);
  if (opt.output_prefix.empty()) fail("preprocess: --output-prefix is empty");
  std::optional<std::int32_t> eod;
  if (opt.append_eod) eod = tokenizer.eod();  // fail early when the tokenizer has none

  LineReader reader(opt.input);
  const TokenDType dtype = optimal_dtype(tokenizer.vocab_size());
  PreprocessStats stats;
  std::vector<std::unique_ptr<IndexedDatasetWriter>> writers;
  for (const auto& key : opt.json_keys) {
    const std::string prefix = opt.output_prefix + "_" + key + "_document";
    writers.push_back(std::make_unique<IndexedDatasetWriter>(prefix, dtype));
    stats.outputs.push_back(prefix);
  }

  // Batches of lines: read on this thread, encoded by `workers` threads that live for the whole
  // run (their per-thread BPE caches stay warm), written here in input order.
  const std::size_t batch_lines = static_cast<std::size_t>(opt.workers) * 64;
  std::vector<std::string> lines(batch_lines);
  std::vector<Encoded> encoded(batch_lines);
  std::size_t n = 0;
  bool stop = false;
  auto work = [&](std::size_t begin) {
    for (std::size_t i = begin; i < n; i += static_cast<std::size_t>(opt.workers)) {
      try {
        encode_line(tokenizer, opt, lines[i], encoded[i]);
      } catch (const std::exception& e) {
        encoded[i].error = e.what();
      }
    }
  };
  std::barrier sync(opt.workers);
  std::vector<std::thread> threads;
  // Declared before the threads start, so that any exit from here on stops and joins them.
  struct Joiner {
    std::vector<std::thread>& threads;
    std::barrier<>& sync;
    bool& stop;
    ~Joiner() {
      if (threads.empty()) return;
      stop = true;
      sync.arrive_and_wait();
      for (auto& t : threads) t.join();
    }
  } joiner{threads, sync, stop};
  for (int w = 1; w < opt.workers; ++w) {
    try {
      threads.emplace_back([&, w] {
        while (true) {
          sync.arrive_and_wait();  // a batch is ready (or stop)
          if (stop) return;
          work(static_cast<std::size_t>(w));
          sync.arrive_and_wait();  // batch encoded
        }
      });
    } catch (const std::system_error& e) {
      // The threads that never started leave the barrier, so the started ones can be stopped.
      for (int missing = opt.workers - 1 - static_cast<int>(threads.size()); missing > 0; --missing)
        sync.arrive_and_drop();
      fail("preprocess: --workers {}: could not start thread {} ({}); use fewer workers", opt.workers, w + 1,
           e.what());
    }
  }

  std::int64_t line_number = 0;
  auto last_progress = Clock::now();
  bool done = false;
  while (!done) {
    n = 0;
    while (n < batch_lines && reader.next(lines[n])) ++n;
    if (n < batch_lines) done = true;
    if (n == 0) break;
    if (!threads.empty()) sync.arrive_and_wait();
    work(0);
    if (!threads.empty()) sync.arrive_and_wait();
    for (std::size_t i = 0; i < n; ++i) {
      ++line_number;
      const Encoded& e = encoded[i];
      if (e.blank) continue;
      if (!e.error.empty()) {
        if (!opt.skip_bad_lines) {
          fail("{}:{}: {} (use --skip-bad-lines to skip such lines)", opt.input, line_number, e.error);
        }
        ++stats.skipped_lines;
        continue;
      }
      for (std::size_t k = 0; k < writers.size(); ++k) {
        if (!e.keys[k].empty()) writers[k]->add_sequence(std::span<const std::int32_t>(e.keys[k]));
        writers[k]->end_document();
        stats.tokens += static_cast<std::int64_t>(e.keys[k].size());
      }
      ++stats.documents;
    }
    stats.input_bytes = reader.bytes();
    if (progress && Clock::now() - last_progress > std::chrono::milliseconds(500)) {
      last_progress = Clock::now();
      stats.seconds = std::chrono::duration<double>(last_progress - t0).count();
      progress(stats);
    }
  }
  for (auto& w : writers) w->finalize();
  stats.input_bytes = reader.bytes();
  stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return stats;
}

}  // namespace primus::data
