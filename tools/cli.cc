// Shared helpers of the `hermod` CLI (see cli.h).
#include "cli.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "duration.h"
#include "token_file.h"

namespace hermod::cli {

int Fail(std::string_view message) {
  std::string line = "hermod: ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  return kExitError;
}

std::string FormatParseError(const CLI::App* /*app*/, const CLI::Error& error) {
  std::string line = "hermod: ";
  for (const char* c = error.what(); *c != '\0'; ++c) line += (*c == '\n' || *c == '\r') ? ' ' : *c;
  line += " (see --help)\n";
  return line;
}

CLI::Validator DurationValidator() {
  // An empty description: options name their type "DURATION" themselves.
  return CLI::Validator([](std::string& text) { return CheckDuration(text); }, "");
}

std::chrono::milliseconds DurationValue(const std::string& text) {
  Result<std::chrono::milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? *parsed : std::chrono::milliseconds(0);
}

ClientOptions CommandClientOptions(std::string_view client_name) {
  ClientOptions options;
  options.client_name = std::string(client_name);
  options.reconnect_max_delay = std::chrono::seconds(2);
  options.max_reconnect_attempts = kReconnectAttempts;
  return options;
}

Result<std::string> AuthToken(const GlobalOptions& global) {
  if (!global.token_file.empty()) {
    Result<std::vector<std::string>> tokens = ReadTokenFile(global.token_file);
    if (!tokens.ok()) return tokens.status();
    return std::move(tokens->front());
  }
  const char* env = std::getenv("HERMOD_TOKEN");
  return std::string(env != nullptr ? env : "");
}

void ApplyTls(const GlobalOptions& global, ClientOptions* options) {
  options->tls = global.tls;
  options->tls_ca = global.tls_ca;
  options->tls_server_name = global.tls_server_name;
  options->tls_cert = global.tls_cert;
  options->tls_key = global.tls_key;
}

std::unique_ptr<Client> ConnectOrReport(const GlobalOptions& global, ClientOptions options) {
  options.server = global.server;
  Result<std::string> token = AuthToken(global);
  if (!token.ok()) {
    Fail("--token-file: " + token.status().message());
    return nullptr;
  }
  options.auth_token = std::move(*token);
  options.principal = global.user;
  ApplyTls(global, &options);
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    // libhermod's connect errors already read "cannot connect to HOST:PORT:
    // ..."; other failures (a bad address) explain themselves.
    Fail(client.status().message());
    return nullptr;
  }
  return std::move(*client);
}

bool WriteOut(std::string_view text) {
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    return false;
  }
  return std::fflush(stdout) == 0;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), value < 10 ? "%.1f %s" : "%.0f %s", value, kUnits[unit]);
  return text;
}

std::string FormatMillis(uint64_t ms) {
  char text[48];
  if (ms < 1000) {
    std::snprintf(text, sizeof(text), "%" PRIu64 "ms", ms);
  } else if (ms < 60 * 1000) {
    std::snprintf(text, sizeof(text), "%.1fs", static_cast<double>(ms / 100) / 10);
  } else if (ms < 3600 * 1000) {
    std::snprintf(text, sizeof(text), "%" PRIu64 "m%02" PRIu64 "s", ms / 60000, ms / 1000 % 60);
  } else if (ms < 86400 * 1000) {
    std::snprintf(text, sizeof(text), "%" PRIu64 "h%02" PRIu64 "m", ms / 3600000, ms / 60000 % 60);
  } else {
    std::snprintf(text, sizeof(text), "%" PRIu64 "d%02" PRIu64 "h", ms / 86400000,
                  ms / 3600000 % 24);
  }
  return text;
}

std::string FormatTime(uint64_t ms_since_epoch) {
  if (ms_since_epoch == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms_since_epoch / 1000);
  std::tm utc{};
  if (gmtime_r(&seconds, &utc) == nullptr) return "-";
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return "0";
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof(text), "%.0f", value);
    return text;
  }
  std::snprintf(text, sizeof(text), "%.2f", value);
  std::string out = text;
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

namespace {

// Characters a terminal shows for s: UTF-8 continuation bytes do not count.
size_t DisplayWidth(std::string_view s) {
  size_t width = 0;
  for (char c : s) width += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return width;
}

}  // namespace

Table::Table(std::vector<std::string> headers, std::vector<bool> right)
    : headers_(std::move(headers)), right_(std::move(right)) {
  right_.resize(headers_.size(), false);
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Format(bool header_if_empty) const {
  if (rows_.empty() && !header_if_empty) return "";
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const size_t pad = widths[c] - DisplayWidth(row[c]);
      const bool last = c + 1 == row.size();
      if (c > 0) line += "  ";
      if (right_[c]) line.append(pad, ' ');
      line += row[c];
      if (!right_[c] && !last) line.append(pad, ' ');
    }
    out += line;
    out += '\n';
  };
  append_row(headers_);
  for (const auto& row : rows_) append_row(row);
  return out;
}

Json EntryJson(std::string_view queue, uint64_t seq, uint64_t msg_id, uint32_t delivery_count) {
  Json j;
  j["queue"] = std::string(queue);
  j["seq"] = seq;
  j["id"] = msg_id;
  j["delivery_count"] = delivery_count;
  return j;
}

void WithBody(Json* object, const std::vector<Header>& headers, std::string_view payload) {
  Json& map = (*object)["headers"] = Json::object();
  for (const Header& h : headers) map[h.key] = h.value;
  SetPayload(object, payload);
}

}  // namespace hermod::cli
