// Base64 (RFC 4648, standard alphabet, padded): how etcd's JSON gateway
// carries keys and values, which are bytes (Go's encoding/json encodes a
// []byte this way).
//
// OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the work (libssl-dev is a
// build dependency already); these wrappers size the buffers and undo
// EVP_DecodeBlock's habit of counting padding as decoded zero bytes.
// Pure functions; any thread.
#ifndef HERMOD_CLUSTER_BASE64_H_
#define HERMOD_CLUSTER_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace hermod::cluster {

// Encodes any bytes, including empty input (the empty string).
std::string Base64Encode(std::string_view bytes);

// Decodes padded standard base64. nullopt when `text` is not that (a
// length that is not a multiple of 4, a character outside the alphabet,
// padding in the middle).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_BASE64_H_
