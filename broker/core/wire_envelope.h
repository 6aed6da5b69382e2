// From a Publish frame to a stored envelope (store/envelope.h): sizing it
// up front (the envelope is written once, straight into where it is kept)
// and writing it. Pure functions; any thread.
#ifndef HERMOD_BROKER_CORE_WIRE_ENVELOPE_H_
#define HERMOD_BROKER_CORE_WIRE_ENVELOPE_H_

#include <cstdint>
#include <string>

#include "frame_codec.h"
#include "hermod/status.h"

namespace hermod::core {

// The envelope's size for this publish, or kInvalidArgument when its
// headers cannot be stored (too many, or a key too long).
Result<size_t> EnvelopeBytes(const wire::Publish& publish);

// Appends the envelope, exactly EnvelopeBytes() long, to *out.
void WriteEnvelope(const wire::Publish& publish, uint64_t publish_ms, uint64_t expires_ms,
                   std::string* out);

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_WIRE_ENVELOPE_H_
