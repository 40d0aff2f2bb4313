// API failures as Errors: the reason travels as a value, whatever the message says.
#include "kube/errors.h"

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

TEST(ErrorsTest, TheReasonIsAValueThatSurvivesWrapping) {
  Error exists = ErrorFromResponse(409, testing::Testdata("status-409-alreadyexists.json"), "create jobs team/web");
  EXPECT_EQ(exists.code, ErrorCode::kConflict);
  EXPECT_EQ(exists.reason, "AlreadyExists");
  EXPECT_TRUE(IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));
  Error wrapped = exists.Wrap("builder Job");
  EXPECT_TRUE(IsAlreadyExists(wrapped));
  EXPECT_EQ(wrapped.message.rfind("builder Job: create jobs team/web: ", 0), 0u) << wrapped.message;

  Error stale = ErrorFromResponse(409, testing::Testdata("status-409-conflict-stale-resourceversion.json"), "");
  EXPECT_TRUE(IsConflict(stale));
  EXPECT_FALSE(IsAlreadyExists(stale));
  EXPECT_NE(stale.message.find("(HTTP 409 Conflict)"), std::string::npos) << stale.message;  // for people
}

TEST(ErrorsTest, MessageTextDecidesNothing) {
  // An API message that happens to end like another reason's suffix.
  Json status = {{"kind", "Status"}, {"code", 409}, {"reason", "Conflict"},
                 {"message", "the object has been modified (HTTP 409 AlreadyExists)"}};
  Error e = ErrorFromResponse(409, status.dump(), "");
  EXPECT_TRUE(IsConflict(e));
  EXPECT_FALSE(IsAlreadyExists(e));
  EXPECT_FALSE(IsAlreadyExists(Error(ErrorCode::kConflict, "x (HTTP 409 AlreadyExists)")));
}

TEST(ErrorsTest, StatusesOfOddShapesDoNotThrow) {
  for (const char* body : {R"({"kind": 1, "reason": []})", R"({"kind": "Status", "reason": 5, "message": {}})",
                           R"([1, 2])", "<html>502</html>", ""}) {
    Error e = ErrorFromResponse(409, body, "ctx");
    EXPECT_EQ(e.code, ErrorCode::kConflict) << body;
    EXPECT_EQ(e.reason, "Conflict") << body;  // the HTTP status's default reason
  }
  Error watch = ErrorFromStatus(Json{{"code", "410"}, {"reason", 1}}, "watch");
  EXPECT_EQ(watch.reason, "");
  EXPECT_EQ(ErrorFromStatus(Json{{"code", 410}}, "watch").reason, "Expired");
}

}  // namespace
}  // namespace archway::kube
