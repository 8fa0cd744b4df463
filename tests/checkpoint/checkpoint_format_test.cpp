// The checkpoint folder format: save from several ranks, read back any region; tracker,
// checksums, retention, asynchronous saves; and one-line errors for everything a damaged or
// foreign checkpoint can present.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <numeric>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_saver.hpp"
#include "core/error.hpp"
#include "io/temp_dir.hpp"
#include "threaded_group.hpp"

namespace primus::checkpoint {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t R = 12, C = 5, N = 7;

// Global tensors of "iteration" it: w [R, C] and b [N] with values that depend on it.
std::vector<float> values(std::int64_t n, std::int64_t it, float salt) {
  std::vector<float> v(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = salt + static_cast<float>(i) + 0.001f * static_cast<float>(it);
  return v;
}

// Rank r of `ranks` owns rows [r·R/ranks, (r+1)·R/ranks) of w; rank 0 also owns b, split in
// element ranges between rank 0 and the last rank.
SaveRequest request(const fs::path& save, std::int64_t it, int rank, int ranks, const std::vector<float>& w,
                    const std::vector<float>& b) {
  SaveRequest r;
  r.save_dir = save;
  r.iteration = it;
  r.state = {{"consumed_train_samples", it * 8}};
  r.rank_state = {{"seed", 1234 + rank}};
  const std::int64_t r0 = rank * R / ranks, r1 = (rank + 1) * R / ranks;
  Region rows;
  rows.rows = {{r0, r1 - r0}};
  rows.cols = C;
  r.pieces.push_back({"w", {R, C}, rows, w.data() + r0 * C});
  const std::int64_t cut = ranks == 1 ? N : 3;
  if (rank == 0) {
    Region head;
    head.rows = {{0, cut}};
    r.pieces.push_back({"b", {N}, head, b.data()});
  }
  if (rank == ranks - 1 && cut < N) {
    Region tail;
    tail.rows = {{cut, N - cut}};
    r.pieces.push_back({"b", {N}, tail, b.data() + cut});
  }
  return r;
}

void save_world(const fs::path& save, std::int64_t it, int ranks, RetentionPolicy retention = {}, bool async = false) {
  const auto w = values(R * C, it, 0.0f), b = values(N, it, 100.0f);
  test::ThreadedWorld world(ranks);
  world.run([&](CheckpointGroup& g) {
    CheckpointSaver saver(g);
    SaveRequest req = request(save, it, g.rank(), ranks, w, b);
    req.retention = retention;
    if (!async) {
      saver.save(req);
      return;
    }
    saver.save_async(req);
    while (!saver.finish(/*wait=*/false)) std::this_thread::yield();
  });
}

void expect_iteration(const fs::path& save, std::int64_t it) {
  const auto dir = resolve_checkpoint_dir(save);
  ASSERT_TRUE(dir.has_value());
  CheckpointReader reader(*dir);
  EXPECT_EQ(reader.iteration(), it);
  EXPECT_EQ(reader.verify(), "");
  EXPECT_EQ(reader.read_whole("w"), values(R * C, it, 0.0f));
  EXPECT_EQ(reader.read_whole("b"), values(N, it, 100.0f));
}

TEST(CheckpointFormat, SavedByThreeRanksReadByAnyRegion) {
  test::TempDir tmp;
  const fs::path save = tmp / "ckpt";
  save_world(save, 100, 3);
  EXPECT_EQ(read_tracker(save), 100);
  EXPECT_TRUE(fs::is_directory(save / "iter_0000100"));
  EXPECT_FALSE(fs::exists(partial_dir(save, 100)));
  std::ifstream tracker(save / kTrackerFile);
  std::string text((std::istreambuf_iterator<char>(tracker)), {});
  EXPECT_EQ(text, "100");  // Megatron's spelling
  expect_iteration(save, 100);
  CheckpointReader reader(save / "iter_0000100");
  EXPECT_EQ(reader.metadata().files.size(), 3u);
  EXPECT_EQ(reader.state()["consumed_train_samples"], 800);
  EXPECT_EQ(reader.state()["ranks"][2]["seed"], 1236);
  EXPECT_EQ(reader.tensor("b").pieces.size(), 2u);
  // A column block across the row pieces, and interleaved rows.
  Region cols;
  cols.rows = {{9, 3}, {0, 5}};
  cols.col_begin = 1;
  cols.cols = 3;
  std::vector<float> got(static_cast<size_t>(cols.numel()));
  reader.read("w", cols, got.data());
  const auto w = values(R * C, 100, 0.0f);
  std::size_t k = 0;
  for (const auto& rr : cols.rows)
    for (std::int64_t r = rr.begin; r < rr.begin + rr.count; ++r)
      for (std::int64_t c = 1; c < 4; ++c) EXPECT_EQ(got[k++], w[static_cast<size_t>(r * C + c)]);
  // Vocabulary padded differently: rows beyond the stored ones are zero on request.
  Region wide;
  wide.rows = {{10, 4}};
  wide.cols = C;
  std::vector<float> padded(static_cast<size_t>(wide.numel()), -1.0f);
  EXPECT_THROW(reader.read("w", wide, padded.data()), Error);
  reader.read("w", wide, padded.data(), /*zero_fill_extra_rows=*/true);
  EXPECT_EQ(padded[0], w[50]);
  EXPECT_EQ(padded[19], 0.0f);
}

TEST(CheckpointFormat, AsyncSaveWritesTheSameCheckpoint) {
  test::TempDir tmp;
  save_world(tmp / "sync", 7, 2);
  save_world(tmp / "async", 7, 2, {}, /*async=*/true);
  expect_iteration(tmp / "async", 7);
  CheckpointReader a(tmp / "sync" / "iter_0000007"), b(tmp / "async" / "iter_0000007");
  ASSERT_EQ(a.metadata().files.size(), b.metadata().files.size());
  for (std::size_t i = 0; i < a.metadata().files.size(); ++i)
    EXPECT_EQ(a.metadata().files[i].crc32c, b.metadata().files[i].crc32c);
}

TEST(CheckpointFormat, ResavingAnIterationReplacesIt) {
  test::TempDir tmp;
  const fs::path save = tmp / "ckpt";
  save_world(save, 5, 1);
  save_world(save, 5, 2);  // another layout, same iteration
  expect_iteration(save, 5);
  EXPECT_EQ(CheckpointReader(save / "iter_0000005").metadata().files.size(), 2u);
  for (const auto& e : fs::directory_iterator(save)) EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

TEST(CheckpointFormat, RetentionKeepsTheNewestAndTheRetained) {
  test::TempDir tmp;
  const fs::path save = tmp / "ckpt";
  for (std::int64_t it = 10; it <= 60; it += 10) save_world(save, it, 1, RetentionPolicy{3, std::nullopt});
  EXPECT_EQ(complete_iterations(save), (std::vector<std::int64_t>{40, 50, 60}));
  // Megatron's save_retain_interval: the previous checkpoint goes unless it is a multiple.
  const fs::path save2 = tmp / "retain";
  for (std::int64_t it = 10; it <= 60; it += 10) save_world(save2, it, 1, RetentionPolicy{0, 30});
  EXPECT_EQ(complete_iterations(save2), (std::vector<std::int64_t>{30, 60}));
  // Both: the newest two plus the retained ones.
  const fs::path save3 = tmp / "both";
  for (std::int64_t it = 10; it <= 80; it += 10) save_world(save3, it, 1, RetentionPolicy{2, 30});
  EXPECT_EQ(complete_iterations(save3), (std::vector<std::int64_t>{30, 60, 70, 80}));
  expect_iteration(save3, 80);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CheckpointFormat, DamagedFilesAreNamedInOneLine) {
  test::TempDir tmp;
  const fs::path save = tmp / "ckpt";
  save_world(save, 3, 2);
  const fs::path dir = save / "iter_0000003", file = dir / "rank_00001.safetensors";
  const auto original_size = fs::file_size(file);
  {
    // One flipped bit in the data.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(original_size - 3));
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(original_size - 3));
    f.write(&c, 1);
  }
  std::string msg = CheckpointReader(dir).verify();
  EXPECT_NE(msg.find("rank_00001.safetensors: checksum mismatch"), std::string::npos) << msg;
  fs::resize_file(file, original_size - 100);
  msg = CheckpointReader(dir).verify();
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  msg = error_of([&] { CheckpointReader(dir).read_whole("w"); });
  EXPECT_NE(msg.find("rank_00001.safetensors"), std::string::npos) << msg;
  fs::remove(file);
  msg = CheckpointReader(dir).verify();
  EXPECT_NE(msg.find("rank_00001.safetensors: missing"), std::string::npos) << msg;
  // The verification spread over ranks fails on every rank with the same message.
  test::ThreadedWorld world(2);
  msg = error_of([&] { world.run([&](CheckpointGroup& g) { CheckpointReader(dir).verify(g); }); });
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  // metadata.json: truncated, another format, missing.
  const fs::path meta = dir / kMetadataFile;
  fs::resize_file(meta, fs::file_size(meta) / 2);
  msg = error_of([&] { CheckpointReader r(dir); });
  EXPECT_NE(msg.find("metadata.json: not valid JSON"), std::string::npos) << msg;
  std::ofstream(meta) << R"({"format": "something-else"})";
  msg = error_of([&] { CheckpointReader r(dir); });
  EXPECT_NE(msg.find("not a Primus checkpoint"), std::string::npos) << msg;
  fs::remove(meta);
  msg = error_of([&] { resolve_checkpoint_dir(save); });
  EXPECT_NE(msg.find("not a complete checkpoint"), std::string::npos) << msg;

  // The tracker: garbage, a missing folder; ckpt_step of a missing iteration.
  std::ofstream(save / kTrackerFile) << "latest";
  msg = error_of([&] { resolve_checkpoint_dir(save); });
  EXPECT_NE(msg.find("latest_checkpointed_iteration.txt: 'latest' is not an iteration number"), std::string::npos) << msg;
  std::ofstream(save / kTrackerFile) << "42\n";
  msg = error_of([&] { resolve_checkpoint_dir(save); });
  EXPECT_NE(msg.find("iter_0000042: missing"), std::string::npos) << msg;
  save_world(save, 8, 1);
  msg = error_of([&] { resolve_checkpoint_dir(save, 9); });
  EXPECT_NE(msg.find("no checkpoint of iteration 9 (ckpt_step)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("iterations 8"), std::string::npos) << msg;
  EXPECT_FALSE(resolve_checkpoint_dir(tmp / "nothing-here").has_value());
  EXPECT_EQ(resolve_checkpoint_dir(save / "iter_0000008"), save / "iter_0000008");
}

TEST(CheckpointFormat, MetadataThatDoesNotPartitionATensorIsRefused) {
  test::TempDir tmp;
  const fs::path save = tmp / "ckpt";
  save_world(save, 1, 2);
  const fs::path meta = save / "iter_0000001" / kMetadataFile;
  nlohmann::json j;
  std::ifstream(meta) >> j;
  j["tensors"]["w"]["pieces"].erase(0);
  std::ofstream(meta) << j.dump();
  const std::string msg = error_of([&] { CheckpointReader r(save / "iter_0000001"); });
  EXPECT_NE(msg.find("tensor 'w': the pieces hold 30 of the tensor's 60 elements"), std::string::npos) << msg;
}

// kill -9 at every point of a save, synchronous and asynchronous: the checkpoint the tracker
// names is always complete — the previous one, or the new one once the tracker names it.
TEST(CheckpointFormat, KillDuringSaveLeavesTheLastCompleteCheckpoint) {
  const char* points[] = {"prepared", "file_opened", "piece_written", "files_written", "metadata_written", "renamed",
                          "tracker_written", "retention_done"};
  for (bool async : {false, true})
    for (const char* point : points) {
      test::TempDir tmp;
      const fs::path save = tmp / "ckpt";
      save_world(save, 10, 2, RetentionPolicy{1, std::nullopt});
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        CheckpointSaver::set_test_hook([point](const char* at) {
          if (std::string(at) == point) ::raise(SIGKILL);
        });
        try {
          save_world(save, 20, 2, RetentionPolicy{1, std::nullopt}, async);
        } catch (...) {
        }
        ::_exit(0);  // the point was not reached
      }
      int status = 0;
      ::waitpid(child, &status, 0);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << point << (async ? " async" : "");
      const std::int64_t tracked = *read_tracker(save);
      const bool after_tracker = std::string(point) == "tracker_written" || std::string(point) == "retention_done";
      EXPECT_EQ(tracked, after_tracker ? 20 : 10) << point;
      expect_iteration(save, tracked);
      // The next save succeeds and cleans up what the killed one left.
      save_world(save, 30, 2, RetentionPolicy{1, std::nullopt});
      expect_iteration(save, 30);
      EXPECT_EQ(complete_iterations(save), (std::vector<std::int64_t>{30})) << point;
      for (const auto& e : fs::directory_iterator(save)) {
        const std::string name = e.path().filename().string();
        EXPECT_TRUE(name == kTrackerFile || name.rfind("iter_", 0) == 0) << e.path();
      }
    }
}

}  // namespace
}  // namespace primus::checkpoint
