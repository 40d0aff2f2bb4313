// A real Docker Distribution registry (Debian's /usr/bin/docker-registry) for a test.
//
//   #include "tests/support/registry_server.h"
//   using namespace archway::testing;
//
//   RegistryServer plain;                                   // plain HTTP, no auth
//   RegistryServer basic(RegistryServerOptions::Htpasswd({{"ci", "s3cret"}}));
//   RegistryServer token(RegistryServerOptions::Token({{"ci", "s3cret"}},
//                                                     {{"ci", "team/app", {"pull"}}}));  // ci may pull team/app only
//   token.token_server()->RequestCount()    token requests seen (token reuse)
//
//   plain.host()                    "127.0.0.1:PORT" — use as the reference domain
//   PushRaw(plain, "x/y", "v1", media_type, bytes)   hand-written manifests (fixtures.h)
//   BuildahImage(plain, "x/y:arm", "linux/arm/v7")   real images made by buildah (fixtures.h)
//   plain.ResetRequests();  ...exercise archway...
//   EXPECT_EQ(plain.CountRequests("GET", "/v2/x/y/manifests/.*"), 1);
//
// Requests are counted as the registry saw them: its access log (stdout) is parsed, and
// Requests() first waits until a marker request has been logged, so everything the test
// did before the call is included. Fixture pushes go through a built-in admin user
// (FixtureUser()) in the auth modes; call ResetRequests() after setting fixtures up.
// The destructor stops the registry and removes its storage.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/token_server.h"

namespace archway::testing {

enum class RegistryAuth { kNone, kHtpasswd, kToken };

struct RegistryServerOptions {
  RegistryAuth auth = RegistryAuth::kNone;
  std::map<std::string, std::string> users;  // name -> password (htpasswd and token modes)
  // Token mode: who may do what. htpasswd mode lets every valid user do everything.
  std::vector<TokenGrant> grants;
  int token_expires_in_seconds = 300;
  // Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (ca_file()). The
  // fixture helpers and request counting speak plain HTTP and are not available then.
  bool tls = false;
  // TLS mode: DNS names the certificate covers besides IP 127.0.0.1 (for a registry that a
  // test reaches by a name only its proxy resolves).
  std::vector<std::string> tls_names;

  static RegistryServerOptions Plain() { return {}; }
  static RegistryServerOptions Tls() {
    RegistryServerOptions o;
    o.tls = true;
    return o;
  }
  static RegistryServerOptions Htpasswd(std::map<std::string, std::string> users) {
    RegistryServerOptions o;
    o.auth = RegistryAuth::kHtpasswd;
    o.users = std::move(users);
    return o;
  }
  static RegistryServerOptions Token(std::map<std::string, std::string> users, std::vector<TokenGrant> grants,
                                     int expires_in_seconds = 300) {
    RegistryServerOptions o;
    o.auth = RegistryAuth::kToken;
    o.users = std::move(users);
    o.grants = std::move(grants);
    o.token_expires_in_seconds = expires_in_seconds;
    return o;
  }
};

struct LoggedRequest {
  std::string method;
  std::string path;    // without the query string
  std::string target;  // as requested, with the query string
  int status = 0;
};

class RegistryServer {
 public:
  explicit RegistryServer(RegistryServerOptions options = {});
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  RegistryAuth auth() const { return options_.auth; }
  const std::string& storage_dir() const { return storage_dir_; }
  // TLS mode: the PEM certificate that verifies this registry ("" otherwise).
  std::string ca_file() const { return options_.tls ? dir_.File("tls.crt") : ""; }
  // Token mode only (nullptr otherwise): its request count shows token reuse.
  TokenServer* token_server() { return token_server_.get(); }

  // The fixture admin (all rights) in the auth modes; ("", "") in plain mode.
  std::pair<std::string, std::string> FixtureUser() const { return {fixture_user_, fixture_password_}; }
  // Authorization header value for fixture requests with `scope` ("" in plain mode).
  std::string FixtureAuthorization(const std::string& scope) const;

  // Requests the registry has logged since the last reset, in order.
  std::vector<LoggedRequest> Requests();
  // Requests whose method equals `method` ("" = any) and whose path fully matches `path_regex`.
  int CountRequests(const std::string& method, const std::string& path_regex);
  void ResetRequests();
  // Human-readable list of logged requests (for assertion messages).
  std::string DescribeRequests();

 private:
  bool StartOnce(std::string* failure);
  void Stop();
  void ReadAccessLog(int fd);
  void SyncLog();

  RegistryServerOptions options_;
  TempDir dir_;
  std::string storage_dir_;
  std::string fixture_user_;
  std::string fixture_password_;
  std::unique_ptr<TokenServer> token_server_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread reader_;

  std::mutex mu_;
  std::condition_variable logged_;
  std::vector<LoggedRequest> requests_;
  int sync_serial_ = 0;
};

}  // namespace archway::testing
