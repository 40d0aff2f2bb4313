#include "tests/support/registry_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "base/encoding.h"
#include "tests/support/http_server.h"

extern char** environ;

namespace archway::testing {
namespace {

constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";
constexpr const char* kSyncPrefix = "/v2/archway-log-sync/manifests/";

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

}  // namespace

RegistryServer::RegistryServer(RegistryServerOptions options)
    : options_(std::move(options)), dir_("archway-registry") {
  storage_dir_ = dir_.File("storage");
  std::filesystem::create_directories(storage_dir_);
  std::string auth_section;
  if (options_.auth != RegistryAuth::kNone) {
    fixture_user_ = "archway-fixtures";
    fixture_password_ = RandomHex(12);
    std::map<std::string, std::string> users = options_.users;
    users[fixture_user_] = fixture_password_;
    if (options_.auth == RegistryAuth::kHtpasswd) {
      std::string htpasswd;
      for (const auto& [user, password] : users) {
        // Cost 4 (the minimum) keeps each authenticated request cheap.
        CommandResult r = RunCommand({"htpasswd", "-Bbn", "-C", "4", user, password}, std::chrono::seconds(20));
        if (r.exit_code != 0) throw std::runtime_error("htpasswd failed: " + r.output);
        htpasswd += r.output.substr(0, r.output.find('\n')) + "\n";
      }
      WriteFile(dir_.File("htpasswd"), htpasswd);
      auth_section = "auth:\n  htpasswd:\n    realm: archway-test\n    path: " + dir_.File("htpasswd") + "\n";
    } else {
      std::vector<TokenGrant> grants = options_.grants;
      grants.push_back(TokenGrant{fixture_user_, "*", {"*"}});
      token_server_ = std::make_unique<TokenServer>(users, grants, options_.token_expires_in_seconds);
      WriteFile(dir_.File("root.pem"), TokenServer::CertificatePem());
      auth_section = std::string("auth:\n  token:\n") + "    realm: " + token_server_->realm() + "\n" +
                     "    service: " + TokenServer::kService + "\n" + "    issuer: " + TokenServer::kIssuer + "\n" +
                     "    rootcertbundle: " + dir_.File("root.pem") + "\n";
    }
  }
  std::string tls_section;
  if (options_.tls) {
    std::string names = "IP:127.0.0.1";
    for (const auto& name : options_.tls_names) names += ",DNS:" + name;
    CommandResult r = RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                                  "/CN=127.0.0.1", "-addext", "subjectAltName=" + names, "-keyout",
                                  dir_.File("tls.key"), "-out", dir_.File("tls.crt")},
                                 std::chrono::seconds(30));
    if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.output);
    tls_section = "  tls:\n    certificate: " + dir_.File("tls.crt") + "\n    key: " + dir_.File("tls.key") + "\n";
  }
  std::string failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    std::string config = std::string("version: 0.1\n") +
                         "log:\n  level: error\n  formatter: json\n" +
                         "storage:\n  filesystem:\n    rootdirectory: " + storage_dir_ + "\n" +
                         "  delete:\n    enabled: true\n" +
                         "  maintenance:\n    uploadpurging:\n      enabled: false\n" +
                         "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n  secret: " + RandomHex(16) + "\n" +
                         tls_section + auth_section;
    WriteFile(dir_.File("config.yml"), config);
    if (StartOnce(&failure)) return;
  }
  throw std::runtime_error("docker-registry did not start: " + failure);
}

RegistryServer::~RegistryServer() { Stop(); }

bool RegistryServer::StartOnce(std::string* failure) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  std::string err_path = dir_.File("registry.stderr");
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string config = dir_.File("config.yml");
  std::vector<char*> args = {const_cast<char*>(kRegistryBinary), const_cast<char*>("serve"), config.data(), nullptr};
  int rc = posix_spawn(&pid_, kRegistryBinary, &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    throw std::runtime_error(std::string("cannot run ") + kRegistryBinary);
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadAccessLog(fd); });

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      reader_.join();
      *failure = ReadFile(err_path);
      return false;
    }
    try {
      // Over TLS the plain probe still gets an answer (400), which shows the port is served.
      HttpCall(host(), "GET", "/v2/");
      if (!options_.tls) ResetRequests();
      return true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  *failure = "not ready within 15 s: " + ReadFile(err_path);
  Stop();
  return false;
}

void RegistryServer::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }
  if (reader_.joinable()) reader_.join();
}

void RegistryServer::ReadAccessLog(int fd) {
  // Combined log format: 127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"
  static const std::regex kLine(R"re(^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) )re");
  std::string pending;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      std::smatch m;
      if (!std::regex_search(line, m, kLine)) continue;
      LoggedRequest r;
      r.method = m[1];
      r.target = m[2];
      r.path = r.target.substr(0, r.target.find('?'));
      r.status = std::stoi(m[3]);
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(std::move(r));
      logged_.notify_all();
    }
  }
  close(fd);
}

void RegistryServer::SyncLog() {
  if (options_.tls) throw std::runtime_error("RegistryServer: request counting needs a plain-HTTP registry");
  std::string marker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    marker = kSyncPrefix + std::string("s") + std::to_string(++sync_serial_);
  }
  HttpCall(host(), "GET", marker);
  std::unique_lock<std::mutex> lock(mu_);
  bool seen = logged_.wait_for(lock, std::chrono::seconds(10), [&] {
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
      if (it->path == marker) return true;
    }
    return false;
  });
  if (!seen) throw std::runtime_error("registry access log did not show the sync marker " + marker);
}

std::vector<LoggedRequest> RegistryServer::Requests() {
  SyncLog();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LoggedRequest> out;
  for (const auto& r : requests_) {
    if (r.path.rfind(kSyncPrefix, 0) != 0) out.push_back(r);
  }
  return out;
}

int RegistryServer::CountRequests(const std::string& method, const std::string& path_regex) {
  std::regex re(path_regex);
  int count = 0;
  for (const auto& r : Requests()) {
    if ((method.empty() || r.method == method) && std::regex_match(r.path, re)) ++count;
  }
  return count;
}

void RegistryServer::ResetRequests() {
  SyncLog();
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
}

std::string RegistryServer::DescribeRequests() {
  std::ostringstream out;
  for (const auto& r : Requests()) out << r.method << " " << r.target << " -> " << r.status << "\n";
  return out.str();
}

std::string RegistryServer::FixtureAuthorization(const std::string& scope) const {
  switch (options_.auth) {
    case RegistryAuth::kNone:
      return "";
    case RegistryAuth::kHtpasswd:
      return "Basic " + Base64Encode(fixture_user_ + ":" + fixture_password_);
    case RegistryAuth::kToken:
      return "Bearer " + token_server_->Mint(fixture_user_, scope);
  }
  return "";
}

}  // namespace archway::testing
