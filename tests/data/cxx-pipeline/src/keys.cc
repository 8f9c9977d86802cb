// Keys: distinct `key=value` keys, kept in an ordered map.
#include <map>
#include <regex>
#include <string>

#include "pipeline.h"

std::size_t pipeline::distinct_keys(const std::string& text) {
    const std::regex pair("([a-z_]+)=([^ ]+)");
    std::map<std::string, std::string> keys;
    for (std::sregex_iterator it(text.begin(), text.end(), pair), end; it != end; ++it)
        keys[(*it)[1].str()] = (*it)[2].str();
    return keys.size();
}
