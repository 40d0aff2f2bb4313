// Recorded inputs under tests/nodeinfo/testdata (see its README.md for the sources).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "nodeinfo/cpuinfo.h"

namespace archway::nodeinfo::testing {

inline std::string TestdataPath(const std::string& name) {
  return std::string(ARCHWAY_SOURCE_DIR) + "/tests/nodeinfo/testdata/" + name;
}

inline std::string Testdata(const std::string& name) {
  std::ifstream in(TestdataPath(name), std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing testdata " << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline CpuInfo Sample(const std::string& file) {
  auto parsed = ParseCpuInfo(Testdata("cpuinfo/" + file));
  EXPECT_TRUE(parsed.ok()) << file << ": " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : CpuInfo{};
}

}  // namespace archway::nodeinfo::testing
