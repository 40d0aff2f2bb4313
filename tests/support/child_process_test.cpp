// The harness's guarantee that a test leaves no process behind.
#include "tests/support/child_process.h"

#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace archway::testing {
namespace {

TEST(ChildProcess, StopEndsTheWholeProcessGroup) {
  TempDir dir;
  // A shell that leaves a grandchild behind and ignores SIGTERM: Stop must still end both.
  ChildProcess p({"/bin/sh", "-c", "trap '' TERM; sleep 300 & echo started; wait"}, dir.File("log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (p.Log().find("started") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(p.Running());
  EXPECT_FALSE(p.GroupGone());
  const int code = p.Stop(std::chrono::milliseconds(300));
  EXPECT_EQ(code, 128 + SIGKILL) << "SIGTERM was ignored, so the grace period ended in SIGKILL";
  EXPECT_TRUE(p.GroupGone()) << "the backgrounded sleep must be gone too";
  EXPECT_FALSE(p.Running());
}

TEST(ChildProcess, ReportsTheExitCodeAndTheLog) {
  TempDir dir;
  ChildProcess p({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}, dir.File("log"), {"ARCHWAY_X=1"});
  while (p.Running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(p.exit_code(), 3);
  EXPECT_EQ(p.Stop(), 3);
  EXPECT_NE(p.Log().find("to-stdout"), std::string::npos);
  EXPECT_NE(p.Log().find("to-stderr"), std::string::npos);
  EXPECT_TRUE(p.GroupGone());
}

TEST(ChildProcess, RefusesWhatCannotBeExecuted) {
  TempDir dir;
  EXPECT_THROW(ChildProcess({"/nonexistent/binary"}, dir.File("log")), std::runtime_error);
}

}  // namespace
}  // namespace archway::testing
