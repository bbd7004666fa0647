// libFuzzer target: request heads from a hostile client never crash the
// parser, never make it keep more than its limit, and a complete head yields
// a path that starts with '/'. The input is fed in pieces, as sockets do.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t piece = 1 + data[0] % 64;  // first byte: how the input is split
  diskidle::http::RequestParser parser(diskidle::http::RequestLimits{256, 1024, 8});
  using State = diskidle::http::RequestParser::State;
  State state = State::kIncomplete;
  for (size_t i = 0; i < input.size() && state == State::kIncomplete; i += piece) {
    state = parser.Feed(input.substr(i, piece));
  }
  if (state == State::kComplete) {
    const auto& request = parser.request();
    if (request.path.empty() || request.path[0] != '/' || request.headers.size() > 8) abort();
  }
  if (state == State::kError && parser.error_status() < 400) abort();
  return 0;
}
