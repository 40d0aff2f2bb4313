#include "kube/errors.h"

#include <cctype>

#include "kube/object.h"

namespace archway::kube {
namespace {

ErrorCode CodeFor(int http_status, const std::string& reason) {
  if (reason == "NotFound") return ErrorCode::kNotFound;
  if (reason == "Conflict" || reason == "AlreadyExists") return ErrorCode::kConflict;
  if (reason == "Expired" || reason == "Gone") return ErrorCode::kGone;
  if (reason == "Forbidden") return ErrorCode::kForbidden;
  if (reason == "Unauthorized") return ErrorCode::kUnauthorized;
  if (reason == "Invalid" || reason == "BadRequest") return ErrorCode::kInvalidArgument;
  if (reason == "TooManyRequests") return ErrorCode::kRateLimited;
  if (reason == "Timeout") return ErrorCode::kTimeout;
  switch (http_status) {
    case 400: case 422: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthorized;
    case 403: return ErrorCode::kForbidden;
    case 404: return ErrorCode::kNotFound;
    case 409: return ErrorCode::kConflict;
    case 410: return ErrorCode::kGone;
    case 429: return ErrorCode::kRateLimited;
    case 504: return ErrorCode::kTimeout;
    default: break;
  }
  if (http_status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kBadResponse;
}

std::string DefaultReason(int http_status) {
  switch (http_status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

// A printable, bounded excerpt of a body that is not a Status.
std::string Excerpt(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 200)) out += std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
  if (body.size() > 200) out += "...";
  return out;
}

Error Make(int code, const std::string& reason, const std::string& message, const std::string& context) {
  std::string text = message.empty() ? "request failed" : message;
  text += " (HTTP " + std::to_string(code);
  if (!reason.empty()) text += " " + reason;
  text += ")";
  Error error(CodeFor(code, reason), text, reason);
  return context.empty() ? error : error.Wrap(context);
}

}  // namespace

Error ErrorFromStatus(const nlohmann::json& status, const std::string& context) {
  const int code = static_cast<int>(IntAt(status, {"code"}).value_or(0));
  std::string reason = StringAt(status, {"reason"}).value_or("");
  std::string message = StringAt(status, {"message"}).value_or("");
  if (reason.empty()) reason = DefaultReason(code);
  if (message.empty() && !status.is_object()) message = "malformed Status: " + Excerpt(status.dump());
  return Make(code, reason, message, context);
}

Error ErrorFromResponse(int http_status, const std::string& body, const std::string& context) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (StringAt(parsed, {"kind"}) == "Status") {
    std::string reason = StringAt(parsed, {"reason"}).value_or("");
    if (reason.empty()) reason = DefaultReason(http_status);
    return Make(http_status, reason, StringAt(parsed, {"message"}).value_or(""), context);
  }
  std::string message = body.empty() ? "empty response body" : "unexpected response body: " + Excerpt(body);
  return Make(http_status, DefaultReason(http_status), message, context);
}

}  // namespace archway::kube
