// Envelope: how a message is stored, in the log and in the messages table.
//
//   publish_ms  u64   broker clock at publish, ms since the epoch
//   expires_ms  u64   0: never
//   n_headers   u16
//   n_headers × { key_len u16, key, value_len u32, value }
//   payload_len u32, payload
//
// All integers little-endian. The store writes envelopes from a NewEnvelope
// (views of the publish's parts, written once, straight into the log
// record); readers parse them in place with EnvelopeView. Pure functions and
// views; any thread.
#ifndef HERMOD_BROKER_STORE_ENVELOPE_H_
#define HERMOD_BROKER_STORE_ENVELOPE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::store {

// A message header; views into memory the caller keeps.
struct Header {
  std::string_view key;
  std::string_view value;
};

// Headers the broker writes itself after a publish's own (NewEnvelope::
// extra_headers) and acts on; a publish may not carry them
// (docs/semantics.md). Their values are text: decimal numbers, names.
inline constexpr std::string_view kDeliverAtHeader = "x-hermod-deliver-at";  // wall ms
inline constexpr std::string_view kReceiptToHeader = "x-hermod-receipt-to";  // a queue
inline constexpr std::string_view kReceiptModeHeader = "x-hermod-receipt";   // "all"
// On a group publish's copy forwarded to another partition: the message id
// its publisher was given, for the receipts made there.
inline constexpr std::string_view kReceiptMsgIdHeader = "x-hermod-receipt-msg-id";
inline bool IsActionHeader(std::string_view key) {
  return key == kDeliverAtHeader || key == kReceiptToHeader || key == kReceiptModeHeader ||
         key == kReceiptMsgIdHeader;
}

// What a new envelope holds: views of the publish's parts (and, for a
// dead-lettered copy, the headers that say where it came from, written after
// the original ones). Valid while the viewed memory is.
struct NewEnvelope {
  uint64_t publish_ms = 0;
  uint64_t expires_ms = 0;  // 0: never
  std::span<const Header> headers;
  std::span<const Header> extra_headers;
  std::string_view payload;

  // The encoded size, or kInvalidArgument when the headers cannot be stored
  // (more than 65,535, or a key over 65,535 bytes).
  Result<size_t> Bytes() const;
  // Appends the envelope, exactly Bytes() long. REQUIRES: Bytes().ok().
  void Write(std::string* out) const;
};

// Appends an envelope to *out, field by field:
//   EnvelopeWriter w(out, publish_ms, expires_ms, n_headers);
//   w.Header(k, v); ...            // exactly n_headers times
//   w.Payload(bytes);
class EnvelopeWriter {
 public:
  EnvelopeWriter(std::string* out, uint64_t publish_ms, uint64_t expires_ms, uint16_t n_headers);
  void Header(std::string_view key, std::string_view value);
  void Payload(std::string_view payload);

  // Bytes an envelope with these contents takes, to reserve space up front.
  static size_t FixedBytes() { return 8 + 8 + 2 + 4; }
  static size_t HeaderBytes(size_t key, size_t value) { return 2 + 4 + key + value; }

 private:
  std::string* out_;
};

// A parsed view of an encoded envelope. Valid while the bytes it was parsed
// from are.
class EnvelopeView {
 public:
  // Returns false when the bytes are not a well-formed envelope.
  bool Parse(std::string_view bytes);

  uint64_t publish_ms() const { return publish_ms_; }
  uint64_t expires_ms() const { return expires_ms_; }
  uint16_t header_count() const { return n_headers_; }
  std::string_view payload() const { return payload_; }

  // The value of the first header named `key`; false when there is none.
  bool FindHeader(std::string_view key, std::string_view* value) const;
  // The time a scheduled entry becomes deliverable (kDeliverAtHeader), or 0.
  uint64_t DeliverAt() const;
  // The same, of an encoded envelope: delivery's hot path. An envelope
  // without headers answers 0 without being parsed; a malformed one, 0.
  static uint64_t DeliverAtOf(std::string_view bytes);
  // Whether encoded envelope bytes carry any header, without parsing them:
  // the per-message paths (delivery, ack) look no further when not.
  static bool HasHeaders(std::string_view bytes);

  // Calls fn(key, value) for each header, in order.
  template <typename Fn>
  void ForEachHeader(Fn&& fn) const {
    const char* p = headers_.data();
    for (uint16_t i = 0; i < n_headers_; ++i) {
      uint16_t key_len = Read16(p);
      std::string_view key(p + 2, key_len);
      uint32_t value_len = Read32(p + 2 + key_len);
      std::string_view value(p + 6 + key_len, value_len);
      fn(key, value);
      p += 6 + key_len + value_len;
    }
  }

 private:
  static uint16_t Read16(const char* p);
  static uint32_t Read32(const char* p);

  uint64_t publish_ms_ = 0;
  uint64_t expires_ms_ = 0;
  uint16_t n_headers_ = 0;
  std::string_view headers_;
  std::string_view payload_;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_ENVELOPE_H_
