// `sockeye serve --exec 'PROGRAM ARGS...'`: the command line split into the program's
// argv, with a few shell-like quoting rules and nothing else — no shell runs, so no
// variables, globs, pipes, redirections or `;` (those are ordinary characters here;
// --exec-shell runs the line with /bin/sh -c instead).
//
//   - words are separated by unquoted spaces, tabs and newlines;
//   - '...' keeps everything inside as it is (no escapes at all);
//   - "..." keeps everything inside, except that a backslash before ", \, $ or ` stands
//     for that character (other backslashes stay);
//   - outside quotes a backslash takes the next character literally;
//   - quoted and unquoted parts next to each other make one word (a'b'"c" is abc), and
//     '' or "" is an empty word.
//
// An unterminated quote, a trailing backslash or a line without words is an error.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::apps {

struct split_command_result {
    std::vector<std::string> argv;  // empty on error
    std::string error;              // why the line cannot be split; empty on success
};

split_command_result split_command(std::string_view line);

}  // namespace sockeye::apps
