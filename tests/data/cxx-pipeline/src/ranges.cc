// Runs: the longest run of one repeated character.
#include <algorithm>
#include <string>
#include <vector>

#include "pipeline.h"

std::int64_t pipeline::longest_run(const std::string& text) {
    std::vector<std::int64_t> runs;
    std::int64_t run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        run = (i > 0 && text[i] == text[i - 1]) ? run + 1 : 1;
        runs.push_back(run);
    }
    return runs.empty() ? 0 : *std::max_element(runs.begin(), runs.end());
}
