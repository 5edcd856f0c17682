// The audit page's files (adapters/http/audit/), embedded at build time by audit/embed.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace order::http {

struct EmbeddedFile {
  std::string_view name;  // "index.html", "audit.js", …
  std::string_view body;
};

const std::vector<EmbeddedFile>& audit_files();

}  // namespace order::http
