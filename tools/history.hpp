// order-admin history: the audit trail of an order or of a user's orders, as a table or JSON.
#pragma once

#include <iosfwd>
#include <vector>

#include "commands/event_store.hpp"

namespace order::admin {

// A table for people: one line per event, what changed, who did it, when.
void print_history_table(std::ostream& out, const std::vector<commands::HistoryEntry>& entries);
// One JSON document per line, every field of the log.
void print_history_json(std::ostream& out, const std::vector<commands::HistoryEntry>& entries);

}  // namespace order::admin
