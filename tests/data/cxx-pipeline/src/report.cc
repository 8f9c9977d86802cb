// The report: every figure of the text on one line.
#include <iomanip>
#include <sstream>
#include <string>

#include "pipeline.h"

std::string pipeline::report(const std::string& text) {
    std::ostringstream out;
    out << "words=" << count_words(text) << " sum=" << sum_numbers(text)
        << " dates=" << count_dates(text) << " keys=" << distinct_keys(text)
        << " run=" << longest_run(text) << " length=" << std::setw(0) << text.size();
    return out.str();
}
