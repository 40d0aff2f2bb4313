// bench/review-reader.sh's program: reads one AdmissionReview N times with one of the
// readers the webhook could use, so callgrind can count the instructions of a read.
//
//   review_reader_bench READER FILE N     READER: shaped (webhook/filtered_json, what the
//                                         webhook uses), sax (nlohmann's json::sax_parse
//                                         with a handler building the same members), lexer
//                                         (json::sax_parse with a handler building
//                                         nothing: its floor), dom (json::parse of the
//                                         whole review)
//
// Every reader's result is checked against the shaped reader's before counting starts.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "webhook/filtered_json.h"
#include "webhook/review.h"

namespace {

using Json = nlohmann::json;
using archway::webhook::JsonShape;

// Builds what ParseJsonShaped builds, from nlohmann's SAX events: members the shape does
// not name are left out (their events are counted off, not built).
class ShapedSax {
 public:
  ShapedSax(const JsonShape& shape, Json& root) : root_(&root), next_shape_(&shape) {}

  bool null() { return Put(nullptr); }
  bool boolean(bool value) { return Put(value); }
  bool number_integer(Json::number_integer_t value) { return Put(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return Put(value); }
  bool number_float(Json::number_float_t value, const std::string&) { return Put(value); }
  bool string(std::string& value) { return Put(std::move(value)); }
  bool binary(Json::binary_t& value) { return Put(std::move(value)); }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& key) {
    if (skipping_ > 0) return true;
    const Frame& frame = open_.back();
    next_shape_ = nullptr;
    if (frame.shape != nullptr) {
      const JsonShape::Member* member = nullptr;
      for (const auto& candidate : frame.shape->members) {
        if (candidate.key == key) member = &candidate;
      }
      if (member == nullptr) {
        skip_next_ = true;
        return true;
      }
      next_shape_ = member->shape;
    }
    next_ = &(*frame.value)[key];
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  struct Frame {
    Json* value;
    const JsonShape* shape;
  };

  // Where the next value goes, or null when it is left out.
  Json* Slot() {
    if (skipping_ > 0) return nullptr;
    if (skip_next_) {
      skip_next_ = false;
      return nullptr;
    }
    if (open_.empty()) return root_;
    Frame& frame = open_.back();
    if (frame.value->is_array()) {
      next_shape_ = frame.shape;
      return &frame.value->emplace_back();
    }
    return next_;
  }
  template <typename V>
  bool Put(V&& value) {
    if (Json* slot = Slot()) *slot = std::forward<V>(value);
    return true;
  }
  bool Open(Json empty) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    const JsonShape* shape = next_shape_;
    Json* slot = Slot();
    if (slot == nullptr) {
      skipping_ = 1;
      return true;
    }
    *slot = std::move(empty);
    open_.push_back(Frame{slot, open_.empty() || !open_.back().value->is_array() ? shape : open_.back().shape});
    return true;
  }
  bool Close() {
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    open_.pop_back();
    return true;
  }

  Json* root_;
  Json* next_ = nullptr;
  const JsonShape* next_shape_;
  std::vector<Frame> open_;
  int skipping_ = 0;  // depth inside a left-out container
  bool skip_next_ = false;
};

// Accepts every event and builds nothing.
struct NothingSax : nlohmann::json_sax<Json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

bool ReadLexer(const std::string& text, Json& out) {
  NothingSax handler;
  out = Json::object();
  return Json::sax_parse(text, &handler);
}

bool ReadSax(const std::string& text, Json& out) {
  ShapedSax handler(archway::webhook::AdmissionReviewShape(), out);
  return Json::sax_parse(text, &handler);
}

bool ReadShaped(const std::string& text, Json& out) {
  return archway::webhook::ParseJsonShaped(text, archway::webhook::AdmissionReviewShape(), out);
}

bool ReadDom(const std::string& text, Json& out) {
  out = Json::parse(text, nullptr, false);
  return !out.is_discarded();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: review_reader_bench shaped|sax|lexer|dom FILE N\n");
    return 2;
  }
  const std::string reader = argv[1];
  std::ifstream in(argv[2]);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const long runs = std::atol(argv[3]);
  bool (*read)(const std::string&, Json&) = reader == "sax"     ? ReadSax
                                            : reader == "lexer" ? ReadLexer
                                            : reader == "dom"   ? ReadDom
                                                                : ReadShaped;
  if (reader != "sax" && reader != "lexer" && reader != "dom" && reader != "shaped") return 2;

  Json expected, got;
  if (!ReadShaped(text, expected) || !read(text, got)) {
    std::fprintf(stderr, "review_reader_bench: %s is not JSON\n", argv[2]);
    return 1;
  }
  if ((reader == "sax" || reader == "shaped") && got != expected) {
    std::fprintf(stderr, "review_reader_bench: the %s reader built something else:\n%s\n%s\n", reader.c_str(),
                 got.dump().c_str(), expected.dump().c_str());
    return 1;
  }
  size_t members = 0;
  for (long i = 0; i < runs; ++i) {
    Json review;
    read(text, review);
    members += review.size();
  }
  std::printf("%zu\n", members);  // keeps the reads from being optimised away
  return 0;
}
