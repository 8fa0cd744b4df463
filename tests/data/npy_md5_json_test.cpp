// .npy headers, MD5 and Python-style JSON: the three pieces that make our index cache files and
// their names equal Megatron's.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "data/md5.hpp"
#include "data/npy_file.hpp"
#include "data/python_json.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

TEST(Md5, KnownDigests) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6");
  EXPECT_EQ(md5_hex(std::string(1000, 'a')), "cabe45dcc9ae5b66ba86600cca6b8ba8");
}

TEST(PythonJson, FloatReprLikePython) {
  EXPECT_EQ(python_float_repr(0.969), "0.969");
  EXPECT_EQ(python_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(123.0), "123.0");
  EXPECT_EQ(python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(python_float_repr(2.5e-7), "2.5e-07");
  EXPECT_EQ(python_float_repr(-0.5), "-0.5");
  EXPECT_EQ(python_float_repr(1.0 / 3.0), "0.3333333333333333");
}

TEST(PythonJson, DumpsLikePythonIndent4) {
  nlohmann::ordered_json j;
  j["class"] = "GPTDataset";
  j["path"] = "/data/caf\xc3\xa9/\xf0\x9f\x98\x80\"q\"";
  j["n"] = 5;
  j["none"] = nullptr;
  j["flag"] = true;
  j["empty"] = nlohmann::ordered_json::array();
  j["list"] = {0, 0.5};
  j["obj"] = {{"a", 1}};
  EXPECT_EQ(python_json_dumps(j),
            "{\n"
            "    \"class\": \"GPTDataset\",\n"
            "    \"path\": \"/data/caf\\u00e9/\\ud83d\\ude00\\\"q\\\"\",\n"
            "    \"n\": 5,\n"
            "    \"none\": null,\n"
            "    \"flag\": true,\n"
            "    \"empty\": [],\n"
            "    \"list\": [\n"
            "        0,\n"
            "        0.5\n"
            "    ],\n"
            "    \"obj\": {\n"
            "        \"a\": 1\n"
            "    }\n"
            "}");
}

TEST(Npy, HeaderMatchesNumpy) {
  // Headers numpy 1.24 writes with numpy.save (spare space for a 21-digit first axis, padded to 64).
  const std::string pad76(60, ' ');
  std::string expected = std::string("\x93NUMPY\x01\x00v\x00", 10) +
                         "{'descr': '<i4', 'fortran_order': False, 'shape': (7,), }" + pad76 + "\n";
  EXPECT_EQ(npy_header("<i4", {7}), expected);
  expected = std::string("\x93NUMPY\x01\x00v\x00", 10) +
             "{'descr': '<i8', 'fortran_order': False, 'shape': (5, 2), }" + std::string(58, ' ') + "\n";
  EXPECT_EQ(npy_header("<i8", {5, 2}), expected);
  EXPECT_EQ(npy_header("<u4", {123456789}).size() % 64, 0u);
}

TEST(Npy, RoundTripAndNumpyCompatibility) {
  testing::ScratchDir dir("npy");
  std::vector<std::int32_t> a = {3, -1, 7, 9};
  write_npy(dir / "a.npy", a, {2, 2});
  const auto back = read_npy(dir / "a.npy");
  EXPECT_EQ(back.descr, "<i4");
  EXPECT_EQ(back.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(back.as_int64(), (std::vector<std::int64_t>{3, -1, 7, 9}));
  if (!testing::have_numpy()) GTEST_SKIP() << "numpy not importable from /usr/bin/python3";
  const std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a=np.load('" + (dir / "a.npy") +
                          "'); np.save('" + (dir / "b.npy") +
                          "', np.array([[3,-1],[7,9]], dtype=np.int32)); assert a.tolist()==[[3,-1],[7,9]]\"";
  ASSERT_EQ(testing::run(cmd), 0);
  EXPECT_EQ(testing::read_file(dir / "a.npy"), testing::read_file(dir / "b.npy"));
}

TEST(Npy, BadFilesAreErrors) {
  testing::ScratchDir dir("npy_bad");
  testing::write_file(dir / "x.npy", "hello");
  EXPECT_THROW(read_npy(dir / "x.npy"), Error);
  std::vector<std::int64_t> v = {1, 2, 3};
  write_npy(dir / "t.npy", v, {3});
  auto bytes = testing::read_file(dir / "t.npy");
  testing::write_file(dir / "t.npy", bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(read_npy(dir / "t.npy"), Error);
  // A shape whose element count overflows (it would wrap to a small byte count) is refused.
  const std::string header = npy_header("<i8", {std::int64_t{1} << 40, std::int64_t{1} << 40});
  testing::write_file(dir / "huge.npy", header);
  try {
    read_npy(dir / "huge.npy");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.npy: .npy shape '(1099511627776, 1099511627776)' is too large"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace primus::data
