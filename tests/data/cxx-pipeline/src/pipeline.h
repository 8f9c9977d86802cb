// The library's interface: each function lives in its own translation unit.
#pragma once
#include <cstdint>
#include <string>

namespace pipeline {
std::size_t count_words(const std::string& text);
std::int64_t sum_numbers(const std::string& text);
std::size_t count_dates(const std::string& text);
std::size_t distinct_keys(const std::string& text);
std::int64_t longest_run(const std::string& text);
std::string report(const std::string& text);
}  // namespace pipeline
