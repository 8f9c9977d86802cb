// Numbers: every decimal integer in the text, summed.
#include <regex>
#include <sstream>
#include <string>

#include "pipeline.h"

std::int64_t pipeline::sum_numbers(const std::string& text) {
    const std::regex number("-?[0-9]+");
    std::int64_t sum = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it) {
        std::istringstream in(it->str());
        std::int64_t n = 0;
        in >> n;
        sum += n;
    }
    return sum;
}
