#include "log_record.h"

#include <algorithm>

#include "check.h"

namespace hermod::store {

std::string* LogWriter::Begin(LogOpType type) {
  bool commit = AppliedAtCommit(type);
  std::string* out = commit ? &commit_record_ : &record_;
  PartitionId* at = commit ? &commit_partition_ : &record_partition_;
  if (out->empty()) out->push_back(static_cast<char>(kLogRecordVersion));
  if (*at != partition_) {
    out->push_back(static_cast<char>(LogOpType::kPartition));
    AppendFixed32(out, partition_);
    *at = partition_;
  }
  out->push_back(static_cast<char>(type));
  ++ops_;
  if (partition_ != noted_partition_) {
    noted_partition_ = partition_;
    if (std::find(partitions_.begin(), partitions_.end(), partition_) == partitions_.end()) {
      partitions_.push_back(partition_);
    }
  }
  return out;
}

namespace {

void AppendString16(std::string* out, std::string_view s) {
  HERMOD_CHECK(s.size() <= UINT16_MAX);
  AppendFixed16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}

}  // namespace

void LogWriter::CreateQueue(QueueId queue_id, uint64_t created_ms, std::string_view name) {
  std::string* out = Begin(LogOpType::kCreateQueue);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, created_ms);
  AppendString16(out, name);
}

std::string_view LogWriter::Publish(QueueId queue_id, Seq seq, MsgId msg_id,
                                    const NewEnvelope& envelope, size_t envelope_bytes) {
  std::string* out = BeginPublish(queue_id, seq, msg_id, envelope_bytes);
  size_t start = out->size();
  envelope.Write(out);
  HERMOD_CHECK(out->size() - start == envelope_bytes);
  return std::string_view(*out).substr(start);
}

void LogWriter::PublishEncoded(QueueId queue_id, Seq seq, MsgId msg_id, std::string_view envelope) {
  BeginPublish(queue_id, seq, msg_id, envelope.size())->append(envelope);
}

std::string* LogWriter::BeginPublish(QueueId queue_id, Seq seq, MsgId msg_id,
                                     size_t envelope_bytes) {
  std::string* out = Begin(LogOpType::kPublish);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
  AppendFixed64(out, msg_id);
  AppendFixed32(out, static_cast<uint32_t>(envelope_bytes));
  return out;
}

void LogWriter::Copy(const LogOp& op) {
  In(op.partition);
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
    case LogOpType::kGroupChange:
      return ChangeGroup(op.ToGroupChange());
    case LogOpType::kFanoutStart:
      return StartFanout(op.ToFanoutStart());
    case LogOpType::kFanoutProgress:
      return AdvanceFanout(op.ToFanoutProgress());
    case LogOpType::kFanoutForward:
      return ForwardFanout(op.ToFanoutForward());
    case LogOpType::kFanoutForwarded:
      return FanoutForwarded(op.job_id, op.forward_partition, op.chunk, op.msg_id);
    case LogOpType::kReceiptTally:
      return SetReceiptTally(op.tally);
    case LogOpType::kStage:
      return Stage(op.log_partition, op.epoch, op.offset, op.part_record, op.part_commit_record);
    case LogOpType::kUnstage:
      return Unstage(op.log_partition, op.offset);
    case LogOpType::kTruncatePartition:
      return TruncatePartition(op.log_partition, op.offset);
    case LogOpType::kPartitionEnd:
      return PartitionEnd(op.log_partition, op.epoch, op.offset);
    case LogOpType::kDropPartition:
      return DropPartition(op.log_partition);
    case LogOpType::kFence:
      return Fence(op.log_partition, op.epoch);
    case LogOpType::kPutRows:
      return PutRows(op.log_partition, op.part_record);
    case LogOpType::kRebuiltPartition:
      return RebuiltPartition(op.log_partition, op.epoch, op.offset, op.part_record);
    case LogOpType::kPartition:  // never read as an operation: In() above is it
      return;
  }
}

void LogWriter::Prepend(const LogWriter& earlier) {
  // `earlier`'s records end in the partition they stand at; ours start in
  // partition 0 unless they open with a marker, so one goes between.
  auto prepend = [](std::string* to, PartitionId to_start, const std::string& from,
                    PartitionId from_end) {
    if (from.empty()) return;
    if (to->empty()) {
      *to = from;
      return;
    }
    std::string middle(std::string_view(from).substr(1));  // one version byte is enough
    if (from_end != 0 && to_start == 0) {
      middle.push_back(static_cast<char>(LogOpType::kPartition));
      AppendFixed32(&middle, 0);
    }
    to->insert(1, middle);
  };
  auto start = [](const std::string& record) -> PartitionId {
    if (record.size() >= 6 && static_cast<LogOpType>(record[1]) == LogOpType::kPartition) {
      return DecodeFixed32(record.data() + 2);
    }
    return 0;
  };
  bool record_was_empty = record_.empty();
  bool commit_was_empty = commit_record_.empty();
  prepend(&record_, start(record_), earlier.record_, earlier.record_partition_);
  prepend(&commit_record_, start(commit_record_), earlier.commit_record_,
          earlier.commit_partition_);
  // A record that was empty now ends where `earlier`'s did.
  if (record_was_empty) record_partition_ = earlier.record_partition_;
  if (commit_was_empty) commit_partition_ = earlier.commit_partition_;
  ops_ += earlier.ops_;
  for (PartitionId p : earlier.partitions_) {
    if (std::find(partitions_.begin(), partitions_.end(), p) == partitions_.end()) {
      partitions_.push_back(p);
    }
  }
  noted_partition_ = kNoPartition;
}

void LogWriter::Stage(PartitionId partition, uint64_t epoch, uint64_t offset,
                      std::string_view record, std::string_view commit_record) {
  AppendStaged(Begin(LogOpType::kStage), partition, epoch, offset, record, commit_record);
}

void LogWriter::DropPartition(PartitionId partition) {
  std::string* out = Begin(LogOpType::kDropPartition);
  AppendFixed32(out, partition);
  AppendFixed64(out, 0);
}

void LogWriter::Fence(PartitionId partition, uint64_t epoch) {
  std::string* out = Begin(LogOpType::kFence);
  AppendFixed32(out, partition);
  AppendFixed64(out, epoch);
}

void LogWriter::PutRows(PartitionId partition, std::string_view rows) {
  AppendStaged(Begin(LogOpType::kPutRows), partition, 0, 0, rows, {});
}

void LogWriter::RebuiltPartition(PartitionId partition, uint64_t epoch, uint64_t end_offset,
                                 std::string_view epochs) {
  AppendStaged(Begin(LogOpType::kRebuiltPartition), partition, epoch, end_offset, epochs, {});
}

void LogWriter::AppendStaged(std::string* out, PartitionId partition, uint64_t epoch,
                             uint64_t offset, std::string_view record,
                             std::string_view commit_record) {
  AppendFixed32(out, partition);
  AppendFixed64(out, epoch);
  AppendFixed64(out, offset);
  AppendFixed32(out, static_cast<uint32_t>(record.size()));
  out->append(record);
  AppendFixed32(out, static_cast<uint32_t>(commit_record.size()));
  out->append(commit_record);
}

void LogWriter::Unstage(PartitionId partition, uint64_t through) {
  std::string* out = Begin(LogOpType::kUnstage);
  AppendFixed32(out, partition);
  AppendFixed64(out, through);
}

void LogWriter::TruncatePartition(PartitionId partition, uint64_t to) {
  std::string* out = Begin(LogOpType::kTruncatePartition);
  AppendFixed32(out, partition);
  AppendFixed64(out, to);
}

void LogWriter::PartitionEnd(PartitionId partition, uint64_t epoch, uint64_t end_offset) {
  std::string* out = Begin(LogOpType::kPartitionEnd);
  AppendFixed32(out, partition);
  AppendFixed64(out, epoch);
  AppendFixed64(out, end_offset);
}

void LogWriter::Ack(QueueId queue_id, Seq seq) {
  std::string* out = Begin(LogOpType::kAck);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
}

void LogWriter::Delivered(QueueId queue_id, Seq seq, uint32_t delivery_count) {
  std::string* out = Begin(LogOpType::kDelivered);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
  AppendFixed32(out, delivery_count);
}

void LogWriter::Configure(QueueId queue_id, std::string_view settings) {
  std::string* out = Begin(LogOpType::kConfigure);
  AppendFixed64(out, queue_id);
  AppendFixed32(out, static_cast<uint32_t>(settings.size()));
  out->append(settings);
}

void LogWriter::Dedup(QueueId queue_id, Seq seq, MsgId msg_id, uint64_t time_ms,
                      std::string_view dedup_id) {
  std::string* out = Begin(LogOpType::kDedup);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
  AppendFixed64(out, msg_id);
  AppendFixed64(out, time_ms);
  AppendString16(out, dedup_id);
}

void LogWriter::Entry(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes,
                      uint64_t expires_ms) {
  std::string* out = Begin(LogOpType::kEntry);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
  AppendFixed64(out, msg_id);
  AppendFixed32(out, bytes);
  AppendFixed64(out, expires_ms);
}

void LogWriter::DeleteQueue(QueueId queue_id, std::string_view name) {
  std::string* out = Begin(LogOpType::kDeleteQueue);
  AppendFixed64(out, queue_id);
  AppendString16(out, name);
}

void LogWriter::IndexAck(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes,
                         uint64_t expires_ms) {
  std::string* out = Begin(LogOpType::kIndexAck);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, seq);
  AppendFixed64(out, msg_id);
  AppendFixed32(out, bytes);
  AppendFixed64(out, expires_ms);
}

void LogWriter::DedupExpire(std::string_view key) {
  AppendString16(Begin(LogOpType::kDedupExpire), key);
}

void LogWriter::Purge(QueueId queue_id, Seq from, Seq to) {
  std::string* out = Begin(LogOpType::kPurge);
  AppendFixed64(out, queue_id);
  AppendFixed64(out, from);
  AppendFixed64(out, to);
}

void LogWriter::ChangeGroup(const GroupChange& change) {
  std::string* out = Begin(LogOpType::kGroupChange);
  out->push_back(static_cast<char>(change.kind));
  AppendFixed64(out, change.queue_id);
  AppendFixed64(out, change.group_id);
  AppendFixed64(out, change.created_ms);
  AppendString16(out, change.group);
  AppendString16(out, change.member);
}

void LogWriter::StartFanout(const FanoutStart& start) {
  std::string* out = Begin(LogOpType::kFanoutStart);
  AppendFixed64(out, start.job_id);
  AppendFixed64(out, start.msg_id);
  AppendFixed64(out, start.group_id);
  AppendFixed64(out, start.created_ms);
  AppendFixed32(out, static_cast<uint32_t>(start.envelope.size()));
  out->append(start.envelope);
  AppendFixed32(out, static_cast<uint32_t>(start.members.size()));
  for (QueueId id : start.members) AppendFixed64(out, id);
}

void LogWriter::AdvanceFanout(const FanoutProgress& progress) {
  std::string* out = Begin(LogOpType::kFanoutProgress);
  AppendFixed64(out, progress.job_id);
  AppendFixed64(out, progress.msg_id);
  AppendFixed32(out, progress.cursor);
  AppendFixed32(out, progress.added);
  out->push_back(progress.done ? 1 : 0);
}

void LogWriter::ForwardFanout(const FanoutForward& forward) {
  std::string* out = Begin(LogOpType::kFanoutForward);
  AppendFixed64(out, forward.job_id);
  AppendFixed32(out, forward.partition);
  AppendFixed32(out, forward.chunk);
  AppendFixed64(out, forward.msg_id);
  AppendFixed64(out, forward.group_id);
  out->append(forward.names);
}

void LogWriter::FanoutForwarded(uint64_t job_id, PartitionId partition, uint32_t chunk,
                                MsgId msg_id) {
  std::string* out = Begin(LogOpType::kFanoutForwarded);
  AppendFixed64(out, job_id);
  AppendFixed32(out, partition);
  AppendFixed32(out, chunk);
  AppendFixed64(out, msg_id);
}

void LogWriter::SetReceiptTally(const ReceiptTally& tally) {
  std::string* out = Begin(LogOpType::kReceiptTally);
  AppendFixed64(out, tally.msg_id);
  out->append(tally.EncodeValue());
}

std::string EncodeNames(const std::vector<std::string>& names) {
  std::string out;
  AppendFixed32(&out, static_cast<uint32_t>(names.size()));
  for (const std::string& name : names) AppendString16(&out, name);
  return out;
}

namespace {

// The length of a names blob at the front of `in`; 0 when malformed.
size_t NamesBytes(std::string_view in) {
  if (in.size() < 4) return 0;
  uint32_t count = DecodeFixed32(in.data());
  size_t at = 4;
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < at + 2) return 0;
    at += 2 + DecodeFixed16(in.data() + at);
    if (in.size() < at) return 0;
  }
  return at;
}

}  // namespace

bool DecodeNames(std::string_view blob, std::vector<std::string>* names) {
  if (NamesBytes(blob) != blob.size()) return false;
  uint32_t count = DecodeFixed32(blob.data());
  names->reserve(names->size() + count);
  size_t at = 4;
  for (uint32_t i = 0; i < count; ++i) {
    uint16_t len = DecodeFixed16(blob.data() + at);
    names->emplace_back(blob.substr(at + 2, len));
    at += 2 + len;
  }
  return true;
}

FanoutForward LogOp::ToFanoutForward() const {
  FanoutForward forward;
  forward.job_id = job_id;
  forward.partition = forward_partition;
  forward.chunk = chunk;
  forward.msg_id = msg_id;
  forward.group_id = group_id;
  forward.names.assign(names);
  return forward;
}

GroupChange LogOp::ToGroupChange() const {
  GroupChange change;
  change.kind = group_kind;
  change.group.assign(group);
  change.member.assign(member);
  change.queue_id = queue_id;
  change.group_id = group_id;
  change.created_ms = created_ms;
  return change;
}

FanoutStart LogOp::ToFanoutStart() const {
  FanoutStart start;
  start.job_id = job_id;
  start.msg_id = msg_id;
  start.group_id = group_id;
  start.created_ms = created_ms;
  start.envelope.assign(envelope);
  start.members.reserve(member_ids.size() / 8);
  for (size_t i = 0; i + 8 <= member_ids.size(); i += 8) {
    start.members.push_back(DecodeFixed64(member_ids.data() + i));
  }
  return start;
}

FanoutProgress LogOp::ToFanoutProgress() const {
  return FanoutProgress{job_id, msg_id, cursor, added, done};
}

LogReader::LogReader(std::string_view record, PartitionId partition)
    : rest_(record), partition_(partition) {
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
  while (!rest_.empty() && static_cast<LogOpType>(rest_[0]) == LogOpType::kPartition) {
    if (rest_.size() < 5) return Fail("short kPartition");
    partition_ = DecodeFixed32(rest_.data() + 1);
    rest_.remove_prefix(5);
  }
  if (rest_.empty()) return false;
  op->partition = partition_;
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
    case LogOpType::kGroupChange: {
      if (!need(27)) return Fail("short kGroupChange");
      uint8_t kind = static_cast<uint8_t>(p[0]);
      if (kind > GroupChange::kRemove) return Fail("unknown group change " + std::to_string(kind));
      op->group_kind = static_cast<GroupChange::Kind>(kind);
      op->queue_id = DecodeFixed64(p + 1);
      op->group_id = DecodeFixed64(p + 9);
      op->created_ms = DecodeFixed64(p + 17);
      uint16_t group_len = DecodeFixed16(p + 25);
      if (!need(29u + group_len)) return Fail("short group name");
      op->group = std::string_view(p + 27, group_len);
      uint16_t member_len = DecodeFixed16(p + 27 + group_len);
      if (!need(29u + group_len + member_len)) return Fail("short member name");
      op->member = std::string_view(p + 29 + group_len, member_len);
      p += 29 + group_len + member_len;
      break;
    }
    case LogOpType::kFanoutStart: {
      if (!need(36)) return Fail("short kFanoutStart");
      op->job_id = DecodeFixed64(p);
      op->msg_id = DecodeFixed64(p + 8);
      op->group_id = DecodeFixed64(p + 16);
      op->created_ms = DecodeFixed64(p + 24);
      uint32_t envelope_len = DecodeFixed32(p + 32);
      if (!need(40ull + envelope_len)) return Fail("short fan-out envelope");
      op->envelope = std::string_view(p + 36, envelope_len);
      uint32_t count = DecodeFixed32(p + 36 + envelope_len);
      uint64_t size = 40ull + envelope_len + 8ull * count;
      if (!need(size)) return Fail("short fan-out members");
      op->member_ids = std::string_view(p + 40 + envelope_len, 8ull * count);
      p += size;
      break;
    }
    case LogOpType::kFanoutProgress:
      if (!need(25)) return Fail("short kFanoutProgress");
      op->job_id = DecodeFixed64(p);
      op->msg_id = DecodeFixed64(p + 8);
      op->cursor = DecodeFixed32(p + 16);
      op->added = DecodeFixed32(p + 20);
      op->done = p[24] != 0;
      p += 25;
      break;
    case LogOpType::kFanoutForward: {
      if (!need(32)) return Fail("short kFanoutForward");
      op->job_id = DecodeFixed64(p);
      op->forward_partition = DecodeFixed32(p + 8);
      op->chunk = DecodeFixed32(p + 12);
      op->msg_id = DecodeFixed64(p + 16);
      op->group_id = DecodeFixed64(p + 24);
      size_t names = NamesBytes(std::string_view(p + 32, left - 32));
      if (names == 0) return Fail("short fan-out forward names");
      op->names = std::string_view(p + 32, names);
      p += 32 + names;
      break;
    }
    case LogOpType::kFanoutForwarded:
      if (!need(24)) return Fail("short kFanoutForwarded");
      op->job_id = DecodeFixed64(p);
      op->forward_partition = DecodeFixed32(p + 8);
      op->chunk = DecodeFixed32(p + 12);
      op->msg_id = DecodeFixed64(p + 16);
      p += 24;
      break;
    case LogOpType::kReceiptTally:
      if (!need(24) || !op->tally.DecodeValue(std::string_view(p + 8, 16))) {
        return Fail("short kReceiptTally");
      }
      op->msg_id = op->tally.msg_id = DecodeFixed64(p);
      p += 24;
      break;
    case LogOpType::kStage:
    case LogOpType::kPutRows:
    case LogOpType::kRebuiltPartition: {
      if (!need(24)) return Fail("short kStage");
      op->log_partition = DecodeFixed32(p);
      op->epoch = DecodeFixed64(p + 4);
      op->offset = DecodeFixed64(p + 12);
      uint32_t record_len = DecodeFixed32(p + 20);
      if (!need(28ull + record_len)) return Fail("short staged record");
      op->part_record = std::string_view(p + 24, record_len);
      uint32_t commit_len = DecodeFixed32(p + 24 + record_len);
      if (!need(28ull + record_len + commit_len)) return Fail("short staged commit record");
      op->part_commit_record = std::string_view(p + 28 + record_len, commit_len);
      p += 28 + record_len + commit_len;
      break;
    }
    case LogOpType::kUnstage:
    case LogOpType::kTruncatePartition:
    case LogOpType::kDropPartition:
      if (!need(12)) return Fail("short partition log operation");
      op->log_partition = DecodeFixed32(p);
      op->offset = DecodeFixed64(p + 4);
      p += 12;
      break;
    case LogOpType::kFence:
      if (!need(12)) return Fail("short kFence");
      op->log_partition = DecodeFixed32(p);
      op->epoch = DecodeFixed64(p + 4);
      p += 12;
      break;
    case LogOpType::kPartitionEnd:
      if (!need(20)) return Fail("short kPartitionEnd");
      op->log_partition = DecodeFixed32(p);
      op->epoch = DecodeFixed64(p + 4);
      op->offset = DecodeFixed64(p + 12);
      p += 20;
      break;
    default:
      return Fail("unknown operation type " + std::to_string(static_cast<int>(op->type)));
  }
  op_bytes_ = rest_.substr(0, p - rest_.data());
  rest_.remove_prefix(p - rest_.data());
  return true;
}

Result<std::vector<PartitionRecord>> SplitByPartition(std::string_view record) {
  std::vector<PartitionRecord> out;
  LogReader reader(record);
  LogOp op;
  while (reader.Next(&op)) {
    // Records change partition rarely and hold few: a short scan beats a map.
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const PartitionRecord& r) { return r.partition == op.partition; });
    if (it == out.end()) {
      out.push_back(
          PartitionRecord{op.partition, std::string(1, static_cast<char>(kLogRecordVersion))});
      it = out.end() - 1;
    }
    it->record.append(reader.op_bytes());
  }
  if (!reader.status().ok()) return reader.status();
  std::sort(out.begin(), out.end(), [](const PartitionRecord& a, const PartitionRecord& b) {
    return a.partition < b.partition;
  });
  return out;
}

}  // namespace hermod::store
