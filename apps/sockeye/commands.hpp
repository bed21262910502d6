// The `sockeye` subcommands. Each registers its options on the app and returns the
// function that runs it once the command line is parsed.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace sockeye::apps {

using command_runner = std::function<int()>;

command_runner add_serve_command(CLI::App& app);
command_runner add_cert_command(CLI::App& app);
command_runner add_connect_command(CLI::App& app);
command_runner add_send_command(CLI::App& app);
command_runner add_bench_command(CLI::App& app);

}  // namespace sockeye::apps
