// Pistache 0.0.5 writes only typed headers into a response (addRaw ones are silently dropped),
// so the bench's Pistache ceiling (tools/bench/pistache_ceiling.cpp) sends the service's headers
// through this one typed header with a runtime name, as a Pistache application has to.
#pragma once

#include <pistache/http_header.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

namespace order::http {

class NamedHeader final : public Pistache::Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& stream) const override { stream << value_; }
#ifdef SAFE_HEADER_CAST
  std::uint64_t hash() const override {
    return Pistache::Http::Header::detail::hash(name_.c_str());
  }
#endif

 private:
  std::string name_;
  std::string value_;
};

}  // namespace order::http
