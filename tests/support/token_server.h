// A Docker Distribution token server for tests (the `auth: token:` flow): answers
// GET /token?service=..&scope=repository:a:pull,push with a JWT (RS256, signed by a test
// key whose self-signed certificate is the registry's rootcertbundle). Access follows
// the grants given: "user ci may pull repo a but not repo b". Unknown users or wrong
// passwords get 401; anonymous requests get the grants of user "".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/http_server.h"

namespace archway::testing {

struct TokenGrant {
  std::string user;        // "" = anonymous
  std::string repository;  // exact name, or "*" for every repository
  std::vector<std::string> actions;  // "pull", "push", "delete", "*"
};

class TokenServer {
 public:
  static constexpr const char* kService = "archway-test-registry";
  static constexpr const char* kIssuer = "archway-test-token-issuer";

  // users: name -> password.
  TokenServer(std::map<std::string, std::string> users, std::vector<TokenGrant> grants, int expires_in_seconds = 300);

  std::string realm() const { return http_.url() + "/token"; }
  // PEM of the certificate the registry trusts (write it as rootcertbundle).
  static const std::string& CertificatePem();

  // Issues a token directly (fixtures), without an HTTP request.
  std::string Mint(const std::string& user, const std::string& scope) const;

  // Token requests received over HTTP.
  std::vector<HttpRecord> Requests() const { return http_.Requests(); }
  size_t RequestCount() const { return http_.Requests().size(); }
  void ResetRequests() { http_.ResetRequests(); }

 private:
  HttpReply Handle(const HttpRecord& request);
  std::vector<std::string> Allowed(const std::string& user, const std::string& repository,
                                   const std::vector<std::string>& wanted) const;

  std::map<std::string, std::string> users_;
  std::vector<TokenGrant> grants_;
  int expires_in_seconds_;
  LoopbackHttpServer http_;  // last: starts serving once the rest is set up
};

}  // namespace archway::testing
