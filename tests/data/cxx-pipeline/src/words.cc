// Words: runs of letters, found with a regex.
#include <iterator>
#include <regex>
#include <string>

#include "pipeline.h"

std::size_t pipeline::count_words(const std::string& text) {
    const std::regex word("[A-Za-z]+");
    return static_cast<std::size_t>(
        std::distance(std::sregex_iterator(text.begin(), text.end(), word), std::sregex_iterator()));
}
