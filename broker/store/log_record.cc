#include "log_record.h"

#include "check.h"

namespace hermod::store {

void LogWriter::Begin(LogOpType type) {
  if (record_.empty()) record_.push_back(static_cast<char>(kLogRecordVersion));
  record_.push_back(static_cast<char>(type));
  ++ops_;
  if (AppliedAtCommit(type)) ++commit_ops_;
}

void LogWriter::CreateQueue(QueueId queue_id, uint64_t created_ms, std::string_view name) {
  Begin(LogOpType::kCreateQueue);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, created_ms);
  AppendFixed16(&record_, static_cast<uint16_t>(name.size()));
  record_.append(name);
}

std::string_view LogWriter::Publish(QueueId queue_id, Seq seq, MsgId msg_id,
                                    const NewEnvelope& envelope, size_t envelope_bytes) {
  BeginPublish(queue_id, seq, msg_id, envelope_bytes);
  size_t start = record_.size();
  envelope.Write(&record_);
  HERMOD_CHECK(record_.size() - start == envelope_bytes);
  return std::string_view(record_).substr(start);
}

void LogWriter::PublishEncoded(QueueId queue_id, Seq seq, MsgId msg_id, std::string_view envelope) {
  BeginPublish(queue_id, seq, msg_id, envelope.size());
  record_.append(envelope);
}

void LogWriter::BeginPublish(QueueId queue_id, Seq seq, MsgId msg_id, size_t envelope_bytes) {
  Begin(LogOpType::kPublish);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
  AppendFixed64(&record_, msg_id);
  AppendFixed32(&record_, static_cast<uint32_t>(envelope_bytes));
}

void LogWriter::Copy(const LogOp& op) {
  switch (op.type) {
    case LogOpType::kCreateQueue:
      return CreateQueue(op.queue_id, op.created_ms, op.name);
    case LogOpType::kPublish:
      return PublishEncoded(op.queue_id, op.seq, op.msg_id, op.envelope);
    case LogOpType::kAck:
      return Ack(op.queue_id, op.seq);
    case LogOpType::kDelivered:
      return Delivered(op.queue_id, op.seq, op.delivery_count);
    case LogOpType::kConfigure:
      return Configure(op.queue_id, op.settings);
    case LogOpType::kDedup:
      return Dedup(op.queue_id, op.seq, op.msg_id, op.created_ms, op.dedup_id);
    case LogOpType::kEntry:
      return Entry(op.queue_id, op.seq, op.msg_id, op.bytes, op.expires_ms);
    case LogOpType::kDeleteQueue:
      return DeleteQueue(op.queue_id, op.name);
    case LogOpType::kIndexAck:
      return IndexAck(op.queue_id, op.seq, op.msg_id, op.bytes, op.expires_ms);
    case LogOpType::kDedupExpire:
      return DedupExpire(op.key);
    case LogOpType::kPurge:
      return Purge(op.queue_id, op.seq, op.to);
  }
}

void LogWriter::Prepend(const LogWriter& earlier) {
  if (earlier.empty()) return;
  if (empty()) {
    record_ = earlier.record_;
  } else {
    // Both start with the version byte; keep one.
    record_.insert(1, std::string_view(earlier.record_).substr(1));
  }
  ops_ += earlier.ops_;
  commit_ops_ += earlier.commit_ops_;
}

void LogWriter::Ack(QueueId queue_id, Seq seq) {
  Begin(LogOpType::kAck);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
}

void LogWriter::Delivered(QueueId queue_id, Seq seq, uint32_t delivery_count) {
  Begin(LogOpType::kDelivered);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
  AppendFixed32(&record_, delivery_count);
}

void LogWriter::Configure(QueueId queue_id, std::string_view settings) {
  Begin(LogOpType::kConfigure);
  AppendFixed64(&record_, queue_id);
  AppendFixed32(&record_, static_cast<uint32_t>(settings.size()));
  record_.append(settings);
}

void LogWriter::Dedup(QueueId queue_id, Seq seq, MsgId msg_id, uint64_t time_ms,
                      std::string_view dedup_id) {
  Begin(LogOpType::kDedup);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
  AppendFixed64(&record_, msg_id);
  AppendFixed64(&record_, time_ms);
  AppendFixed16(&record_, static_cast<uint16_t>(dedup_id.size()));
  record_.append(dedup_id);
}

void LogWriter::Entry(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes,
                      uint64_t expires_ms) {
  Begin(LogOpType::kEntry);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
  AppendFixed64(&record_, msg_id);
  AppendFixed32(&record_, bytes);
  AppendFixed64(&record_, expires_ms);
}

void LogWriter::DeleteQueue(QueueId queue_id, std::string_view name) {
  Begin(LogOpType::kDeleteQueue);
  AppendFixed64(&record_, queue_id);
  AppendFixed16(&record_, static_cast<uint16_t>(name.size()));
  record_.append(name);
}

void LogWriter::IndexAck(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes,
                         uint64_t expires_ms) {
  Begin(LogOpType::kIndexAck);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, seq);
  AppendFixed64(&record_, msg_id);
  AppendFixed32(&record_, bytes);
  AppendFixed64(&record_, expires_ms);
}

void LogWriter::DedupExpire(std::string_view key) {
  HERMOD_CHECK(key.size() <= UINT16_MAX);
  Begin(LogOpType::kDedupExpire);
  AppendFixed16(&record_, static_cast<uint16_t>(key.size()));
  record_.append(key);
}

void LogWriter::Purge(QueueId queue_id, Seq from, Seq to) {
  Begin(LogOpType::kPurge);
  AppendFixed64(&record_, queue_id);
  AppendFixed64(&record_, from);
  AppendFixed64(&record_, to);
}

LogReader::LogReader(std::string_view record) : rest_(record) {
  if (rest_.empty()) return;
  if (static_cast<uint8_t>(rest_[0]) != kLogRecordVersion) {
    Fail("log record version " + std::to_string(static_cast<uint8_t>(rest_[0])) +
         " is not one this build reads");
    return;
  }
  rest_.remove_prefix(1);
}

bool LogReader::Fail(std::string_view why) {
  status_ = Status::StorageError("corrupt log record: " + std::string(why));
  rest_ = {};
  return false;
}

bool LogReader::Next(LogOp* op) {
  if (rest_.empty()) return false;
  const char* p = rest_.data();
  size_t left = rest_.size();
  auto need = [&](size_t n) { return left >= n; };
  op->type = static_cast<LogOpType>(static_cast<uint8_t>(p[0]));
  p += 1;
  left -= 1;
  switch (op->type) {
    case LogOpType::kCreateQueue: {
      if (!need(18)) return Fail("short kCreateQueue");
      op->queue_id = DecodeFixed64(p);
      op->created_ms = DecodeFixed64(p + 8);
      uint16_t name_len = DecodeFixed16(p + 16);
      if (!need(18u + name_len)) return Fail("short queue name");
      op->name = std::string_view(p + 18, name_len);
      p += 18 + name_len;
      break;
    }
    case LogOpType::kPublish: {
      if (!need(28)) return Fail("short kPublish");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      op->msg_id = DecodeFixed64(p + 16);
      uint32_t envelope_len = DecodeFixed32(p + 24);
      if (!need(28ull + envelope_len)) return Fail("short envelope");
      op->envelope = std::string_view(p + 28, envelope_len);
      p += 28 + envelope_len;
      break;
    }
    case LogOpType::kAck:
      if (!need(16)) return Fail("short kAck");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      p += 16;
      break;
    case LogOpType::kDelivered:
      if (!need(20)) return Fail("short kDelivered");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      op->delivery_count = DecodeFixed32(p + 16);
      p += 20;
      break;
    case LogOpType::kConfigure: {
      if (!need(12)) return Fail("short kConfigure");
      op->queue_id = DecodeFixed64(p);
      uint32_t len = DecodeFixed32(p + 8);
      if (!need(12ull + len)) return Fail("short settings");
      op->settings = std::string_view(p + 12, len);
      p += 12 + len;
      break;
    }
    case LogOpType::kDedup: {
      if (!need(34)) return Fail("short kDedup");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      op->msg_id = DecodeFixed64(p + 16);
      op->created_ms = DecodeFixed64(p + 24);
      uint16_t len = DecodeFixed16(p + 32);
      if (!need(34u + len)) return Fail("short dedup id");
      op->dedup_id = std::string_view(p + 34, len);
      p += 34 + len;
      break;
    }
    case LogOpType::kEntry:
    case LogOpType::kIndexAck:
      if (!need(36)) return Fail("short kEntry or kIndexAck");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      op->msg_id = DecodeFixed64(p + 16);
      op->bytes = DecodeFixed32(p + 24);
      op->expires_ms = DecodeFixed64(p + 28);
      p += 36;
      break;
    case LogOpType::kDeleteQueue: {
      if (!need(10)) return Fail("short kDeleteQueue");
      op->queue_id = DecodeFixed64(p);
      uint16_t name_len = DecodeFixed16(p + 8);
      if (!need(10u + name_len)) return Fail("short queue name");
      op->name = std::string_view(p + 10, name_len);
      p += 10 + name_len;
      break;
    }
    case LogOpType::kDedupExpire: {
      if (!need(2)) return Fail("short kDedupExpire");
      uint16_t len = DecodeFixed16(p);
      if (!need(2u + len)) return Fail("short dedup key");
      op->key = std::string_view(p + 2, len);
      p += 2 + len;
      break;
    }
    case LogOpType::kPurge:
      if (!need(24)) return Fail("short kPurge");
      op->queue_id = DecodeFixed64(p);
      op->seq = DecodeFixed64(p + 8);
      op->to = DecodeFixed64(p + 16);
      p += 24;
      break;
    default:
      return Fail("unknown operation type " + std::to_string(static_cast<int>(op->type)));
  }
  rest_.remove_prefix(p - rest_.data());
  return true;
}

}  // namespace hermod::store
