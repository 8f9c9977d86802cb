// Dates: ISO dates (YYYY-MM-DD) with a plausible month and day.
#include <regex>
#include <string>

#include "pipeline.h"

std::size_t pipeline::count_dates(const std::string& text) {
    const std::regex date("([0-9]{4})-([0-9]{2})-([0-9]{2})");
    std::size_t n = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), date), end; it != end; ++it) {
        const int month = std::stoi((*it)[2].str());
        const int day = std::stoi((*it)[3].str());
        if (month >= 1 && month <= 12 && day >= 1 && day <= 31) ++n;
    }
    return n;
}
