// binfmt_misc entries as the kernel prints them, and which would catch the arm32 probe.
#include <gtest/gtest.h>

#include "nodeinfo/arm32_probe.h"
#include "nodeinfo/binfmt.h"
#include "tests/nodeinfo/testdata.h"

namespace archway::nodeinfo {
namespace {

using testing::Testdata;
using testing::TestdataPath;

TEST(Binfmt, ParsesTonistiigiQemuArmEntry) {
  auto handler = ParseBinfmtEntry("qemu-arm", Testdata("binfmt/qemu-arm-tonistiigi"));
  ASSERT_TRUE(handler.ok()) << handler.error().message;
  EXPECT_TRUE(handler->enabled);
  EXPECT_EQ(handler->interpreter, "/usr/bin/qemu-arm");
  EXPECT_EQ(handler->flags, "POCF");
  EXPECT_EQ(handler->offset, 0u);
  ASSERT_EQ(handler->magic.size(), 20u);
  EXPECT_EQ(handler->magic.substr(0, 4), "\x7f" "ELF");
  EXPECT_EQ(static_cast<unsigned char>(handler->magic[18]), 0x28);  // EM_ARM
  EXPECT_EQ(handler->mask.size(), 20u);
  EXPECT_TRUE(HandlesFile(*handler, Arm32ProbeElf()));
}

TEST(Binfmt, Aarch64HandlerDoesNotCatchA32BitArmElf) {
  auto handler = ParseBinfmtEntry("qemu-aarch64", Testdata("binfmt/qemu-aarch64-debian"));
  ASSERT_TRUE(handler.ok()) << handler.error().message;
  EXPECT_FALSE(HandlesFile(*handler, Arm32ProbeElf()));
}

TEST(Binfmt, DisabledShortOrShiftedDoesNotMatch) {
  auto handler = ParseBinfmtEntry("qemu-arm", Testdata("binfmt/qemu-arm-tonistiigi"));
  ASSERT_TRUE(handler.ok());
  BinfmtHandler disabled = *handler;
  disabled.enabled = false;
  EXPECT_FALSE(HandlesFile(disabled, Arm32ProbeElf()));
  EXPECT_FALSE(HandlesFile(*handler, Arm32ProbeElf().first(19)));
  BinfmtHandler shifted = *handler;
  shifted.offset = 200;
  EXPECT_FALSE(HandlesFile(shifted, Arm32ProbeElf()));
  // The mask lets ET_DYN (3) through as well as ET_EXEC (2): the 0xfe byte.
  std::vector<unsigned char> pie(Arm32ProbeElf().begin(), Arm32ProbeElf().end());
  pie[16] = 3;
  EXPECT_TRUE(HandlesFile(*handler, pie));
  pie[18] = 0x3e;  // EM_X86_64
  EXPECT_FALSE(HandlesFile(*handler, pie));
}

TEST(Binfmt, RejectsMalformedEntries) {
  EXPECT_FALSE(ParseBinfmtEntry("x", "").ok());
  EXPECT_FALSE(ParseBinfmtEntry("x", "enabled\ninterpreter /q\n").ok());  // neither magic nor extension
  EXPECT_FALSE(ParseBinfmtEntry("x", "enabled\nmagic 7f45zz\n").ok());
  EXPECT_FALSE(ParseBinfmtEntry("x", "enabled\nmagic 7f454\n").ok());  // odd length
  EXPECT_FALSE(ParseBinfmtEntry("x", "enabled\nmagic 7f45\nmask ff\n").ok());
  EXPECT_FALSE(ParseBinfmtEntry("x", "enabled\noffset -1\nmagic 7f45\n").ok());
  auto error = ParseBinfmtEntry("qemu-x", "enabled\noffset 99999999999\nmagic 7f45\n");
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.error().message.find("qemu-x"), std::string::npos);
  auto extension = ParseBinfmtEntry("wine", "enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n");
  ASSERT_TRUE(extension.ok()) << extension.error().message;
  EXPECT_FALSE(HandlesFile(*extension, Arm32ProbeElf()));
  auto no_mask = ParseBinfmtEntry("m", "enabled\nmagic 7f454c46\n");
  ASSERT_TRUE(no_mask.ok());
  EXPECT_EQ(no_mask->mask, std::string(4, '\xff'));
  EXPECT_TRUE(HandlesFile(*no_mask, Arm32ProbeElf()));
}

TEST(Binfmt, ReadsADirectory) {
  BinfmtState state = ReadBinfmtMisc(TestdataPath("binfmt"));
  EXPECT_TRUE(state.visible);
  EXPECT_TRUE(state.enabled);
  ASSERT_EQ(state.handlers.size(), 2u);
  EXPECT_EQ(state.handlers[0].name, "qemu-aarch64-debian");
  auto arm = HandlersFor(state, Arm32ProbeElf());
  ASSERT_EQ(arm.size(), 1u);
  EXPECT_EQ(arm[0].name, "qemu-arm-tonistiigi");
  state.enabled = false;  // `echo 0 > status` turns every handler off
  EXPECT_TRUE(HandlersFor(state, Arm32ProbeElf()).empty());
}

TEST(Binfmt, MissingOrUnmountedDirectoryIsInvisible) {
  BinfmtState missing = ReadBinfmtMisc("/nonexistent/binfmt_misc");
  EXPECT_FALSE(missing.visible);
  EXPECT_NE(missing.problem.find("/nonexistent/binfmt_misc"), std::string::npos);
  EXPECT_TRUE(HandlersFor(missing, Arm32ProbeElf()).empty());
  BinfmtState empty = ReadBinfmtMisc(TestdataPath("cpuinfo"));
  EXPECT_FALSE(empty.visible);  // a directory without a "status" file is not binfmt_misc
}

}  // namespace
}  // namespace archway::nodeinfo
