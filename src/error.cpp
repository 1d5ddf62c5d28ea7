#include <tracker/error.hpp>

#include <cerrno>
#include <cstring>

namespace tracker {

void throw_errno(const std::string& context) {
  throw IoError(context + ": " + std::strerror(errno));
}

}  // namespace tracker
