// Rows into `COPY table (columns) FROM STDIN` in PostgreSQL's text format, escaped here and handed
// to the server tens of kilobytes at a time. libpqxx 6.4's stream_to escapes each field byte by
// byte into strings of its own and sends a row per call: on a rebuild that was the most expensive
// thing the client did.
#pragma once

#include <cstdint>
#include <pqxx/stream_to>
#include <pqxx/transaction_base>
#include <string>
#include <string_view>
#include <vector>

namespace order::pg {

class CopyWriter {
 public:
  CopyWriter(pqxx::transaction_base& tx, const std::string& table,
             const std::vector<std::string>& columns);

  // The next field of the current row, as text (escaped here) or a number.
  CopyWriter& field(std::string_view text);
  CopyWriter& field(std::int64_t value);
  void end_row();

  // Sends what is buffered and ends the COPY; the server's error, if any, is thrown here.
  void complete();

 private:
  void flush();

  pqxx::stream_to out_;
  std::string lines_;  // whole rows, each ending in '\n', then the current row's fields
  std::size_t row_start_ = 0;
  bool first_field_ = true;
};

// `text` with the bytes COPY's text format gives a meaning escaped: backslash, newline, carriage
// return and tab.
void append_copy_escaped(std::string& out, std::string_view text);

}  // namespace order::pg
