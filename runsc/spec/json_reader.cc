#include "runsc/spec/json_reader.h"

#include <algorithm>
#include <cstdio>

namespace moat::runsc::spec::internal {
namespace {

// Printable ASCII stays; every other byte becomes \xNN, so a message never carries control
// characters or invalid UTF-8 out of a hostile config.
std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// The part of nlohmann's message after its own "[json.exception...] parse error at line L, column
// C: " prefix, which we replace with ours.
std::string_view ParseErrorDetail(std::string_view what) {
  size_t at = what.find("] ");
  if (at != std::string_view::npos) what.remove_prefix(at + 2);
  if (what.starts_with("parse error")) {
    size_t colon = what.find(": ");
    if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
  }
  return what;
}

}  // namespace

std::string JoinPath(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  return Cat(base, ".", key);
}

std::string IndexPath(std::string_view base, size_t i) { return Cat(base, "[", i, "]"); }

std::string KeyPath(std::string_view base, std::string_view key) {
  return Cat(base, "[", Quote(key), "]");
}

absl::Status Invalid(std::string_view path, std::string_view message) {
  return absl::InvalidArgumentError(Cat(path, ": ", message));
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : Sanitize(s)) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string Describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return v.dump();
    default:
      return "binary";
  }
}

absl::StatusOr<Json> ParseText(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // nlohmann counts the bytes read up to and including the bad one; turn that into the line
    // and column of the bad byte (the end of the text for a truncated document).
    size_t idx = std::min(e.byte > 0 ? e.byte - 1 : 0, text.size());
    std::string_view before = text.substr(0, idx);
    size_t line = 1 + std::count(before.begin(), before.end(), '\n');
    size_t nl = before.rfind('\n');
    size_t column = idx - (nl == std::string_view::npos ? 0 : nl + 1) + 1;
    return absl::InvalidArgumentError(Cat(what, ": parse error at line ", line, ", column ", column,
                                          ": ", Sanitize(ParseErrorDetail(e.what()))));
  } catch (const Json::exception& e) {
    // Number overflow ("1e999") is reported without a position.
    return absl::InvalidArgumentError(
        Cat(what, ": parse error: ", Sanitize(ParseErrorDetail(e.what()))));
  }
}

absl::StatusOr<std::string> ToString(const Json& v, std::string_view path) {
  if (!v.is_string()) return Invalid(path, Cat("expected a string, got ", Describe(v)));
  const std::string& s = v.get_ref<const std::string&>();
  // No string of a config can reach the kernel (a path, an argument, an environment entry)
  // with a NUL in it; refuse them all rather than truncate one silently.
  if (s.find('\0') != std::string::npos) return Invalid(path, "contains a NUL byte");
  return s;
}

absl::StatusOr<bool> ToBool(const Json& v, std::string_view path) {
  if (!v.is_boolean()) return Invalid(path, Cat("expected a boolean, got ", Describe(v)));
  return v.get<bool>();
}

absl::StatusOr<Object> Object::Make(const Json& v, std::string path, std::string_view top) {
  if (!v.is_object()) {
    return Invalid(path.empty() ? top : std::string_view(path),
                   Cat("expected an object, got ", Describe(v)));
  }
  return Object(&v, std::move(path));
}

const Json* Object::Find(std::string_view key) const {
  auto it = v_->find(std::string(key));
  if (it == v_->end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status Object::Missing(std::string_view key) const {
  return Invalid(Path(key), "missing required field");
}

absl::Status Object::GetString(std::string_view key, std::string* out, bool required) const {
  const Json* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  absl::StatusOr<std::string> s = ToString(*v, Path(key));
  if (!s.ok()) return s.status();
  *out = std::move(*s);
  return absl::OkStatus();
}

absl::Status Object::GetBool(std::string_view key, bool* out) const {
  const Json* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  absl::StatusOr<bool> b = ToBool(*v, Path(key));
  if (!b.ok()) return b.status();
  *out = *b;
  return absl::OkStatus();
}

absl::Status Object::GetBool(std::string_view key, std::optional<bool>* out) const {
  const Json* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  absl::StatusOr<bool> b = ToBool(*v, Path(key));
  if (!b.ok()) return b.status();
  *out = *b;
  return absl::OkStatus();
}

absl::Status Object::GetStringArray(std::string_view key, std::vector<std::string>* out) const {
  out->clear();
  return ForEach(key, [out](const Json& v, const std::string& path) {
    absl::StatusOr<std::string> s = ToString(v, path);
    if (!s.ok()) return s.status();
    out->push_back(std::move(*s));
    return absl::OkStatus();
  });
}

absl::Status Object::GetStringMap(std::string_view key,
                                  std::map<std::string, std::string>* out) const {
  out->clear();
  return ForEachMember(key, [out](const std::string& name, const Json& v, const std::string& path) {
    absl::StatusOr<std::string> s = ToString(v, path);
    if (!s.ok()) return s.status();
    (*out)[name] = std::move(*s);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<Object>> Object::GetObject(std::string_view key) const {
  const Json* v = Find(key);
  if (v == nullptr) return std::optional<Object>();
  absl::StatusOr<Object> o = Make(*v, Path(key));
  if (!o.ok()) return o.status();
  return std::optional<Object>(std::move(*o));
}

absl::Status Object::ForEach(
    std::string_view key,
    const std::function<absl::Status(const Json&, const std::string&)>& fn) const {
  const Json* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  std::string path = Path(key);
  if (!v->is_array()) return Invalid(path, Cat("expected an array, got ", Describe(*v)));
  for (size_t i = 0; i < v->size(); ++i) {
    absl::Status s = fn((*v)[i], IndexPath(path, i));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Object::ForEachMember(
    std::string_view key,
    const std::function<absl::Status(const std::string&, const Json&, const std::string&)>& fn)
    const {
  const Json* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  std::string path = Path(key);
  if (!v->is_object()) {
    return Invalid(path, Cat("expected an object, got ", Describe(*v)));
  }
  for (auto it = v->begin(); it != v->end(); ++it) {
    // A key reaches files and environments; it may not hide a NUL either.
    if (it.key().find('\0') != std::string::npos) {
      return Invalid(KeyPath(path, it.key()), "key contains a NUL byte");
    }
    absl::Status s = fn(it.key(), it.value(), KeyPath(path, it.key()));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace moat::runsc::spec::internal
