#include "etcd_json.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "base64.h"

namespace hermod::cluster {

std::string PrefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

TxnOp TxnOp::GetPrefix(std::string prefix) {
  std::string end = PrefixRangeEnd(prefix);
  return {Kind::kRange, std::move(prefix), std::move(end), {}, 0};
}

namespace etcd_json {

namespace {

using nlohmann::json;

// Reads fields of etcd's answers, keeping the first thing that did not
// decode: a malformed answer becomes one Status, not an exception.
class Reader {
 public:
  // Missing: 0. grpc-gateway writes int64 as a string; plain numbers are
  // accepted too.
  int64_t Int(const json& obj, const char* name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_string()) {
      const std::string& s = it->get_ref<const std::string&>();
      int64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && end == s.data() + s.size()) return v;
    }
    Fail(std::string("field ") + name + " is not an integer");
    return 0;
  }
  // Missing: empty.
  std::string Bytes(const json& obj, const char* name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return {};
    if (it->is_string()) {
      std::optional<std::string> bytes = Base64Decode(it->get_ref<const std::string&>());
      if (bytes) return std::move(*bytes);
    }
    Fail(std::string("field ") + name + " is not base64");
    return {};
  }
  std::string String(const json& obj, const char* name) {
    auto it = obj.find(name);
    if (it != obj.end() && it->is_string()) return it->get<std::string>();
    return {};
  }
  bool Bool(const json& obj, const char* name) {
    auto it = obj.find(name);
    return it != obj.end() && it->is_boolean() && it->get<bool>();
  }
  // The array `name`, or an empty one when missing.
  const json& Array(const json& obj, const char* name) {
    static const json kEmpty = json::array();
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return kEmpty;
    if (it->is_array()) return *it;
    Fail(std::string("field ") + name + " is not an array");
    return kEmpty;
  }
  const json& Object(const json& obj, const char* name) {
    static const json kEmpty = json::object();
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return kEmpty;
    if (it->is_object()) return *it;
    Fail(std::string("field ") + name + " is not an object");
    return kEmpty;
  }

  KeyValue Kv(const json& obj) {
    KeyValue kv;
    kv.key = Bytes(obj, "key");
    kv.value = Bytes(obj, "value");
    kv.create_revision = Int(obj, "create_revision");
    kv.mod_revision = Int(obj, "mod_revision");
    kv.version = Int(obj, "version");
    kv.lease_id = Int(obj, "lease");
    return kv;
  }
  std::vector<KeyValue> Kvs(const json& obj) {
    std::vector<KeyValue> kvs;
    for (const json& item : Array(obj, "kvs")) {
      if (item.is_object()) kvs.push_back(Kv(item));
    }
    return kvs;
  }
  int64_t HeaderRevision(const json& obj) { return Int(Object(obj, "header"), "revision"); }

  void Fail(std::string message) {
    if (status_.ok()) status_ = Status(ErrorCode::kUnavailable, "etcd answer: " + message);
  }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

Result<json> Parse(std::string_view body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(ErrorCode::kUnavailable,
                  "etcd answer is not a JSON object: " + std::string(body.substr(0, 200)));
  }
  return doc;
}

// etcd's gRPC status codes (google.golang.org/grpc/codes) as ours.
ErrorCode FromGrpcCode(int64_t code) {
  switch (code) {
    case 3:  // INVALID_ARGUMENT
    case 9:  // FAILED_PRECONDITION
      return ErrorCode::kInvalidArgument;
    case 4:  // DEADLINE_EXCEEDED
      return ErrorCode::kTimeout;
    case 5:   // NOT_FOUND: a lease
    case 11:  // OUT_OF_RANGE: a compacted revision
      return ErrorCode::kNotFound;
    case 6:  // ALREADY_EXISTS
      return ErrorCode::kAlreadyExists;
    case 8:  // RESOURCE_EXHAUSTED: too many requests, no space
      return ErrorCode::kLimitExceeded;
    case 12:  // UNIMPLEMENTED
      return ErrorCode::kNotSupported;
    case 7:   // PERMISSION_DENIED
    case 16:  // UNAUTHENTICATED
      return ErrorCode::kUnauthenticated;
    default:  // UNAVAILABLE (no leader), INTERNAL, UNKNOWN, ...: etcd's trouble
      return ErrorCode::kUnavailable;
  }
}

Status ErrorFromObject(const json& obj, long http_status) {
  Reader r;
  const json& error = obj.contains("error") && obj["error"].is_object() ? obj["error"] : obj;
  std::string message = r.String(error, "message");
  if (message.empty()) message = r.String(error, "error");
  // Unary answers say "code"; an error inside a stream says "grpc_code".
  int64_t code = r.Int(error, "code");
  if (code == 0) code = r.Int(error, "grpc_code");
  return Status(FromGrpcCode(code), "etcd: " + message + " (gRPC code " + std::to_string(code) +
                                        ", HTTP " + std::to_string(http_status) + ")");
}

std::string B64(std::string_view bytes) { return Base64Encode(bytes); }

json OpJson(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kRange: {
      json range = {{"key", B64(op.key)}};
      if (!op.range_end.empty()) range["range_end"] = B64(op.range_end);
      return {{"request_range", range}};
    }
    case TxnOp::Kind::kPut: {
      json put = {{"key", B64(op.key)}, {"value", B64(op.value)}};
      if (op.lease_id != 0) put["lease"] = std::to_string(op.lease_id);
      return {{"request_put", put}};
    }
    case TxnOp::Kind::kDelete: {
      json del = {{"key", B64(op.key)}};
      if (!op.range_end.empty()) del["range_end"] = B64(op.range_end);
      return {{"request_delete_range", del}};
    }
  }
  return json::object();
}

json CompareJson(const Compare& c) {
  static constexpr const char* kResult[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json out = {{"key", B64(c.key)}, {"result", kResult[static_cast<int>(c.result)]}};
  switch (c.target) {
    case Compare::Target::kCreateRevision:
      out["target"] = "CREATE";
      out["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kModRevision:
      out["target"] = "MOD";
      out["mod_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kVersion:
      out["target"] = "VERSION";
      out["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kValue:
      out["target"] = "VALUE";
      out["value"] = B64(c.value);
      break;
  }
  return out;
}

}  // namespace

std::string RangeRequest(std::string_view key, std::string_view range_end) {
  json j = {{"key", B64(key)}};
  if (!range_end.empty()) j["range_end"] = B64(range_end);
  return j.dump();
}

std::string PutRequest(std::string_view key, std::string_view value, LeaseId lease_id) {
  json j = {{"key", B64(key)}, {"value", B64(value)}};
  if (lease_id != 0) j["lease"] = std::to_string(lease_id);
  return j.dump();
}

std::string DeleteRequest(std::string_view key, std::string_view range_end) {
  json j = {{"key", B64(key)}};
  if (!range_end.empty()) j["range_end"] = B64(range_end);
  return j.dump();
}

std::string TxnRequest(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                       const std::vector<TxnOp>& failure) {
  json j = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const Compare& c : compares) j["compare"].push_back(CompareJson(c));
  for (const TxnOp& op : success) j["success"].push_back(OpJson(op));
  for (const TxnOp& op : failure) j["failure"].push_back(OpJson(op));
  return j.dump();
}

std::string LeaseGrantRequest(int64_t ttl_s) { return json{{"TTL", std::to_string(ttl_s)}}.dump(); }

std::string LeaseIdRequest(LeaseId lease_id) {
  return json{{"ID", std::to_string(lease_id)}}.dump();
}

std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               int64_t start_revision, bool prev_kv) {
  json create = {{"key", B64(key)}, {"start_revision", std::to_string(start_revision)}};
  if (!range_end.empty()) create["range_end"] = B64(range_end);
  if (prev_kv) create["prev_kv"] = true;
  return json{{"create_request", create}}.dump();
}

Status ErrorStatus(long http_status, std::string_view body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(ErrorCode::kUnavailable, "etcd: HTTP " + std::to_string(http_status) + ": " +
                                               std::string(body.substr(0, 200)));
  }
  return ErrorFromObject(doc, http_status);
}

Result<RangeResult> DecodeRange(std::string_view body) {
  Result<json> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  Reader r;
  RangeResult out;
  out.revision = r.HeaderRevision(*doc);
  out.kvs = r.Kvs(*doc);
  if (!r.status().ok()) return r.status();
  return out;
}

Result<int64_t> DecodeHeaderRevision(std::string_view body) {
  Result<json> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  Reader r;
  const int64_t revision = r.HeaderRevision(*doc);
  if (!r.status().ok()) return r.status();
  return revision;
}

Result<DeleteResult> DecodeDelete(std::string_view body) {
  Result<json> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  Reader r;
  DeleteResult out;
  out.revision = r.HeaderRevision(*doc);
  out.deleted = r.Int(*doc, "deleted");
  if (!r.status().ok()) return r.status();
  return out;
}

Result<TxnResult> DecodeTxn(std::string_view body) {
  Result<json> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  Reader r;
  TxnResult out;
  out.revision = r.HeaderRevision(*doc);
  out.succeeded = r.Bool(*doc, "succeeded");
  for (const json& item : r.Array(*doc, "responses")) {
    TxnOpResult op;
    if (item.contains("response_range")) {
      op.kind = TxnOp::Kind::kRange;
      op.kvs = r.Kvs(r.Object(item, "response_range"));
    } else if (item.contains("response_put")) {
      op.kind = TxnOp::Kind::kPut;
    } else if (item.contains("response_delete_range")) {
      op.kind = TxnOp::Kind::kDelete;
      op.deleted = r.Int(r.Object(item, "response_delete_range"), "deleted");
    } else {
      r.Fail("a txn response of unknown kind");
    }
    out.responses.push_back(std::move(op));
  }
  if (!r.status().ok()) return r.status();
  return out;
}

Result<Lease> DecodeLeaseGrant(std::string_view body) {
  Result<json> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  Reader r;
  Lease out;
  out.lease_id = r.Int(*doc, "ID");
  out.ttl_s = r.Int(*doc, "TTL");
  const std::string error = r.String(*doc, "error");
  if (!error.empty()) return Status(ErrorCode::kUnavailable, "etcd: lease grant: " + error);
  if (!r.status().ok()) return r.status();
  if (out.lease_id == 0) return Status(ErrorCode::kUnavailable, "etcd: lease grant without an ID");
  return out;
}

Result<int64_t> DecodeKeepAlive(std::string_view body, LeaseId lease_id) {
  // A streaming endpoint: the one answer comes as {"result": {...}}, or
  // {"error": {...}} when the stream failed.
  Result<json> doc = Parse(body.substr(0, body.find('\n')));
  if (!doc.ok()) return doc.status();
  if (doc->contains("error")) return ErrorFromObject(*doc, 200);
  Reader r;
  const int64_t ttl_s = r.Int(r.Object(*doc, "result"), "TTL");
  if (!r.status().ok()) return r.status();
  if (ttl_s <= 0) {
    return Status::NotFound("etcd: lease " + std::to_string(lease_id) + " expired or was revoked");
  }
  return ttl_s;
}

Result<WatchMessage> DecodeWatchMessage(std::string_view line) {
  Result<json> doc = Parse(line);
  if (!doc.ok()) return doc.status();
  if (doc->contains("error")) return ErrorFromObject(*doc, 200);
  Reader r;
  const json& result = r.Object(*doc, "result");
  WatchMessage out;
  out.revision = r.HeaderRevision(result);
  out.created = r.Bool(result, "created");
  out.canceled = r.Bool(result, "canceled");
  out.compact_revision = r.Int(result, "compact_revision");
  out.cancel_reason = r.String(result, "cancel_reason");
  for (const json& item : r.Array(result, "events")) {
    WatchEvent event;
    const std::string type = r.String(item, "type");
    if (type == "DELETE") {
      event.type = WatchEvent::Type::kDelete;
    } else if (!type.empty() && type != "PUT") {
      r.Fail("a watch event of type " + type);
    }
    event.kv = r.Kv(r.Object(item, "kv"));
    if (item.contains("prev_kv")) event.prev_kv = r.Kv(r.Object(item, "prev_kv"));
    out.events.push_back(std::move(event));
  }
  if (!r.status().ok()) return r.status();
  return out;
}

}  // namespace etcd_json
}  // namespace hermod::cluster
