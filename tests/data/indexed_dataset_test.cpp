// Indexed dataset: reads fixtures written by numpy (tools/reference/data/make_indexed_fixture.py),
// rewrites them with our writer byte for byte, and turns every kind of corruption into a
// primus::Error naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "data/indexed_dataset_reader.hpp"
#include "data/indexed_dataset_writer.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

using testing::fixture;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

const char* kDtypes[] = {"uint8", "int8", "int16", "int32", "int64", "float64", "float32", "uint16"};

std::string error_of(const std::string& prefix) {
  try {
    IndexedDatasetReader r(prefix);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(IndexedDataset, ReadsNumpyWrittenFixturesOfEveryDtype) {
  for (const char* dt : kDtypes) {
    IndexedDatasetReader r(fixture(std::string("docs_") + dt));
    EXPECT_EQ(dtype_name(r.dtype()), dt);
    EXPECT_EQ(r.sequence_count(), 200);
    EXPECT_EQ(r.document_count(), 200);
    EXPECT_FALSE(r.has_modes());
    std::int64_t total = 0;
    for (auto l : r.sequence_lengths()) {
      EXPECT_GE(l, 1);
      total += l;
    }
    EXPECT_EQ(total, r.total_tokens());
    // Partial reads agree with whole reads.
    const auto whole = r.sequence(17);
    std::vector<std::int32_t> part(whole.size());
    r.read(17, 1, static_cast<std::int64_t>(whole.size()) - 1, part.data());
    for (std::size_t i = 1; i < whole.size(); ++i) EXPECT_EQ(part[i - 1], whole[i]);
  }
}

TEST(IndexedDataset, WriterReproducesFixturesByteForByte) {
  ScratchDir dir("idx_rewrite");
  for (const char* dt : kDtypes) {
    const std::string src = fixture(std::string("docs_") + dt);
    IndexedDatasetReader r(src);
    {
      IndexedDatasetWriter w(dir / dt, r.dtype());
      for (std::int64_t s = 0; s < r.sequence_count(); ++s) {
        const auto tokens = r.sequence(s);
        w.add_sequence(tokens);
        w.end_document();
      }
      w.finalize();
    }
    EXPECT_EQ(read_file(src + ".bin"), read_file((dir / dt) + ".bin")) << dt;
    EXPECT_EQ(read_file(src + ".idx"), read_file((dir / dt) + ".idx")) << dt;
  }
}

TEST(IndexedDataset, MultiSequenceDocumentsAndMerging) {
  ScratchDir dir("idx_multi");
  const std::string src = fixture("multi_seq");
  IndexedDatasetReader r(src);
  EXPECT_EQ(r.sequence_count(), 30);
  EXPECT_EQ(r.document_count(), 6);
  const std::vector<std::int64_t> bounds = {0, 3, 4, 10, 10, 18, 30};
  EXPECT_EQ(std::vector<std::int64_t>(r.document_indices().begin(), r.document_indices().end()), bounds);
  {
    IndexedDatasetWriter w(dir / "merged", r.dtype());
    w.add_dataset(src);
    w.finalize();
  }
  EXPECT_EQ(read_file(src + ".bin"), read_file(dir / "merged.bin"));
  EXPECT_EQ(read_file(src + ".idx"), read_file(dir / "merged.idx"));
}

TEST(IndexedDataset, WriterRejectsTokensOutsideTheDtype) {
  ScratchDir dir("idx_range");
  IndexedDatasetWriter w(dir / "u16", TokenDType::kUInt16);
  std::vector<std::int32_t> ok = {0, 65535};
  w.add_document(ok);
  std::vector<std::int32_t> bad = {65536};
  EXPECT_THROW(w.add_document(bad), Error);
  std::vector<std::int32_t> neg = {-1};
  EXPECT_THROW(w.add_document(neg), Error);
}

TEST(IndexedDataset, EmptyDatasetRoundTrips) {
  ScratchDir dir("idx_empty");
  {
    IndexedDatasetWriter w(dir / "empty", TokenDType::kInt32);
    w.finalize();
  }
  IndexedDatasetReader r(dir / "empty");
  EXPECT_EQ(r.sequence_count(), 0);
  EXPECT_EQ(r.document_count(), 0);
}

class CorruptIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    idx_ = read_file(fixture("docs_int32.idx"));
    bin_ = read_file(fixture("docs_int32.bin"));
  }
  std::string write(const std::string& idx, const std::string& bin) {
    write_file(dir_ / "x.idx", idx);
    write_file(dir_ / "x.bin", bin);
    return dir_ / "x";
  }
  ScratchDir dir_{"idx_corrupt"};
  std::string idx_, bin_;
};

TEST_F(CorruptIndex, MissingFileNamesThePath) {
  const auto msg = error_of(dir_ / "nothing_here");
  EXPECT_NE(msg.find("nothing_here.idx"), std::string::npos) << msg;
}

TEST_F(CorruptIndex, WrongMagic) {
  auto idx = idx_;
  idx[0] = 'X';
  const auto msg = error_of(write(idx, bin_));
  EXPECT_NE(msg.find("x.idx"), std::string::npos);
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
}

TEST_F(CorruptIndex, WrongVersionAndDtype) {
  auto idx = idx_;
  idx[9] = 2;
  EXPECT_NE(error_of(write(idx, bin_)).find("version"), std::string::npos);
  idx = idx_;
  idx[17] = 9;
  EXPECT_NE(error_of(write(idx, bin_)).find("dtype"), std::string::npos);
}

TEST_F(CorruptIndex, TruncatedIndexAndHeader) {
  EXPECT_NE(error_of(write(idx_.substr(0, 20), bin_)).find("truncated"), std::string::npos);
  const auto msg = error_of(write(idx_.substr(0, idx_.size() - 5), bin_));
  EXPECT_NE(msg.find("does not match its header"), std::string::npos) << msg;
}

TEST_F(CorruptIndex, HugeCountsDoNotAllocate) {
  auto idx = idx_;
  const std::uint64_t huge = ~0ull;
  std::memcpy(idx.data() + 18, &huge, 8);
  EXPECT_NE(error_of(write(idx, bin_)).find("x.idx"), std::string::npos);
}

TEST_F(CorruptIndex, TruncatedOrOversizedBin) {
  auto msg = error_of(write(idx_, bin_.substr(0, bin_.size() - 4)));
  EXPECT_NE(msg.find("x.bin"), std::string::npos) << msg;
  msg = error_of(write(idx_, bin_ + "abcd"));
  EXPECT_NE(msg.find("x.bin"), std::string::npos) << msg;
}

TEST_F(CorruptIndex, InconsistentPointersLengthsAndDocuments) {
  auto idx = idx_;
  std::int32_t len;
  std::memcpy(&len, idx.data() + 34, 4);
  len += 1;
  std::memcpy(idx.data() + 34, &len, 4);
  auto msg = error_of(write(idx, bin_));
  EXPECT_NE(msg.find("x.idx"), std::string::npos) << msg;

  idx = idx_;
  const std::size_t docs_at = idx.size() - 201 * 8;
  std::int64_t last = 500;
  std::memcpy(idx.data() + idx.size() - 8, &last, 8);
  msg = error_of(write(idx, bin_));
  EXPECT_NE(msg.find("last document boundary"), std::string::npos) << msg;

  idx = idx_;
  std::int64_t first = 3;
  std::memcpy(idx.data() + docs_at, &first, 8);
  msg = error_of(write(idx, bin_));
  EXPECT_NE(msg.find("start at 0"), std::string::npos) << msg;
}

TEST(IndexedDataset, OutOfRangeReadsAreErrors) {
  IndexedDatasetReader r(fixture("docs_int32"));
  std::vector<std::int32_t> out(1000);
  EXPECT_THROW(r.read(-1, 0, 1, out.data()), Error);
  EXPECT_THROW(r.read(200, 0, 1, out.data()), Error);
  EXPECT_THROW(r.read(0, 0, 1000, out.data()), Error);
}

}  // namespace
}  // namespace primus::data

namespace primus::data {
namespace {

// Float datasets (dtype 6/7) store token ids as floats; a value that is no whole number in the
// output's range is an error naming it (fuzzing found NaN converted to an integer).
struct FloatToken {
  const char* name;
  double value;
  bool as_int32;
};

class IndexedDatasetFloatTokens : public ::testing::TestWithParam<FloatToken> {};

TEST_P(IndexedDatasetFloatTokens, NonWholeOrOutOfRangeValuesAreErrors) {
  testing::ScratchDir dir("idx_float");
  const std::string idx = std::string("MMIDIDX\0\0", 9) + std::string("\x01\0\0\0\0\0\0\0", 8) + std::string(1, '\x06') +  // float64
                          std::string("\x01\0\0\0\0\0\0\0", 8) + std::string("\x02\0\0\0\0\0\0\0", 8) +
                          std::string("\x01\0\0\0", 4) + std::string(8, '\0') + std::string(8, '\0') +
                          std::string("\x01\0\0\0\0\0\0\0", 8);
  const double v = GetParam().value;
  testing::write_file(dir / "f.idx", idx);
  testing::write_file(dir / "f.bin", std::string(reinterpret_cast<const char*>(&v), 8));
  IndexedDatasetReader r(dir / "f");
  std::string message;
  try {
    if (GetParam().as_int32) {
      std::int32_t out;
      r.read(0, 0, 1, &out);
    } else {
      std::int64_t out;
      r.read(0, 0, 1, &out);
    }
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("f.bin: token value"), std::string::npos) << message;
  EXPECT_NE(message.find("is not a whole number that fits in"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Values, IndexedDatasetFloatTokens,
                         ::testing::Values(FloatToken{"nan", std::nan(""), false}, FloatToken{"inf", INFINITY, false},
                                           FloatToken{"fraction", 1.5, false}, FloatToken{"beyond_int32", 3e9, true},
                                           FloatToken{"beyond_int64", 1e19, false},
                                           FloatToken{"negative_beyond_int64", -1e19, false}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace primus::data
