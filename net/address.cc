#include "address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace hermod::net {

Result<sockaddr_storage> ParseHostPort(std::string_view host_port) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad address '" + std::string(host_port) +
                                   "': " + std::string(why) + " (want HOST:PORT)");
  };
  size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = host_port.substr(0, colon);
  std::string_view port_text = host_port.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return bad("port is not a number from 0 to 65535");
  }
  if (host == "localhost") host = "127.0.0.1";

  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string ip(host.substr(1, host.size() - 2));
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr) != 1) return bad("bad IPv6 host");
    return storage;
  }
  std::string ip(host);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
  in4->sin_family = AF_INET;
  in4->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &in4->sin_addr) != 1)
    return bad("host is not an IPv4 address");
  return storage;
}

std::string HostOf(std::string_view host_port) {
  std::string_view host = host_port.substr(0, host_port.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

std::string FormatAddress(const sockaddr* addr) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  if (addr->sa_family == AF_INET) {
    auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
    return std::string(ip) + ":" + std::to_string(ntohs(in4->sin_port));
  }
  return "?";
}

bool IsLoopback(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) != 0;
  }
  return false;
}

}  // namespace hermod::net
