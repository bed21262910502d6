#include "exec_command.hpp"

namespace sockeye::apps {

split_command_result split_command(std::string_view line) {
    split_command_result r;
    std::string word;
    bool in_word = false;  // a word has begun (possibly empty, from '' or "")
    std::size_t i = 0;
    auto fail = [&r](std::string why) {
        r.argv.clear();
        r.error = std::move(why);
        return r;
    };
    while (i < line.size()) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                r.argv.push_back(std::move(word));
                word.clear();
                in_word = false;
            }
            ++i;
        } else if (c == '\'') {
            const std::size_t end = line.find('\'', i + 1);
            if (end == std::string_view::npos) {
                return fail("unterminated single quote at offset " + std::to_string(i));
            }
            word.append(line.substr(i + 1, end - i - 1));
            in_word = true;
            i = end + 1;
        } else if (c == '"') {
            const std::size_t open = i++;
            for (;;) {
                if (i >= line.size()) {
                    return fail("unterminated double quote at offset " + std::to_string(open));
                }
                const char d = line[i];
                if (d == '"') {
                    ++i;
                    break;
                }
                if (d == '\\' && i + 1 < line.size()) {
                    const char e = line[i + 1];
                    if (e == '"' || e == '\\' || e == '$' || e == '`') {
                        word += e;
                        i += 2;
                        continue;
                    }
                }
                word += d;
                ++i;
            }
            in_word = true;
        } else if (c == '\\') {
            if (i + 1 >= line.size()) return fail("trailing backslash");
            word += line[i + 1];
            in_word = true;
            i += 2;
        } else {
            word += c;
            in_word = true;
            ++i;
        }
    }
    if (in_word) r.argv.push_back(std::move(word));
    if (r.argv.empty()) return fail("no program given");
    return r;
}

}  // namespace sockeye::apps
