// The embedded 32-bit arm program, and running it on this machine: on x86_64 it must not
// run unless a binfmt_misc handler (qemu-arm) takes it, and then it runs emulated.
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <sys/utsname.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "nodeinfo/arm32_probe.h"
#include "nodeinfo/binfmt.h"
#include "nodeinfo/facts.h"

namespace archway::nodeinfo {
namespace {

uint32_t Word(std::span<const unsigned char> bytes, size_t offset) {
  return bytes[offset] | bytes[offset + 1] << 8 | bytes[offset + 2] << 16 | static_cast<uint32_t>(bytes[offset + 3]) << 24;
}
uint16_t Half(std::span<const unsigned char> bytes, size_t offset) {
  return static_cast<uint16_t>(bytes[offset] | bytes[offset + 1] << 8);
}

std::string OwnMachine() {
  utsname names{};
  return uname(&names) == 0 ? names.machine : "";
}

size_t OpenDescriptors() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST(Arm32Probe, ElfIsTheDocumentedProgram) {
  auto elf = Arm32ProbeElf();
  ASSERT_EQ(elf.size(), 156u);
  EXPECT_EQ(Sha256Hex(std::string_view(reinterpret_cast<const char*>(elf.data()), elf.size())),
            "1b8e5a5928b0a5c712a7df7ad03b02587e5aebe3293a2522b2a183f30c7fc103");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(elf.data()), 4), "\x7f" "ELF");
  EXPECT_EQ(elf[4], 1);             // ELFCLASS32
  EXPECT_EQ(elf[5], 1);             // little-endian
  EXPECT_EQ(Half(elf, 16), 2);      // ET_EXEC
  EXPECT_EQ(Half(elf, 18), 40);     // EM_ARM
  EXPECT_EQ(Word(elf, 24), 0x10054u);  // entry: right after the headers
  EXPECT_EQ(Word(elf, 28), 52u);    // e_phoff
  EXPECT_EQ(Word(elf, 36) & 0xff000000u, 0x05000000u);  // EABI version 5
  EXPECT_EQ(Half(elf, 44), 1);      // one program header
  EXPECT_EQ(Word(elf, 52), 1u);     // PT_LOAD
  EXPECT_EQ(Word(elf, 56), 0u);     // from offset 0
  EXPECT_EQ(Word(elf, 60), 0x10000u);
  EXPECT_EQ(Word(elf, 68), 156u);   // filesz
  EXPECT_EQ(Word(elf, 72), 156u);   // memsz
  EXPECT_EQ(Word(elf, 76), 5u);     // PF_R | PF_X
  EXPECT_EQ(Word(elf, 84), 0xe24ddf62u);  // sub sp, sp, #392
  EXPECT_EQ(Word(elf, 92), 0xe3a0707au);  // mov r7, #122 (uname)
  EXPECT_EQ(Word(elf, 152), 0xef000000u);  // the last svc (exit)
}

TEST(Arm32Probe, OnThisMachineAsBinfmtMiscSays) {
  const BinfmtState binfmt = ReadBinfmtMisc();
  const auto handlers = HandlersFor(binfmt, Arm32ProbeElf());
  const size_t fds_before = OpenDescriptors();
  const Arm32ProbeRun run = RunArm32Probe(std::chrono::seconds(10));
  EXPECT_EQ(OpenDescriptors(), fds_before) << "the probe leaked a descriptor";
  ASSERT_EQ(run.setup_error, "") << "memfd_create/fork failed here";
  const Arm32Probe probe = ClassifyArm32Probe(run, OwnMachine());
  const std::string arch = BuildArch();
  SCOPED_TRACE("binfmt_misc " + std::string(binfmt.visible ? "visible" : "not visible: " + binfmt.problem) + "; " +
               std::to_string(handlers.size()) + " handler(s) for 32-bit arm; probe: " +
               Arm32SupportName(probe.support) + ": " + probe.detail);
  if (arch == "arm") {
    EXPECT_EQ(probe.support, Arm32Support::kNative);
    return;
  }
  if (arch == "arm64") {  // depends on the CPU and kernel: either answer, but an answer
    EXPECT_TRUE(probe.support == Arm32Support::kNative || probe.support == Arm32Support::kNotExecutable ||
                probe.support == Arm32Support::kEmulated);
    return;
  }
  // Not an arm machine: the program must never be native.
  EXPECT_NE(probe.support, Arm32Support::kNative);
  if (binfmt.visible && handlers.empty()) {
    EXPECT_EQ(probe.support, Arm32Support::kNotExecutable);
    EXPECT_EQ(run.exec_errno, ENOEXEC);
  } else if (!handlers.empty()) {
    const bool interpreter_reachable = handlers[0].flags.find('F') != std::string::npos ||
                                       std::filesystem::exists(handlers[0].interpreter);
    if (interpreter_reachable) {
      EXPECT_EQ(probe.support, Arm32Support::kEmulated);
      EXPECT_EQ(probe.machine.substr(0, 4), "armv");  // qemu-arm answers armv7l/armv6l/armv5tel
    }
  } else {
    // binfmt_misc is not mounted here, so a handler registered by the host would be
    // invisible: then only "emulated" (by something claiming to be an arm CPU) or "not
    // executable" are possible.
    EXPECT_TRUE(probe.support == Arm32Support::kNotExecutable ||
                (probe.support == Arm32Support::kEmulated && probe.machine.substr(0, 4) == "armv"));
  }
}

TEST(Arm32Probe, ZeroDeadlineKillsAndReapsWithoutClaimingSupport) {
  const Arm32ProbeRun run = RunArm32Probe(std::chrono::milliseconds(0));
  EXPECT_EQ(ClassifyArm32Probe(run, OwnMachine()).support, Arm32Support::kProbeFailed);
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "a child was left behind";
  EXPECT_EQ(errno, ECHILD);
}

TEST(Arm32Probe, Classification) {
  auto classify = [](Arm32ProbeRun run, const char* own = "aarch64") { return ClassifyArm32Probe(run, own); };
  Arm32ProbeRun native{.exit_code = 0, .output = std::string("aarch64\0\0\0\0\0\0\0\0\0", 16)};
  Arm32Probe p = classify(native);
  EXPECT_EQ(p.support, Arm32Support::kNative);
  EXPECT_EQ(p.machine, "aarch64");

  Arm32ProbeRun same_kernel{.exit_code = 0, .output = std::string("armv7l\0", 7)};
  EXPECT_EQ(classify(same_kernel, "armv7l").support, Arm32Support::kNative);  // a 32-bit kernel
  Arm32ProbeRun linux32{.exit_code = 0, .output = "armv8l"};
  EXPECT_EQ(classify(linux32, "armv8l").support, Arm32Support::kNative);  // PER_LINUX32 on arm64

  p = classify(same_kernel, "aarch64");  // qemu-arm on an arm64 host
  EXPECT_EQ(p.support, Arm32Support::kEmulated);
  EXPECT_NE(p.detail.find("armv7l"), std::string::npos);
  EXPECT_EQ(classify(same_kernel, "x86_64").support, Arm32Support::kEmulated);

  p = classify({.exec_errno = ENOEXEC});
  EXPECT_EQ(p.support, Arm32Support::kNotExecutable);
  EXPECT_NE(p.detail.find("exec format error"), std::string::npos);
  p = classify({.exec_errno = EACCES});
  EXPECT_EQ(p.support, Arm32Support::kProbeFailed);
  EXPECT_NE(p.detail.find("memfd_noexec"), std::string::npos);
  p = classify({.setup_error = "memfd_create: Function not implemented"});
  EXPECT_EQ(p.support, Arm32Support::kProbeFailed);
  EXPECT_NE(p.detail.find("memfd_create"), std::string::npos);
  EXPECT_EQ(classify({.timed_out = true}).support, Arm32Support::kProbeFailed);
  p = classify({.signal = SIGILL});
  EXPECT_EQ(p.support, Arm32Support::kProbeFailed);
  EXPECT_NE(p.detail.find("signal 4"), std::string::npos);
  EXPECT_EQ(classify({.exit_code = 2}).support, Arm32Support::kProbeFailed);
  EXPECT_EQ(classify({.exit_code = 0, .output = ""}).support, Arm32Support::kProbeFailed);
  EXPECT_EQ(classify({.exit_code = 0, .output = std::string("\0armv7l", 7)}).support, Arm32Support::kProbeFailed);
  EXPECT_STREQ(Arm32SupportName(Arm32Support::kNotExecutable), "not-executable");
}

}  // namespace
}  // namespace archway::nodeinfo
