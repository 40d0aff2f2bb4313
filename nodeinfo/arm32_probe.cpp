#include "nodeinfo/arm32_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3 (include/uapi/linux/memfd.h); older kernels say EINVAL
#endif

namespace archway::nodeinfo {
namespace {

// A complete static ELF32 executable for EM_ARM (EABI version 5, soft-float, ARM state,
// ARMv5TE instructions only, so any 32-bit arm CPU from v5 to v8 AArch32 runs it).
// One PT_LOAD maps the whole file read+execute at 0x10000; the entry point is the code
// right after the headers (0x10054).
//
// The code, assembled with Debian 12's binutils-arm-linux-gnueabihf 2.40
// (`arm-linux-gnueabihf-as -march=armv5te probe.S`, then `objdump -d`):
//    0: e24ddf62  sub   sp, sp, #392     @ struct new_utsname: 6 x 65 bytes, sp kept 8-aligned
//    4: e1a0000d  mov   r0, sp
//    8: e3a0707a  mov   r7, #122         @ __NR_uname (newuname) in the EABI
//    c: ef000000  svc   0
//   10: e3500000  cmp   r0, #0
//   14: 1a000008  bne   fail
//   18: e3a00001  mov   r0, #1           @ stdout
//   1c: e28d1f41  add   r1, sp, #260     @ utsname.machine: offset 4 x 65
//   20: e3a02010  mov   r2, #16
//   24: e3a07004  mov   r7, #4           @ __NR_write
//   28: ef000000  svc   0
//   2c: e3500010  cmp   r0, #16
//   30: 1a000001  bne   fail
//   34: e3a00000  mov   r0, #0
//   38: ea000000  b     exit
//   3c: e3a00002  fail: mov r0, #2
//   40: e3a07001  exit: mov r7, #1       @ __NR_exit
//   44: ef000000  svc   0
// The headers were written by a few lines of Python (struct.pack) around `objcopy -O
// binary -j .text` of that object. Checked with `arm-linux-gnueabihf-readelf -h -l`
// (ELF32, ARM, EXEC, entry 0x10054, Version5 EABI soft-float, LOAD 0x0 -> 0x10000 R E),
// and by running it: `qemu-arm ./probe` prints "armv7l" and exits 0 (with -cpu arm1176:
// "armv6l", -cpu arm926: "armv5tel"); on this x86_64 host `./probe` fails with "exec
// format error". sha256 of the 156 bytes: 1b8e5a5928b0a5c712a7df7ad03b02587e5aebe3293a2522b2a183f30c7fc103
// (tests/nodeinfo checks it, and the header fields, so an edit cannot go unnoticed).
constexpr std::array<unsigned char, 156> kProbeElf{
    // ELF header: \x7fELF, ELFCLASS32, little-endian, version 1, System V ABI
    0x7f, 0x45, 0x4c, 0x46, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00,              // e_type ET_EXEC
    0x28, 0x00,              // e_machine EM_ARM (40)
    0x01, 0x00, 0x00, 0x00,  // e_version
    0x54, 0x00, 0x01, 0x00,  // e_entry 0x10054
    0x34, 0x00, 0x00, 0x00,  // e_phoff 52
    0x00, 0x00, 0x00, 0x00,  // e_shoff: no section headers
    0x00, 0x02, 0x00, 0x05,  // e_flags EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_SOFT (arm64's
                             // compat loader refuses an ELF without EABI flags)
    0x34, 0x00,              // e_ehsize 52
    0x20, 0x00,              // e_phentsize 32
    0x01, 0x00,              // e_phnum 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // e_shentsize, e_shnum, e_shstrndx
    // Program header: PT_LOAD, offset 0, vaddr = paddr = 0x10000, filesz = memsz = 156,
    // flags PF_R | PF_X, align 0x1000
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x9c, 0x00, 0x00, 0x00, 0x9c, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
    // Code (little-endian words of the listing above)
    0x62, 0xdf, 0x4d, 0xe2, 0x0d, 0x00, 0xa0, 0xe1, 0x7a, 0x70, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xef,
    0x00, 0x00, 0x50, 0xe3, 0x08, 0x00, 0x00, 0x1a, 0x01, 0x00, 0xa0, 0xe3, 0x41, 0x1f, 0x8d, 0xe2,
    0x10, 0x20, 0xa0, 0xe3, 0x04, 0x70, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xef, 0x10, 0x00, 0x50, 0xe3,
    0x01, 0x00, 0x00, 0x1a, 0x00, 0x00, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xea, 0x02, 0x00, 0xa0, 0xe3,
    0x01, 0x70, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xef,
};

std::string Errno(const char* what, int error) { return std::string(what) + ": " + std::strerror(error); }

// Closes the descriptors it holds.
struct Fds {
  int memfd = -1;
  int out[2] = {-1, -1};
  int status[2] = {-1, -1};  // the child reports a failed exec's errno here
  ~Fds() {
    for (int fd : {memfd, out[0], out[1], status[0], status[1]}) {
      if (fd >= 0) close(fd);
    }
  }
};

int CreateProbeMemfd(std::string& error) {
  int fd = static_cast<int>(syscall(SYS_memfd_create, "archway-arm32-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (fd < 0 && errno == EINVAL) {
    fd = static_cast<int>(syscall(SYS_memfd_create, "archway-arm32-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  }
  if (fd < 0) {
    error = Errno("memfd_create", errno);
    return -1;
  }
  size_t written = 0;
  while (written < kProbeElf.size()) {
    ssize_t n = write(fd, kProbeElf.data() + written, kProbeElf.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = Errno("writing the probe to its memfd", errno);
      close(fd);
      return -1;
    }
    written += static_cast<size_t>(n);
  }
  // Sealed: nothing (not even this process) can change what is executed.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    error = Errno("sealing the probe memfd", errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::span<const unsigned char> Arm32ProbeElf() { return {kProbeElf.data(), kProbeElf.size()}; }

Arm32ProbeRun RunArm32Probe(std::chrono::milliseconds timeout) {
  Arm32ProbeRun run;
  Fds fds;
  fds.memfd = CreateProbeMemfd(run.setup_error);
  if (fds.memfd < 0) return run;
  if (pipe2(fds.out, O_CLOEXEC) != 0 || pipe2(fds.status, O_CLOEXEC) != 0) {
    run.setup_error = Errno("pipe2", errno);
    return run;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    run.setup_error = Errno("fork", errno);
    return run;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    if (dup2(fds.out[1], STDOUT_FILENO) < 0) _exit(126);
    char arg0[] = "archway-arm32-probe";
    char* argv[] = {arg0, nullptr};
    char* envp[] = {nullptr};
    char empty[] = "";
    syscall(SYS_execveat, fds.memfd, empty, argv, envp, AT_EMPTY_PATH);
    int error = errno;
    ssize_t ignored = write(fds.status[1], &error, sizeof(error));
    (void)ignored;
    _exit(127);
  }
  close(fds.out[1]);
  fds.out[1] = -1;
  close(fds.status[1]);
  fds.status[1] = -1;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining_ms = [&]() -> int {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
  };
  // The status pipe reaches EOF at a successful exec (close-on-exec) or at the child's exit.
  int exec_error = 0;
  size_t got = 0;
  bool status_open = true, out_open = true;
  while ((status_open || out_open) && remaining_ms() > 0) {
    pollfd polls[2] = {{fds.status[0], static_cast<short>(status_open ? POLLIN : 0), 0},
                       {fds.out[0], static_cast<short>(out_open ? POLLIN : 0), 0}};
    int ready = poll(polls, 2, remaining_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    if (status_open && (polls[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(fds.status[0], reinterpret_cast<char*>(&exec_error) + got, sizeof(exec_error) - got);
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if (n == 0 || errno != EINTR) {
        status_open = false;
      }
    }
    if (out_open && (polls[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buffer[64];
      ssize_t n = read(fds.out[0], buffer, sizeof(buffer));
      if (n > 0) {
        if (run.output.size() < 256) run.output.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        out_open = false;
      }
    }
  }
  if (got == sizeof(exec_error)) run.exec_errno = exec_error;

  int wait_status = 0;
  pid_t reaped = 0;
  while ((reaped = waitpid(pid, &wait_status, WNOHANG)) == 0 && remaining_ms() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (reaped == 0) {
    run.timed_out = true;
    kill(pid, SIGKILL);
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    return run;
  }
  if (reaped < 0) {
    run.setup_error = Errno("waitpid", errno);
    return run;
  }
  if (WIFEXITED(wait_status)) run.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) run.signal = WTERMSIG(wait_status);
  return run;
}

const char* Arm32SupportName(Arm32Support support) {
  switch (support) {
    case Arm32Support::kNative: return "native";
    case Arm32Support::kEmulated: return "emulated";
    case Arm32Support::kNotExecutable: return "not-executable";
    case Arm32Support::kProbeFailed: break;
  }
  return "probe-failed";
}

Arm32Probe ClassifyArm32Probe(const Arm32ProbeRun& run, std::string_view own_machine) {
  Arm32Probe probe;
  if (!run.setup_error.empty()) {
    probe.detail = "the 32-bit arm probe could not be set up: " + run.setup_error;
    return probe;
  }
  if (run.exec_errno == ENOEXEC) {
    probe.support = Arm32Support::kNotExecutable;
    probe.detail = "exec format error: this kernel does not run 32-bit arm programs (a CPU without "
                   "AArch32 at EL0, or a kernel without CONFIG_COMPAT)";
    return probe;
  }
  if (run.exec_errno != 0) {
    probe.detail = Errno("executing the 32-bit arm probe from its memfd", run.exec_errno) +
                   (run.exec_errno == EACCES ? " (memfd execution refused: vm.memfd_noexec or a security policy)" : "");
    return probe;
  }
  if (run.timed_out) {
    probe.detail = "the 32-bit arm probe did not finish before its deadline and was killed";
    return probe;
  }
  if (run.signal != 0) {
    probe.detail = "the 32-bit arm probe was killed by signal " + std::to_string(run.signal) + " (" +
                   strsignal(run.signal) + ")";
    return probe;
  }
  if (run.exit_code != 0) {
    probe.detail = "the 32-bit arm probe exited with status " + std::to_string(run.exit_code);
    return probe;
  }
  probe.machine = run.output.substr(0, run.output.find('\0'));
  if (probe.machine.empty()) {
    probe.detail = "the 32-bit arm probe exited 0 but wrote no machine name";
    return probe;
  }
  if (probe.machine == "aarch64" || probe.machine == own_machine) {
    probe.support = Arm32Support::kNative;
    probe.detail = "a 32-bit arm program ran natively (uname inside it: " + probe.machine + ")";
  } else {
    probe.support = Arm32Support::kEmulated;
    probe.detail = "a 32-bit arm program ran, but uname inside it says " + probe.machine + " where this kernel says " +
                   std::string(own_machine) + ": an emulator (a binfmt_misc handler such as qemu-arm) ran it";
  }
  return probe;
}

}  // namespace archway::nodeinfo
