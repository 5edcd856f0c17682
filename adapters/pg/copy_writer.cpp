#include "adapters/pg/copy_writer.hpp"

#include <array>
#include <charconv>
#include <tuple>

namespace order::pg {
namespace {

// Complete lines of COPY text, already escaped, joined by '\n' without the last one (libpqxx
// adds it).
struct CopyLines {
  std::string_view text;
};

// Rows go out once this much is buffered: a few tens of rows per send.
constexpr std::size_t kFlushBytes = std::size_t{64} * 1024;

// The letter after the backslash for each byte COPY's text format gives a meaning, 0 for the rest.
constexpr std::array<char, 256> kEscapes = [] {
  std::array<char, 256> escapes{};
  escapes['\\'] = '\\';
  escapes['\n'] = 'n';
  escapes['\r'] = 'r';
  escapes['\t'] = 't';
  return escapes;
}();

}  // namespace
}  // namespace order::pg

// stream_to hands each field of a tuple to this escaper and sends the result as one line; for
// CopyLines the "field" is many lines, escaped already, so they go out as they are. (libpqxx
// specialises the same member for nullptr_t.)
template <>
std::string pqxx::internal::TypedCopyEscaper::operator()<order::pg::CopyLines>(
    const order::pg::CopyLines* lines) const {
  return std::string(lines->text);
}

namespace order::pg {

void append_copy_escaped(std::string& out, std::string_view text) {
  std::size_t plain = 0;  // start of the bytes not yet appended
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char escaped = kEscapes[static_cast<unsigned char>(text[i])];
    if (escaped == 0) continue;
    out.append(text.substr(plain, i - plain));
    out.push_back('\\');
    out.push_back(escaped);
    plain = i + 1;
  }
  out.append(text.substr(plain));
}

CopyWriter::CopyWriter(pqxx::transaction_base& tx, const std::string& table,
                       const std::vector<std::string>& columns)
    : out_(tx, table, columns) {
  lines_.reserve(kFlushBytes + kFlushBytes / 4);
}

CopyWriter& CopyWriter::field(std::string_view text) {
  if (!first_field_) lines_.push_back('\t');
  first_field_ = false;
  append_copy_escaped(lines_, text);
  return *this;
}

CopyWriter& CopyWriter::field(std::int64_t value) {
  if (!first_field_) lines_.push_back('\t');
  first_field_ = false;
  char digits[24];
  lines_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  return *this;
}

void CopyWriter::end_row() {
  lines_.push_back('\n');
  row_start_ = lines_.size();
  first_field_ = true;
  if (lines_.size() >= kFlushBytes) flush();
}

void CopyWriter::flush() {
  if (row_start_ == 0) return;
  // Every buffered row but the current one, without the last newline.
  const CopyLines lines{std::string_view(lines_).substr(0, row_start_ - 1)};
  out_ << std::make_tuple(lines);
  lines_.erase(0, row_start_);
  row_start_ = 0;
}

void CopyWriter::complete() {
  flush();
  out_.complete();
}

}  // namespace order::pg
