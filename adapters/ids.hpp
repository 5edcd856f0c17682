// Random identifiers (UUID version 4) for requests and correlation.
#pragma once

#include <string>

namespace order {

std::string new_uuid();

}  // namespace order
