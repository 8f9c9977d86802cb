// pipeline-demo: prints its version and the report of a fixed text, or with
// --version only the version.
#include <iostream>
#include <string>

#include "pipeline.h"

int main(int argc, char** argv) {
    std::cout << "pipeline-demo 1.0";
    if (argc > 1 && std::string(argv[1]) == "--version") {
        std::cout << "\n";
        return 0;
    }
    const std::string text = "run=1 seed=42 on 2026-12-01 and 2026-13-40: 7 words, aaa -3";
    std::cout << ": " << pipeline::report(text) << "\n";
    return 0;
}
