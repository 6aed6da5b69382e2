// HOST:PORT parsing and formatting for TCP endpoints ("127.0.0.1:7400",
// "[::1]:7400", "localhost:7400"). Pure functions; any thread.
#ifndef HERMOD_NET_ADDRESS_H_
#define HERMOD_NET_ADDRESS_H_

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::net {

// Parses "HOST:PORT" with a numeric IPv4 or bracketed IPv6 host, or
// "localhost". Port 0 is allowed (the kernel picks one when listening).
Result<sockaddr_storage> ParseHostPort(std::string_view host_port);

// Whether a parsed address is a loopback one (127.0.0.0/8, ::1), which
// only processes of this machine reach.
bool IsLoopback(const sockaddr_storage& addr);

// The host of "HOST:PORT", without an IPv6 address's brackets: the name a
// TLS certificate must carry. The whole text when it has no colon.
std::string HostOf(std::string_view host_port);

// Formats an IPv4 or IPv6 socket address as "HOST:PORT".
std::string FormatAddress(const sockaddr* addr);

}  // namespace hermod::net

#endif  // HERMOD_NET_ADDRESS_H_
