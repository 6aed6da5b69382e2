#include "wire_envelope.h"

#include "envelope.h"

namespace hermod::core {

Result<size_t> EnvelopeBytes(const wire::Publish& publish) {
  const auto* headers = publish.headers();
  size_t n_headers = headers ? headers->size() : 0;
  if (n_headers > UINT16_MAX) return Status::InvalidArgument("too many headers");
  size_t bytes = store::EnvelopeWriter::FixedBytes() + proto::View(publish.payload()).size();
  for (size_t i = 0; i < n_headers; ++i) {
    const wire::Header* h = headers->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (h->key()->size() > UINT16_MAX) return Status::InvalidArgument("header key too long");
    bytes += store::EnvelopeWriter::HeaderBytes(h->key()->size(), proto::View(h->value()).size());
  }
  return bytes;
}

void WriteEnvelope(const wire::Publish& publish, uint64_t publish_ms, uint64_t expires_ms,
                   std::string* out) {
  const auto* headers = publish.headers();
  size_t n_headers = headers ? headers->size() : 0;
  store::EnvelopeWriter writer(out, publish_ms, expires_ms, static_cast<uint16_t>(n_headers));
  for (size_t i = 0; i < n_headers; ++i) {
    const wire::Header* h = headers->Get(static_cast<flatbuffers::uoffset_t>(i));
    writer.Header(proto::View(h->key()), proto::View(h->value()));
  }
  writer.Payload(proto::View(publish.payload()));
}

}  // namespace hermod::core
