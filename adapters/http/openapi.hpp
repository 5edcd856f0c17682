// The service's OpenAPI document (schema/openapi.yaml), embedded at build time.
#pragma once

#include <string>

namespace order::http {

const std::string& openapi_document();

}  // namespace order::http
