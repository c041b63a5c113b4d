// Typed, path-aware reading of parsed JSON for the parsers of runsc/spec/. Every reader checks the
// JSON type and range of a value and fails with absl::InvalidArgumentError("PATH: what is wrong"),
// PATH being the value's JSON path (`linux.namespaces[0].type`, `annotations["k"]`). A JSON null
// counts as absent, as Go's encoding/json (runc's parser) treats it. Internal to runsc/spec/.
#ifndef MOAT_RUNSC_SPEC_JSON_READER_H_
#define MOAT_RUNSC_SPEC_JSON_READER_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moat::runsc::spec::internal {

using Json = nlohmann::json;

// Concatenates strings and numbers (absl::StrCat, which Debian's abseil builds for
// absl::string_view rather than std::string_view).
inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
template <typename T>
requires std::is_arithmetic_v<T>
void AppendPiece(std::string& out, T v) { out += std::to_string(v); }
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(out, args), ...);
  return out;
}

// Path building: JoinPath("a", "b") is "a.b" (just "b" under the top level ""), IndexPath("a", 3)
// is "a[3]", KeyPath("a", "k") is `a["k"]` (for map keys, which may contain dots).
std::string JoinPath(std::string_view base, std::string_view key);
std::string IndexPath(std::string_view base, size_t i);
std::string KeyPath(std::string_view base, std::string_view key);

// "PATH: message" as InvalidArgument; `path` empty means the whole document, named `top`.
absl::Status Invalid(std::string_view path, std::string_view message);

// A user string quoted for an error message, with control and non-ASCII bytes escaped.
std::string Quote(std::string_view s);

// What a value is, for "expected X, got Y": its type ("string", "object", "array", "boolean",
// "null"), or for a number the number itself ("-1", "1.5").
std::string Describe(const Json& v);

// Parses `text`; text that is not JSON fails with `WHAT: parse error at line L, column C: ...`.
absl::StatusOr<Json> ParseText(std::string_view text, std::string_view what);

// "an unsigned 32-bit integer", "a 64-bit integer", ... for the integer type T.
template <typename T>
std::string IntTypeName() {
  return Cat(std::is_signed_v<T> ? "a " : "an unsigned ", sizeof(T) * 8, "-bit integer");
}

// A JSON integer that fits T. Floats ("1.0") are not integers, as in Go.
template <typename T>
absl::StatusOr<T> ToInt(const Json& v, std::string_view path) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
  } else if (v.is_number_integer()) {  // negative
    int64_t i = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (i >= static_cast<int64_t>(std::numeric_limits<T>::min())) return static_cast<T>(i);
    }
  }
  return Invalid(path, Cat("expected ", IntTypeName<T>(), ", got ", Describe(v)));
}
absl::StatusOr<std::string> ToString(const Json& v, std::string_view path);
absl::StatusOr<bool> ToBool(const Json& v, std::string_view path);

// A JSON object at a path, read field by field. Optional readers leave `out` alone when the field
// is absent (or null); `required` ones fail with "missing required field".
class Object {
 public:
  // Fails unless `v` is an object. `path` is "" for the top level of a document named `top`.
  static absl::StatusOr<Object> Make(const Json& v, std::string path, std::string_view top = "");

  const std::string& path() const { return path_; }
  std::string Path(std::string_view key) const { return JoinPath(path_, key); }
  const Json& json() const { return *v_; }

  const Json* Find(std::string_view key) const;
  absl::Status Missing(std::string_view key) const;

  absl::Status GetString(std::string_view key, std::string* out, bool required = false) const;
  absl::Status GetBool(std::string_view key, bool* out) const;
  absl::Status GetBool(std::string_view key, std::optional<bool>* out) const;
  template <typename T>
  absl::Status GetInt(std::string_view key, T* out, bool required = false) const {
    const Json* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
    absl::StatusOr<T> r = ToInt<T>(*v, Path(key));
    if (!r.ok()) return r.status();
    *out = *r;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status GetInt(std::string_view key, std::optional<T>* out) const {
    T value{};
    const Json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    absl::Status s = GetInt(key, &value);
    if (s.ok()) *out = value;
    return s;
  }
  absl::Status GetStringArray(std::string_view key, std::vector<std::string>* out) const;
  absl::Status GetStringMap(std::string_view key, std::map<std::string, std::string>* out) const;
  // The object at `key`; nullopt when absent.
  absl::StatusOr<std::optional<Object>> GetObject(std::string_view key) const;
  // Calls `fn` on each element of the array at `key` with the element's path.
  absl::Status ForEach(
      std::string_view key,
      const std::function<absl::Status(const Json&, const std::string&)>& fn) const;
  // Calls `fn` on each member of the object at `key` with the member's path (`key["name"]`).
  absl::Status ForEachMember(std::string_view key,
                             const std::function<absl::Status(const std::string&, const Json&,
                                                              const std::string&)>& fn) const;

 private:
  Object(const Json* v, std::string path) : v_(v), path_(std::move(path)) {}
  const Json* v_;  // not owned
  std::string path_;
};

}  // namespace moat::runsc::spec::internal

#endif  // MOAT_RUNSC_SPEC_JSON_READER_H_
