#include "envelope.h"

#include <charconv>

#include "keys.h"

namespace hermod::store {

EnvelopeWriter::EnvelopeWriter(std::string* out, uint64_t publish_ms, uint64_t expires_ms,
                               uint16_t n_headers)
    : out_(out) {
  AppendFixed64(out_, publish_ms);
  AppendFixed64(out_, expires_ms);
  AppendFixed16(out_, n_headers);
}

void EnvelopeWriter::Header(std::string_view key, std::string_view value) {
  AppendFixed16(out_, static_cast<uint16_t>(key.size()));
  out_->append(key);
  AppendFixed32(out_, static_cast<uint32_t>(value.size()));
  out_->append(value);
}

void EnvelopeWriter::Payload(std::string_view payload) {
  AppendFixed32(out_, static_cast<uint32_t>(payload.size()));
  out_->append(payload);
}

Result<size_t> NewEnvelope::Bytes() const {
  if (headers.size() + extra_headers.size() > UINT16_MAX) {
    return Status::InvalidArgument("too many headers");
  }
  size_t bytes = EnvelopeWriter::FixedBytes() + payload.size();
  for (std::span<const Header> list : {headers, extra_headers}) {
    for (const Header& h : list) {
      if (h.key.size() > UINT16_MAX) return Status::InvalidArgument("header key too long");
      bytes += EnvelopeWriter::HeaderBytes(h.key.size(), h.value.size());
    }
  }
  return bytes;
}

void NewEnvelope::Write(std::string* out) const {
  EnvelopeWriter writer(out, publish_ms, expires_ms,
                        static_cast<uint16_t>(headers.size() + extra_headers.size()));
  for (const Header& h : headers) writer.Header(h.key, h.value);
  for (const Header& h : extra_headers) writer.Header(h.key, h.value);
  writer.Payload(payload);
}

uint16_t EnvelopeView::Read16(const char* p) { return DecodeFixed16(p); }
uint32_t EnvelopeView::Read32(const char* p) { return DecodeFixed32(p); }

bool EnvelopeView::Parse(std::string_view bytes) {
  if (bytes.size() < EnvelopeWriter::FixedBytes()) return false;
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  publish_ms_ = DecodeFixed64(p);
  expires_ms_ = DecodeFixed64(p + 8);
  n_headers_ = DecodeFixed16(p + 16);
  p += 18;
  const char* headers_begin = p;
  for (uint16_t i = 0; i < n_headers_; ++i) {
    if (end - p < 2) return false;
    uint16_t key_len = DecodeFixed16(p);
    if (end - p < 6 + key_len) return false;
    uint32_t value_len = DecodeFixed32(p + 2 + key_len);
    if (static_cast<uint64_t>(end - p) < 6ull + key_len + value_len) return false;
    p += 6 + key_len + value_len;
  }
  headers_ = std::string_view(headers_begin, p - headers_begin);
  if (end - p < 4) return false;
  uint32_t payload_len = DecodeFixed32(p);
  p += 4;
  if (static_cast<uint64_t>(end - p) != payload_len) return false;
  payload_ = std::string_view(p, payload_len);
  return true;
}

}  // namespace hermod::store

namespace hermod::store {

bool EnvelopeView::FindHeader(std::string_view key, std::string_view* value) const {
  bool found = false;
  ForEachHeader([&](std::string_view k, std::string_view v) {
    if (!found && k == key) {
      *value = v;
      found = true;
    }
  });
  return found;
}

bool EnvelopeView::HasHeaders(std::string_view bytes) {
  // n_headers sits after publish_ms and expires_ms.
  return bytes.size() >= EnvelopeWriter::FixedBytes() && DecodeFixed16(bytes.data() + 16) != 0;
}

uint64_t EnvelopeView::DeliverAtOf(std::string_view bytes) {
  if (!HasHeaders(bytes)) return 0;
  EnvelopeView view;
  return view.Parse(bytes) ? view.DeliverAt() : 0;
}

uint64_t EnvelopeView::DeliverAt() const {
  if (n_headers_ == 0) return 0;
  std::string_view text;
  if (!FindHeader(kDeliverAtHeader, &text)) return 0;
  uint64_t at = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), at);
  return ec == std::errc() && end == text.data() + text.size() ? at : 0;
}

}  // namespace hermod::store
