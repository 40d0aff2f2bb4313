// Parses JSON text into a nlohmann::json DOM of only the members a shape names. The
// admission path reads a dozen fields of a review whose other members (managedFields,
// volumes, probes, ...) are most of its bytes: nlohmann's lexer alone costs more per
// review than the rest of a cached admission, and every member built is allocations to
// make and free. This reader checks the left-out members without building them and
// without allocating.
//
// Why not nlohmann's own SAX interface (json::sax_parse) with a handler that builds the
// same members (bench/review_reader.cpp has one): bench/review-reader.sh counts, with
// callgrind, the instructions of one read of bench/webhook_review.json (2.4 KB), next to
// a cached admission (bench/webhook-instructions.sh: 181,100 instructions).
//   this reader                      48,068   26.5% of a cached admission
//   json::sax_parse, same members   236,456   4.9x; it would make a cached admission 2.0x
//   json::sax_parse, building none  197,988   nlohmann's lexer alone
//   json::parse, the whole DOM      320,397
// The lexer alone costs more than this whole reader: it decodes every string, the
// left-out ones included, byte by byte.
//
// It accepts exactly what nlohmann::json::parse accepts (RFC 8259, strict: UTF-8 and
// surrogate pairs checked, no comments, an optional UTF-8 BOM, non-finite numbers
// rejected, and a NUL byte after the document ends the input), left-out members
// included, and builds the values nlohmann builds (the same integer/unsigned/float
// choice; a repeated member replaces the earlier one).
// tests/webhook/filtered_json_test.cpp checks both against nlohmann. Nesting depth is
// bounded only by memory (no recursion).
#pragma once

#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

namespace archway::webhook {

// Which members of an object are built: those named, each with the shape of its value
// (nullptr: the whole value); every other member is left out. A shape applies to an
// object, and through arrays (at any depth) to their elements; other values are built as
// they are, so a value of an unexpected type still reaches the code that checks it.
struct JsonShape {
  struct Member {
    std::string_view key;
    const JsonShape* shape;
  };
  std::span<const Member> members;
};

// False when `text` is not JSON; `out` is then unspecified.
bool ParseJsonShaped(std::string_view text, const JsonShape& shape, nlohmann::json& out);

}  // namespace archway::webhook
