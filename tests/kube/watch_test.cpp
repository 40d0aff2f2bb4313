// Watch streams and the informer against the fake API server, and the line decoder on
// real captured streams and broken input.
#include <memory_resource>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "kube/informer.h"
#include "kube/object.h"
#include "kube/typed_informer.h"
#include "kube/watch_decoder.h"
#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

using testing::FakeApiTest;
using testing::Testdata;
using testing::WaitFor;
namespace r = resources;

Json Secret(const std::string& ns, const std::string& name, const std::string& value = "v") {
  // The real apiserver requires a dockerconfigjson Secret's key, holding JSON ("{}").
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"type", "kubernetes.io/dockerconfigjson"},
          {"data", {{"k", value}, {".dockerconfigjson", "e30="}}}};
}

TEST(WatchDecoderTest, DecodesRealStreamsFedInArbitraryPieces) {
  for (const char* file : {"watch-pods.jsonl", "watch-mai.jsonl"}) {
    const std::string stream = Testdata(file);
    size_t lines = std::count(stream.begin(), stream.end(), '\n');
    for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, stream.size()}) {
      WatchDecoder decoder;
      std::vector<WatchEvent> events;
      for (size_t i = 0; i < stream.size(); i += piece) {
        Status s = decoder.Feed(std::string_view(stream).substr(i, piece), [&](const WatchEvent& e) {
          events.push_back(e);
          return true;
        });
        ASSERT_TRUE(s.ok()) << s.error().message;
      }
      EXPECT_TRUE(decoder.Finish().ok());
      EXPECT_EQ(events.size(), lines) << file;
    }
  }
}

TEST(WatchDecoderTest, ErrorLineBecomesGone) {
  WatchDecoder decoder;
  Status s = decoder.Feed(Testdata("watch-410-too-old-resourceversion.jsonl"), [](const WatchEvent&) { return true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kGone);
  EXPECT_NE(s.error().message.find("too old resource version: 1 (217)"), std::string::npos);
}

TEST(WatchDecoderTest, TruncatedAndGarbageLines) {
  WatchDecoder decoder;
  ASSERT_TRUE(decoder.Feed("{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n{\"type\":\"MODI",
                           [](const WatchEvent&) { return true; }).ok());
  Status truncated = decoder.Finish();
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, ErrorCode::kNetwork);

  for (const char* bad : {"not json\n", "{\"type\":\"ADDED\"}\n", "{\"type\":\"WEIRD\",\"object\":{}}\n", "[1,2]\n",
                          "{\"type\":\"ERROR\",\"object\":\"x\"}\n"}) {
    WatchDecoder d;
    EXPECT_FALSE(d.Feed(bad, [](const WatchEvent&) { return true; }).ok()) << bad;
  }
}

using WatchTest = FakeApiTest;

TEST_F(WatchTest, StreamsEventsFromAResourceVersion) {
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "before")).ok());
  auto listed = client().List(r::kSecrets, "a");
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> seen;
  std::mutex mu;
  std::jthread watcher([&](std::stop_token stop) {
    WatchOptions options{.resource_version = listed->resource_version, .timeout_seconds = 30};
    Status s = client().Watch(r::kSecrets, "a", options, [&](const WatchEvent& e) {
      std::lock_guard lock(mu);
      if (e.type != WatchEvent::Type::kBookmark)
        seen.push_back(std::string(WatchEventTypeName(e.type)) + " " + ObjectKey(e.object));
      return true;
    }, stop);
    EXPECT_TRUE(s.ok()) << s.error().message;
  });
  ASSERT_TRUE(WaitFor([&] { return server().OpenWatches() == 1; }));
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s1")).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "b", Secret("b", "other-ns")).ok());
  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "s1", PatchType::kMerge, {{"data", {{"k", "w"}}}}).ok());
  ASSERT_TRUE(client().Delete(r::kSecrets, "a", "s1").ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 3;
  }));
  watcher.request_stop();  // a clean, prompt stop of a blocked watch
  auto t0 = std::chrono::steady_clock::now();
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED a/s1", "MODIFIED a/s1", "DELETED a/s1"}));
}

TEST_F(WatchTest, BookmarksAndServerTimeout) {
  fakeapi::FakeApiOptions options;
  options.bookmark_interval = std::chrono::milliseconds(100);
  StartServer(options);
  int bookmarks = 0;
  std::string bookmark_rv;
  auto start = std::chrono::steady_clock::now();
  Status s = client().Watch(r::kNodes, "", {.resource_version = "0", .allow_bookmarks = true, .timeout_seconds = 1},
                            [&](const WatchEvent& e) {
                              if (e.type == WatchEvent::Type::kBookmark) {
                                ++bookmarks;
                                bookmark_rv = e.object["metadata"]["resourceVersion"];
                              }
                              return true;
                            }, std::stop_token());
  EXPECT_TRUE(s.ok()) << s.error().message;  // the server's timeout ends the stream cleanly
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_GE(bookmarks, 3);
  EXPECT_EQ(bookmark_rv, std::to_string(server().CurrentResourceVersion()));
}

TEST_F(WatchTest, CompactedResourceVersionGivesGoneOnAHttp200Stream) {
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s")).ok());
  auto listed = client().List(r::kSecrets, "a");
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "t")).ok());
  server().Compact();
  Status s = client().Watch(r::kSecrets, "a", {.resource_version = listed->resource_version},
                            [](const WatchEvent&) { return true; }, std::stop_token());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsGone(s.error()));
  EXPECT_EQ(s.error().reason, "Expired");
  EXPECT_NE(s.error().message.find("too old resource version: " + listed->resource_version), std::string::npos);
}

TEST_F(WatchTest, DroppedStreamIsAnError) {
  std::jthread dropper([&] {
    WaitFor([&] { return server().OpenWatches() == 1; });
    server().DropWatches();
  });
  Status s = client().Watch(r::kSecrets, "", {.resource_version = "0"}, [](const WatchEvent&) { return true; },
                            std::stop_token());
  dropper.join();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNetwork);
}

// Records what the handlers saw, to compare with the server's state.
struct Recorder {
  std::mutex mu;
  std::map<std::string, std::string> state;  // key -> data.k as the handlers reported it
  std::multiset<std::string> adds, deletes;
  std::vector<std::string> log;

  InformerHandlers Handlers() {
    return {
        .on_add = [this](const Json& o) {
          std::lock_guard lock(mu);
          adds.insert(ObjectKey(o));
          log.push_back("add " + ObjectKey(o));
          state[ObjectKey(o)] = o["data"].value("k", "");
        },
        .on_update = [this](const Json& old_obj, const Json& o) {
          std::lock_guard lock(mu);
          log.push_back("update " + ObjectKey(o) + " " + old_obj["data"].value("k", "") + "->" + o["data"].value("k", ""));
          state[ObjectKey(o)] = o["data"].value("k", "");
        },
        .on_delete = [this](const Json& o) {
          std::lock_guard lock(mu);
          deletes.insert(ObjectKey(o));
          log.push_back("delete " + ObjectKey(o));
          state.erase(ObjectKey(o));
        },
    };
  }
  std::map<std::string, std::string> State() {
    std::lock_guard lock(mu);
    return state;
  }
};

std::map<std::string, std::string> ServerState(fakeapi::FakeApiServer& server) {
  std::map<std::string, std::string> out;
  for (const auto& o : server.Objects(r::kSecrets))
    if (o["type"] == "kubernetes.io/dockerconfigjson") out[ObjectKey(o)] = o["data"].value("k", "");
  return out;
}

std::map<std::string, std::string> CacheState(const Informer& informer) {
  std::map<std::string, std::string> out;
  for (const auto& o : informer.List()) out[ObjectKey(o)] = o["data"].value("k", "");
  return out;
}

InformerOptions FastInformer() {
  InformerOptions options;
  options.field_selector = "type=kubernetes.io/dockerconfigjson";
  options.min_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(100);
  options.page_size = 2;
  return options;
}

using InformerTest = FakeApiTest;

TEST_F(InformerTest, SyncsAndFollowsChanges) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s" + std::to_string(i))).ok());
  Json opaque = Secret("a", "opaque");
  opaque["type"] = "Opaque";
  ASSERT_TRUE(client().Create(r::kSecrets, "a", opaque).ok());
  Recorder recorder;
  Informer informer(client(), r::kSecrets, FastInformer());
  informer.SetHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  EXPECT_EQ(informer.List().size(), 5u);  // the Opaque one is filtered out by the server
  auto cached = informer.Get("a", "s3");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ((*cached)["kind"], "Secret");  // TypeMeta filled in for list items
  EXPECT_FALSE(informer.Get("a", "opaque").has_value());

  ASSERT_TRUE(client().Create(r::kSecrets, "b", Secret("b", "new")).ok());
  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "s1", PatchType::kMerge, {{"data", {{"k", "changed"}}}}).ok());
  ASSERT_TRUE(client().Delete(r::kSecrets, "a", "s2").ok());
  // A secret whose type changes out of the selection is a delete for the informer.
  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "s4", PatchType::kMerge, {{"type", "Opaque"}}).ok());
  ASSERT_TRUE(WaitFor([&] { return recorder.State() == ServerState(server()); })) << ::testing::PrintToString(recorder.log);
  EXPECT_EQ(CacheState(informer), ServerState(server()));
  informer.Stop();
}

TEST_F(InformerTest, AHandlerThatThrowsDoesNotEndTheWatch) {
  std::atomic<int> adds{0}, updates{0};
  Informer informer(client(), r::kSecrets, FastInformer());
  informer.SetHandlers({.on_add =
                            [&](const Json& secret) {
                              ++adds;
                              // What a throwing accessor does on an object of an odd shape.
                              if (secret["metadata"]["name"] == "odd") (void)secret["type"].at("nested");
                            },
                        .on_update = [&](const Json&, const Json&) { ++updates; },
                        .on_delete = {}});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "odd")).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "fine")).ok());
  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "odd", PatchType::kMerge, {{"data", {{"k", "changed"}}}}).ok());
  ASSERT_TRUE(WaitFor([&] { return adds == 2 && updates == 1; })) << adds << " adds, " << updates << " updates";
  EXPECT_TRUE(informer.Get("a", "odd").has_value());
  EXPECT_TRUE(informer.Get("a", "fine").has_value());
  informer.Stop();
}

TEST_F(InformerTest, DroppedWatchResumesWithoutLosingOrRepeatingEvents) {
  Recorder recorder;
  Informer informer(client(), r::kSecrets, FastInformer());
  informer.SetHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 60; ++i) {
      EXPECT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s" + std::to_string(i))).ok());
      if (i % 3 == 0) {
        EXPECT_TRUE(client().Delete(r::kSecrets, "a", "s" + std::to_string(i)).ok());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    done = true;
  });
  int drops = 0;
  while (!done) {
    if (server().OpenWatches() > 0) {
      server().DropWatches();
      ++drops;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  writer.join();
  EXPECT_GE(drops, 3);
  ASSERT_TRUE(WaitFor([&] { return recorder.State() == ServerState(server()); }));
  std::lock_guard lock(recorder.mu);
  // Each secret added exactly once, each deleted one deleted exactly once: no re-list
  // (no 410 here), the watch resumed from the last resourceVersion each time.
  EXPECT_EQ(recorder.adds.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(recorder.adds.count("a/s" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(recorder.deletes.size(), 20u);
  EXPECT_EQ(informer.ListCount(), 1);
}

TEST_F(InformerTest, ExpiredResourceVersionRelistsAndEmitsTheDifference) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s" + std::to_string(i))).ok());
  Recorder recorder;
  Informer informer(client(), r::kSecrets, FastInformer());
  informer.SetHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(WaitFor([&] { return server().OpenWatches() == 1; }));
  // Cut the watch, change things behind the informer's back, and compact the history so
  // its resourceVersion is too old: it must re-list and reconcile.
  fakeapi::FakeApiServer& s = server();
  s.FailNext("/api/v1/secrets", 1000000, 500);  // hold reconnects off while we change state
  s.DropWatches();
  ASSERT_TRUE(s.Remove(r::kSecrets, "a", "s0"));
  Json changed = *s.Peek(r::kSecrets, "a", "s1");
  changed["data"]["k"] = "changed";
  s.Put(r::kSecrets, changed);
  s.Put(r::kSecrets, Secret("a", "s9"));
  s.Compact();
  s.Put(r::kSecrets, Secret("a", "s10"));
  s.ClearFaults();
  ASSERT_TRUE(WaitFor([&] { return recorder.State() == ServerState(server()); }, std::chrono::seconds(20)))
      << ::testing::PrintToString(recorder.log);
  EXPECT_EQ(CacheState(informer), ServerState(server()));
  EXPECT_GE(informer.ListCount(), 2);
  std::lock_guard lock(recorder.mu);
  EXPECT_EQ(recorder.deletes.count("a/s0"), 1u);
  EXPECT_EQ(recorder.adds.count("a/s9"), 1u);
  EXPECT_EQ(recorder.adds.count("a/s10"), 1u);
  EXPECT_EQ(recorder.adds.count("a/s2"), 1u);  // unchanged objects are not re-added
}

TEST_F(InformerTest, TransformDecidesWhatIsCachedAndHandedToHandlers) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s" + std::to_string(i))).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "odd")).ok());
  std::atomic<int> transformed{0};
  InformerOptions options = FastInformer();  // pages of 2: every page is transformed
  options.transform = [&](const Json& secret) {
    ++transformed;
    if (NameOf(secret) == "odd") throw std::runtime_error("a transform that trips on an object");
    const Json& md = secret["metadata"];
    return Json{{"metadata", {{"name", md["name"]}, {"namespace", md["namespace"]}, {"resourceVersion", md["resourceVersion"]}}},
                {"data", {{"k", secret["data"]["k"]}}}};
  };
  std::mutex mu;
  std::vector<Json> handed;
  Informer informer(client(), r::kSecrets, options);
  informer.SetHandlers({.on_add = [&](const Json& o) { std::lock_guard lock(mu); handed.push_back(o); },
                        .on_update = [&](const Json&, const Json& o) { std::lock_guard lock(mu); handed.push_back(o); },
                        .on_delete = [&](const Json& o) { std::lock_guard lock(mu); handed.push_back(o); }});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "s1", PatchType::kMerge, {{"data", {{"k", "changed"}}}}).ok());
  ASSERT_TRUE(client().Delete(r::kSecrets, "a", "s2").ok());
  ASSERT_TRUE(WaitFor([&] { std::lock_guard lock(mu); return handed.size() == 8; }));
  EXPECT_EQ(transformed, 8);
  EXPECT_EQ(CacheState(informer), ServerState(server()));
  for (const Json& o : informer.List()) {
    // Only what the transform kept; the object it threw on is kept whole.
    EXPECT_EQ(o.contains("type"), NameOf(o) == "odd") << o.dump();
    EXPECT_EQ(o["data"].contains(".dockerconfigjson"), NameOf(o) == "odd") << o.dump();
  }
  {
    std::lock_guard lock(mu);
    for (const Json& o : handed) EXPECT_EQ(o.contains("type"), NameOf(o) == "odd") << o.dump();
  }
  // A re-list compares the kept resourceVersions: unchanged objects are not handed out again.
  server().FailNext("/api/v1/secrets", 1000000, 500);  // hold reconnects off while history goes
  server().DropWatches();
  server().Put(r::kSecrets, Secret("a", "s9"));
  server().Compact();
  server().ClearFaults();
  ASSERT_TRUE(WaitFor([&] { return informer.ListCount() == 2; }));
  ASSERT_TRUE(WaitFor([&] { std::lock_guard lock(mu); return handed.size() == 9; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard lock(mu);
  EXPECT_EQ(handed.size(), 9u);
  EXPECT_EQ(NameOf(handed.back()), "s9");
  informer.Stop();
}

// What a TypedInformer keeps: a decoded value per object, whose std::pmr strings live in
// the cache's pool (its copies' do not), followed and re-listed as Informer's JSON is.
struct SecretValue {
  std::pmr::string ns, name, k, resource_version;
};

TEST_F(InformerTest, TypedInformerKeepsDecodedValuesInItsPool) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "s" + std::to_string(i))).ok());
  ASSERT_TRUE(client().Create(r::kSecrets, "a", Secret("a", "odd")).ok());
  std::pmr::memory_resource* pool = nullptr;
  InformerCodec<SecretValue> codec{
      .decode =
          [&](Json&& secret, std::pmr::memory_resource* memory) {
            pool = memory;
            if (NameOf(secret) == "odd") throw std::runtime_error("a decoder that trips on an object");
            auto text = [memory](const std::string& s) { return std::pmr::string(s, memory); };
            return SecretValue{text(NamespaceOf(secret)), text(NameOf(secret)),
                               text(StringAt(secret, {"data", "k"}).value_or("")),
                               text(StringAt(secret, {"metadata", "resourceVersion"}).value_or(""))};
          },
      .resource_version = [](const SecretValue& v) { return std::string(v.resource_version); }};
  std::mutex mu;
  std::vector<std::string> handed;  // "add a/s0 v"
  auto note = [&](const char* what, const SecretValue& v) {
    std::lock_guard lock(mu);
    handed.push_back(std::string(what) + " " + std::string(v.ns) + "/" + std::string(v.name) + " " + std::string(v.k));
  };
  TypedInformer<SecretValue> informer(client(), r::kSecrets, FastInformer(), codec);
  informer.SetHandlers({.on_add = [&](const SecretValue& v) { note("add", v); },
                        .on_update = [&](const SecretValue&, const SecretValue& v) { note("update", v); },
                        .on_delete = [&](const SecretValue& v) { note("delete", v); }});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  EXPECT_EQ(informer.Size(), 5u);  // the object the decoder threw on is skipped
  EXPECT_FALSE(informer.GetByKey("a/odd").has_value());
  ASSERT_NE(pool, nullptr);
  EXPECT_NE(pool, std::pmr::get_default_resource());
  EXPECT_EQ(informer.Read("a/s3", [](const SecretValue& v) { return v.k.get_allocator().resource(); }).value_or(nullptr),
            pool);
  const auto copy = informer.GetByKey("a/s3");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->k, "v");
  EXPECT_EQ(copy->k.get_allocator().resource(), std::pmr::get_default_resource());

  ASSERT_TRUE(client().Patch(r::kSecrets, "a", "s1", PatchType::kMerge, {{"data", {{"k", "Y2hhbmdlZA=="}}}}).ok());
  ASSERT_TRUE(client().Delete(r::kSecrets, "a", "s2").ok());
  ASSERT_TRUE(WaitFor([&] { std::lock_guard lock(mu); return handed.size() == 7; }));
  EXPECT_EQ(informer.Read("a/s1", [](const SecretValue& v) { return std::string(v.k); }).value_or(""), "Y2hhbmdlZA==");
  // A re-list compares the kept resourceVersions: only the difference is handed out.
  server().FailNext("/api/v1/secrets", 1000000, 500);
  server().DropWatches();
  server().Put(r::kSecrets, Secret("a", "s9"));
  ASSERT_TRUE(server().Remove(r::kSecrets, "a", "s0"));
  server().Compact();
  server().ClearFaults();
  ASSERT_TRUE(WaitFor([&] { return informer.ListCount() == 2; }));
  ASSERT_TRUE(WaitFor([&] { std::lock_guard lock(mu); return handed.size() == 9; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  informer.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(handed, (std::vector<std::string>{"add a/s0 v", "add a/s1 v", "add a/s2 v", "add a/s3 v", "add a/s4 v",
                                              "update a/s1 Y2hhbmdlZA==", "delete a/s2 v", "add a/s9 v",
                                              "delete a/s0 v"}));
  EXPECT_EQ(informer.Keys(), (std::vector<std::string>{"a/s1", "a/s3", "a/s4", "a/s9"}));
}

TEST_F(InformerTest, StopIsPromptAndSilent) {
  Informer informer(client(), r::kNodes, {});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(WaitFor([&] { return server().OpenWatches() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(WaitFor([&] { return server().OpenWatches() == 0; }));
}

}  // namespace
}  // namespace archway::kube
