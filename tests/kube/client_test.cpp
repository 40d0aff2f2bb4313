// The HTTP client against the fake API server: CRUD, typed errors with the API's own
// messages, status subresource, patches, selectors, paging, retries, rate limiting.
#include <atomic>
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "kube/client.h"
#include "kube/resource.h"
#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

using testing::FakeApiTest;
using testing::TestJson;
namespace r = resources;

// Pull-secret types carry their key holding JSON ("{}"), as the real apiserver requires.
Json Secret(const std::string& ns, const std::string& name, const std::string& type = "Opaque",
            Json labels = Json::object()) {
  Json secret = {{"apiVersion", "v1"}, {"kind", "Secret"},
                 {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                 {"type", type}, {"data", {{"k", "dg=="}}}};
  if (type == "kubernetes.io/dockerconfigjson") secret["data"][".dockerconfigjson"] = "e30=";
  if (type == "kubernetes.io/dockercfg") secret["data"][".dockercfg"] = "e30=";
  return secret;
}

Json Node(const std::string& name, const std::string& arch) {
  return {{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/arch", arch}, {"kubernetes.io/os", "linux"}}}}},
          {"spec", Json::object()}};
}

using ClientTest = FakeApiTest;

TEST_F(ClientTest, CreateGetUpdateDeleteSecretLikeTheRealApi) {
  auto created = client().Create(r::kSecrets, "samples", TestJson("requests/secret-regcred.json"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const Json sample = TestJson("secret-dockerconfigjson.json");
  EXPECT_EQ((*created)["data"], sample["data"]);
  EXPECT_EQ((*created)["type"], sample["type"]);
  EXPECT_EQ((*created)["kind"], "Secret");
  const Json& m = (*created)["metadata"];
  EXPECT_EQ(m["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(m["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(m["creationTimestamp"].get<std::string>().size(), 20u);  // RFC 3339 to the second
  EXPECT_FALSE(m.contains("generation"));                             // secrets have none

  auto got = client().Get(r::kSecrets, "samples", "regcred");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *created);

  Json changed = *got;
  changed["metadata"]["labels"] = {{"team", "ci"}};
  auto updated = client().Update(r::kSecrets, "samples", changed);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_GT(std::stoll((*updated)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(m["resourceVersion"].get<std::string>()));
  EXPECT_EQ((*updated)["metadata"]["uid"], m["uid"]);

  auto deleted = client().Delete(r::kSecrets, "samples", "regcred");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ((*deleted)["kind"], "Status");
  EXPECT_EQ((*deleted)["status"], "Success");
  auto gone = client().Get(r::kSecrets, "samples", "regcred");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(ClientTest, ErrorsCarryTheApiStatusMessageAndReason) {
  auto missing = client().Get(r::kSecrets, "samples", "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(IsNotFound(missing.error()));
  EXPECT_NE(missing.error().message.find(TestJson("status-404-secret-notfound.json")["message"].get<std::string>()),
            std::string::npos) << missing.error().message;
  EXPECT_EQ(missing.error().reason, "NotFound");

  ASSERT_TRUE(client().Create(r::kSecrets, "samples", TestJson("requests/secret-regcred.json")).ok());
  auto again = client().Create(r::kSecrets, "samples", TestJson("requests/secret-regcred.json"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(IsAlreadyExists(again.error()));
  EXPECT_FALSE(IsConflict(again.error()));
  EXPECT_NE(again.error().message.find(TestJson("status-409-alreadyexists.json")["message"].get<std::string>()),
            std::string::npos);

  auto invalid = client().Create(r::kPods, "samples", TestJson("requests/pod-nocontainers.json"));
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(invalid.error().message.find(TestJson("status-422-pod-no-containers.json")["message"].get<std::string>()),
            std::string::npos) << invalid.error().message;

  auto bad_mai = client().Create(testing::kMultiArchImages, "samples", TestJson("requests/mai-bad2.json"));
  ASSERT_FALSE(bad_mai.ok());
  EXPECT_NE(bad_mai.error().message.find(TestJson("status-422-mai-bad-platform.json")["message"].get<std::string>()),
            std::string::npos) << bad_mai.error().message;

  Json no_name = Secret("samples", "");
  no_name["metadata"].erase("name");
  auto unnamed = client().Create(r::kSecrets, "samples", no_name);
  ASSERT_FALSE(unnamed.ok());
  EXPECT_EQ(unnamed.error().reason, "Invalid");
}

TEST_F(ClientTest, AnObjectThatIsNotUtf8IsAnErrorNotAnException) {
  // A message cut inside "é": nlohmann refuses to serialise it (type_error 316).
  Json secret = Secret("samples", "cut");
  secret["metadata"]["annotations"] = {{"note", std::string("caf\xC3")}};
  ASSERT_TRUE(client().Create(r::kSecrets, "samples", Secret("samples", "cut")).ok());
  server().ResetCounts();
  Result<Json> created = Error(ErrorCode::kInternal, "not called");
  ASSERT_NO_THROW(created = client().Create(r::kSecrets, "samples", secret));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(created.error().message.find("create secrets samples/cut: the object cannot be sent as JSON"),
            std::string::npos) << created.error().message;
  Result<Json> updated = Error(ErrorCode::kInternal, "not called");
  ASSERT_NO_THROW(updated = client().UpdateStatus(r::kSecrets, "samples", secret));
  EXPECT_FALSE(updated.ok());
  Result<Json> patched = Error(ErrorCode::kInternal, "not called");
  ASSERT_NO_THROW(patched = client().Patch(r::kSecrets, "samples", "cut", PatchType::kMerge, secret));
  EXPECT_FALSE(patched.ok());
  EXPECT_EQ(server().WriteCount(), 0);  // nothing reached the API
}

TEST_F(ClientTest, StaleUpdateGetsConflictWithTheRealMessage) {
  auto created = client().Create(r::kSecrets, "samples", TestJson("requests/secret-regcred.json"));
  ASSERT_TRUE(created.ok());
  auto patched = client().Patch(r::kSecrets, "samples", "regcred", PatchType::kMerge,
                                {{"metadata", {{"labels", {{"a", "b"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  auto stale = client().Update(r::kSecrets, "samples", *created);  // carries the old resourceVersion
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(IsConflict(stale.error()));
  EXPECT_NE(stale.error().message.find(
                TestJson("status-409-conflict-stale-resourceversion.json")["message"].get<std::string>()),
            std::string::npos) << stale.error().message;
}

TEST_F(ClientTest, RetryOnConflictRereadsAndSucceeds) {
  ASSERT_TRUE(client().Create(r::kSecrets, "samples", Secret("samples", "counter")).ok());
  // Two writers each add 10 to a counter label through get-modify-update; every update
  // must survive, so conflicts have to be retried with a fresh read.
  std::atomic<int> failures{0};
  auto writer = [&] {
    for (int i = 0; i < 10; ++i) {
      Status s = RetryOnConflict([&]() -> Status {
        auto got = client().Get(r::kSecrets, "samples", "counter");
        if (!got.ok()) return got.error();
        Json obj = *got;
        int n = obj["metadata"]["labels"].contains("n") ? std::stoi(obj["metadata"]["labels"]["n"].get<std::string>()) : 0;
        obj["metadata"]["labels"]["n"] = std::to_string(n + 1);
        auto put = client().Update(r::kSecrets, "samples", obj);
        if (!put.ok()) return put.error();
        return Status::Ok();
      }, 100);
      if (!s.ok()) ++failures;
    }
  };
  std::thread a(writer), b(writer);
  a.join();
  b.join();
  EXPECT_EQ(failures, 0);
  auto final_obj = client().Get(r::kSecrets, "samples", "counter");
  ASSERT_TRUE(final_obj.ok());
  EXPECT_EQ((*final_obj)["metadata"]["labels"]["n"], "20");
  EXPECT_GE(server().RequestCount("update"), 20);
}

TEST_F(ClientTest, StatusSubresourceAndGeneration) {
  auto created = client().Create(testing::kMultiArchImages, "samples", TestJson("requests/mai-web.json"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
  EXPECT_EQ((*created)["spec"]["format"], "oci");  // the CRD's schema default
  EXPECT_FALSE(created->contains("status"));

  // Status through the main resource is ignored; a spec change bumps generation.
  Json obj = *created;
  obj["status"] = {{"phase", "Ready"}};
  obj["spec"]["platforms"].push_back("linux/arm/v7");
  auto updated = client().Update(testing::kMultiArchImages, "samples", obj);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);
  EXPECT_FALSE(updated->contains("status"));

  // /status writes status only: spec changes in the body are ignored, generation stays.
  Json status_obj = *updated;
  status_obj["status"] = {{"phase", "Building"}, {"observedGeneration", 2}};
  status_obj["spec"]["image"] = "changed/by:status";
  auto with_status = client().UpdateStatus(testing::kMultiArchImages, "samples", status_obj);
  ASSERT_TRUE(with_status.ok()) << with_status.error().message;
  EXPECT_EQ((*with_status)["status"]["phase"], "Building");
  EXPECT_EQ((*with_status)["spec"]["image"], "registry.lan:5000/web:1.4");
  EXPECT_EQ((*with_status)["metadata"]["generation"], 2);

  // Metadata-only change: no generation bump. A no-op update stores nothing.
  Json labelled = *with_status;
  labelled["metadata"]["labels"]["x"] = "y";
  auto relabelled = client().Update(testing::kMultiArchImages, "samples", labelled);
  ASSERT_TRUE(relabelled.ok());
  EXPECT_EQ((*relabelled)["metadata"]["generation"], 2);
  int64_t rv_before = server().CurrentResourceVersion();
  auto same = client().Update(testing::kMultiArchImages, "samples", *relabelled);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(server().CurrentResourceVersion(), rv_before);

  // Status patch (merge) on /status.
  auto patched = client().Patch(testing::kMultiArchImages, "samples", "web", PatchType::kMerge,
                                {{"status", {{"phase", "Ready"}}}}, "status");
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_EQ((*patched)["status"]["phase"], "Ready");
  EXPECT_EQ((*patched)["status"]["observedGeneration"], 2);

  // Custom resources need a resourceVersion on update.
  Json no_rv = *patched;
  no_rv["metadata"].erase("resourceVersion");
  auto refused = client().Update(testing::kMultiArchImages, "samples", no_rv);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, JsonPatchAppliesAndFailsCleanly) {
  ASSERT_TRUE(client().Create(r::kNodes, "", Node("pi-01", "arm64")).ok());
  auto patched = client().Patch(r::kNodes, "", "pi-01", PatchType::kJson,
                                Json::array({{{"op", "add"}, {"path", "/metadata/labels/archway.dev~1builder"}, {"value", "true"}}}));
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_EQ((*patched)["metadata"]["labels"]["archway.dev/builder"], "true");
  auto failed = client().Patch(r::kNodes, "", "pi-01", PatchType::kJson,
                               Json::array({{{"op", "replace"}, {"path", "/spec/doesNotExist/x"}, {"value", 1}}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, DeleteAnswersStatusForCustomResourcesAndObjectForPods) {
  auto mai = client().Create(testing::kMultiArchImages, "samples", TestJson("requests/mai-web.json"));
  ASSERT_TRUE(mai.ok());
  auto deleted = client().Delete(testing::kMultiArchImages, "samples", "web");
  ASSERT_TRUE(deleted.ok());
  Json expected = TestJson("mai-delete-response.json");
  expected["details"]["name"] = "web";
  expected["details"]["uid"] = (*mai)["metadata"]["uid"];
  EXPECT_EQ(*deleted, expected);

  Json pod = {{"metadata", {{"name", "web"}}}, {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}};
  ASSERT_TRUE(client().Create(r::kPods, "samples", pod).ok());
  auto pod_deleted = client().Delete(r::kPods, "samples", "web");
  ASSERT_TRUE(pod_deleted.ok());
  EXPECT_EQ((*pod_deleted)["kind"], "Pod");
  EXPECT_TRUE((*pod_deleted)["metadata"].contains("deletionTimestamp"));
}

TEST_F(ClientTest, DeletingAnOwnerDeletesWhatItOwns) {
  auto mai = client().Create(testing::kMultiArchImages, "samples", TestJson("requests/mai-web.json"));
  ASSERT_TRUE(mai.ok());
  Json job = TestJson("requests/job.json");
  job["metadata"]["ownerReferences"][0]["uid"] = (*mai)["metadata"]["uid"];
  auto created = client().Create(r::kJobs, "samples", job);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ((*created)["metadata"]["ownerReferences"], job["metadata"]["ownerReferences"]);
  EXPECT_EQ((*created)["spec"]["completionMode"], "NonIndexed");
  EXPECT_EQ((*created)["status"], Json::object());
  Json unrelated = TestJson("requests/job.json");
  unrelated["metadata"]["name"] = "unrelated";
  unrelated["metadata"].erase("ownerReferences");
  ASSERT_TRUE(client().Create(r::kJobs, "samples", unrelated).ok());

  ASSERT_TRUE(client().Delete(testing::kMultiArchImages, "samples", "web").ok());
  EXPECT_TRUE(IsNotFound(client().Get(r::kJobs, "samples", job["metadata"]["name"]).error()));
  EXPECT_TRUE(client().Get(r::kJobs, "samples", "unrelated").ok());
}

TEST_F(ClientTest, LabelAndFieldSelectors) {
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "pull", "kubernetes.io/dockerconfigjson", {{"app", "web"}})).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "old", "kubernetes.io/dockercfg", {{"app", "db"}})).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "b", Secret("b", "tls", "kubernetes.io/tls", {{"app", "web"}})).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "b", Secret("b", "pull", "kubernetes.io/dockerconfigjson")).ok());

  auto names = [&](const std::string& ns, ListOptions options) {
    std::vector<std::string> out;
    auto listed = client().List(r::kSecrets, ns, options);
    EXPECT_TRUE(listed.ok()) << (listed.ok() ? "" : listed.error().message);
    if (listed.ok())
      for (const auto& item : listed->items) out.push_back(ObjectKey(item));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("", {.field_selector = "type=kubernetes.io/dockerconfigjson"}), (V{"a/pull", "b/pull"}));
  EXPECT_EQ(names("a", {.field_selector = "type=kubernetes.io/dockerconfigjson"}), (V{"a/pull"}));
  EXPECT_EQ(names("", {.label_selector = "app=web"}), (V{"a/pull", "b/tls"}));
  EXPECT_EQ(names("", {.label_selector = "app in (db,web),app!=web"}), (V{"a/old"}));
  EXPECT_EQ(names("", {.label_selector = "!app"}), (V{"b/pull"}));
  EXPECT_EQ(names("", {.field_selector = "metadata.name=pull,metadata.namespace!=a"}), (V{"b/pull"}));
  auto unsupported = client().List(r::kSecrets, "", {.field_selector = "spec.nothing=1"});
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.error().message.find("field label not supported: spec.nothing"), std::string::npos);
}

TEST_F(ClientTest, PaginationWithContinueTokensAndExpiry) {
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(client().Create(r::kNodes, "", Node("n" + std::to_string(i), "arm64")).ok());
  auto first = client().List(r::kNodes, "", {.limit = 3});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items.size(), 3u);
  EXPECT_EQ(first->remaining_item_count, 4);
  ASSERT_FALSE(first->continue_token.empty());
  EXPECT_FALSE(first->items[0].contains("kind"));  // built-in list items have no TypeMeta

  // A page after a write still shows the snapshot of the first page's RV.
  ASSERT_TRUE(client().Create(r::kNodes, "", Node("n9", "amd64")).ok());
  ASSERT_TRUE(client().Delete(r::kNodes, "", "n5").ok());
  auto second = client().List(r::kNodes, "", {.limit = 3, .continue_token = first->continue_token});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->resource_version, first->resource_version);
  std::vector<std::string> keys;
  for (const auto& item : second->items) keys.push_back(ObjectKey(item));
  EXPECT_EQ(keys, (std::vector<std::string>{"n3", "n4", "n5"}));

  // After compaction the token expires: 410 Expired with a fresh inconsistent token.
  server().Compact();
  auto expired = client().List(r::kNodes, "", {.limit = 3, .continue_token = second->continue_token});
  ASSERT_FALSE(expired.ok());
  EXPECT_TRUE(IsGone(expired.error()));
  EXPECT_EQ(expired.error().reason, "Expired");

  // ListAll restarts once and returns the current state, every page followed.
  auto all = ListAll(client(), r::kNodes, "", {.limit = 2});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 7u);
  EXPECT_EQ(all->resource_version, std::to_string(server().CurrentResourceVersion()));
}

TEST_F(ClientTest, RetriesServerErrorsAndHonoursRetryAfter) {
  ASSERT_TRUE(client().Create(r::kNodes, "", Node("pi-01", "arm64")).ok());
  server().FailNext("/api/v1/nodes/pi-01", 2, 500);
  server().ResetCounts();
  auto got = client().Get(r::kNodes, "", "pi-01");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(server().RequestCount("get"), 3);

  server().FailNext("/api/v1/nodes/pi-01", 1, 429, 1);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client().Get(r::kNodes, "", "pi-01").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));

  // Bounded: a persistent failure ends with the API's error after max_retries + 1 tries.
  server().ResetCounts();
  server().FailNext("/api/v1/nodes/pi-01", 100, 503);
  auto failed = client().Get(r::kNodes, "", "pi-01");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server().RequestCount("get"), testing::FastOptions().max_retries + 1);
}

TEST_F(ClientTest, PostIsNotRetriedOnServerErrorButIsOn429) {
  server().FailNext("/api/v1/namespaces/a/secrets", 1, 500, 0, "POST");
  auto failed = client().Create(r::kSecrets, "a", Secret("a", "s"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server().RequestCount("create"), 1);
  server().FailNext("/api/v1/namespaces/a/secrets", 1, 429, 0, "POST");
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s")).ok());
  EXPECT_EQ(server().RequestCount("create"), 3);
}

TEST_F(ClientTest, PatchIsNotRetriedOnServerErrorButIsOn429) {
  ASSERT_TRUE(client().Create(r::kNodes, "", Node("pi-01", "arm64")).ok());
  const Json add_label = Json::parse(R"([{"op":"add","path":"/metadata/labels/team","value":"edge"}])");
  server().ResetCounts();
  server().FailNext("/api/v1/nodes/pi-01", 1, 500, 0, "PATCH");
  auto failed = client().Patch(r::kNodes, "", "pi-01", PatchType::kJson, add_label);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server().RequestCount("patch"), 1);
  server().FailNext("/api/v1/nodes/pi-01", 1, 429, 0, "PATCH");
  ASSERT_TRUE(client().Patch(r::kNodes, "", "pi-01", PatchType::kJson, add_label).ok());
  EXPECT_EQ(server().RequestCount("patch"), 3);
}

TEST_F(ClientTest, NonJsonErrorBodiesGiveAClearError) {
  server().FailNextWithBody("/api/v1/nodes", 1, 404, "<html><body>404 page not found</body></html>");
  auto got = client().Get(r::kNodes, "", "x");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
  EXPECT_NE(got.error().message.find("unexpected response body: <html>"), std::string::npos) << got.error().message;

  server().FailNextWithBody("/api/v1/nodes", 1, 200, "{\"items\": [tru");
  auto listed = client().List(r::kNodes, "");
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, ErrorCode::kBadResponse);
}

TEST_F(ClientTest, UnknownResourceIs404) {
  ResourceRef widgets{"example.com", "v1", "widgets", "Widget", true};
  auto got = client().List(widgets, "a");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
}

TEST_F(ClientTest, ClientSideRateLimit) {
  ClientOptions options = testing::FastOptions();
  options.qps = 50;
  options.burst = 5;
  auto limited = NewHttpClient(server().ClusterConfig(), options);
  ASSERT_TRUE(limited.ok());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) (void)(*limited)->Get(r::kNodes, "", "none");
  // 5 free, 25 more at 50/s: at least ~0.5 s.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
}

TEST(ClientAuthTest, SendsTheTokenAndRereadsARotatedTokenFile) {
  fakeapi::FakeApiServer server({.required_token = "token-1"});
  ASSERT_TRUE(server.Start().ok());
  auto dir = std::filesystem::temp_directory_path() / ("kube-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& token) { std::ofstream(dir / "token") << token << "\n"; };
  write("token-1");
  ClusterConfig config = server.ClusterConfig();
  config.token = "";
  config.token_file = (dir / "token").string();
  auto client = NewHttpClient(config, testing::FastOptions());
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(IsNotFound((*client)->Get(resources::kNodes, "", "x").error()));
  write("token-2");  // rotated: the server only knows token-1, so now 401
  auto denied = (*client)->Get(resources::kNodes, "", "x");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kUnauthorized);
  auto requests = server.Requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests.back().authorization, "Bearer token-2");
  std::filesystem::remove_all(dir);
}

TEST(ClientConfigTest, RejectsBadServerUrlsAndTlsMaterial) {
  ClusterConfig config;
  config.server = "ftp://x";
  EXPECT_FALSE(NewHttpClient(config).ok());
  config.server = "https://127.0.0.1:6443";
  config.ca_pem = "not a certificate";
  auto bad_ca = NewHttpClient(config);
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.error().message.find("CA"), std::string::npos);
}

}  // namespace
}  // namespace archway::kube
