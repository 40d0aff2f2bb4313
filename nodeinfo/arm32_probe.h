// Does this kernel run 32-bit arm programs? Proven by running one rather than guessed
// from CPU names: a 156-byte static 32-bit ARM ELF, kept as bytes in arm32_probe.cpp,
// asks the kernel for uname(2) and writes the machine field to stdout. It is written to
// a sealed memfd and executed from there (execveat on the descriptor), so it needs no
// writable file system. Some arm64 CPUs have no 32-bit mode (Neoverse V2: AWS Graviton4,
// NVIDIA Grace), and arm64 kernels built without CONFIG_COMPAT cannot run 32-bit programs
// on CPUs that have it: both answer "exec format error".
//
// Cost: one memfd, one fork and one exec of a program that makes two system calls (well
// under a millisecond natively; tens of milliseconds when an emulator runs it).
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace archway::nodeinfo {

// The ELF bytes (for tests and binfmt_misc matching).
std::span<const unsigned char> Arm32ProbeElf();

// What happened when the program was run; no interpretation.
struct Arm32ProbeRun {
  std::string setup_error{};  // memfd/pipe/fork failed before any exec: what and why
  int exec_errno = 0;         // execveat failed with this errno (ENOEXEC: not runnable)
  bool timed_out = false;     // killed at the deadline
  int exit_code = -1;         // exit status when it exited
  int signal = 0;             // signal number when a signal ended it
  std::string output{};       // what it wrote to stdout (uname's machine field, NUL-padded)
};

// Runs the program in a child process, killing it after `timeout`. Blocks the caller.
Arm32ProbeRun RunArm32Probe(std::chrono::milliseconds timeout = std::chrono::seconds(3));

enum class Arm32Support {
  kNative,         // the kernel ran it itself
  kEmulated,       // it ran, but uname inside it is not this kernel's: an emulator (qemu-arm
                   // through binfmt_misc) ran it
  kNotExecutable,  // exec format error (ENOEXEC)
  kProbeFailed,    // anything else: set-up, exec refused (EACCES...), crash, timeout
};

const char* Arm32SupportName(Arm32Support support);  // "native", "emulated", ...

struct Arm32Probe {
  Arm32Support support = Arm32Support::kProbeFailed;
  std::string machine{};  // uname machine inside the program ("aarch64", "armv7l"), when it ran
  std::string detail{};   // one sentence for logs
};

// Interprets a run. `own_machine` is this process's `uname -m`. The program is native
// when its uname says "aarch64" (a 32-bit task on an arm64 kernel) or the same as ours;
// QEMU's user-mode emulator answers "armv7l" (or v6l/v5tel) on any host.
Arm32Probe ClassifyArm32Probe(const Arm32ProbeRun& run, std::string_view own_machine);

}  // namespace archway::nodeinfo
