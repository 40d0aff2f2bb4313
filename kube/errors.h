// Kubernetes `Status` failures as archway Errors. The HTTP status and the API's reason
// map to an ErrorCode; Error::reason is the API's reason (where two reasons share a code:
// 409 Conflict and AlreadyExists, 410 Expired and Gone); the message is the API's own,
// followed by "(HTTP <code> <Reason>)" for the person reading it.
//
//   404 NotFound -> kNotFound          409 Conflict, AlreadyExists -> kConflict
//   410 Expired/Gone -> kGone          403 Forbidden -> kForbidden
//   401 Unauthorized -> kUnauthorized  422 Invalid, 400 BadRequest -> kInvalidArgument
//   429 -> kRateLimited                504 Timeout -> kTimeout      other 5xx -> kUnavailable
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace archway::kube {

// Builds the Error for an HTTP failure. `body` is the response body: a Status object
// when the API sent one, anything else (an HTML page from a proxy, truncated JSON)
// otherwise, in which case a bounded excerpt is quoted.
Error ErrorFromResponse(int http_status, const std::string& body, const std::string& context);

// Same, from an already-decoded Status object (a watch ERROR event's object).
Error ErrorFromStatus(const nlohmann::json& status, const std::string& context);

inline bool IsNotFound(const Error& e) { return e.code == ErrorCode::kNotFound; }
inline bool IsConflict(const Error& e) { return e.code == ErrorCode::kConflict && e.reason == "Conflict"; }
inline bool IsAlreadyExists(const Error& e) { return e.code == ErrorCode::kConflict && e.reason == "AlreadyExists"; }
inline bool IsGone(const Error& e) { return e.code == ErrorCode::kGone; }

}  // namespace archway::kube
