#include "metrics_text.h"

#include <cstdio>

namespace hermod::server {

namespace {

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class Exposition {
 public:
  void Header(std::string_view name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void Sample(std::string_view name, const std::string& labels, double value) {
    char number[64];
    std::snprintf(number, sizeof(number), "%.17g", value);
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += number;
    out_ += '\n';
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string MetricsText(const std::vector<core::StatValue>& stats,
                        const std::vector<std::pair<std::string, uint64_t>>& deepest_queues) {
  Exposition e;
  std::string labels;
  for (const core::StatValue& v : stats) {
    if (v.text.empty()) continue;
    if (!labels.empty()) labels += ',';
    labels += std::string(v.name) + "=\"" + EscapeLabel(v.text) + "\"";
  }
  e.Header("hermod_build_info", "gauge", "Build information; the value is always 1.");
  e.Sample("hermod_build_info", labels, 1);
  for (const core::StatValue& v : stats) {
    if (!v.text.empty()) continue;
    std::string name = std::string("hermod_") + v.name;
    e.Header(name, v.type, v.help);
    e.Sample(name, "", v.value);
  }
  e.Header("hermod_queue_depth", "gauge",
           "Entries in a queue; only the deepest queues (--metrics-top-queues) are listed.");
  for (const auto& [name, depth] : deepest_queues) {
    e.Sample("hermod_queue_depth", "queue=\"" + EscapeLabel(name) + "\"",
             static_cast<double>(depth));
  }
  return e.Take();
}

}  // namespace hermod::server
