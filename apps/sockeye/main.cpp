// The `sockeye` command: `sockeye serve` runs the echo server with the bundled page;
// `sockeye cert` makes a development certificate.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"Sockeye: a WebSocket server (RFC 6455) with streaming of any message size"};
    app.set_version_flag("--version", std::string("sockeye ") + SOCKEYE_VERSION);
    app.require_subcommand(1);

    const std::vector<sockeye::apps::command_runner> commands = {
        sockeye::apps::add_serve_command(app),   sockeye::apps::add_cert_command(app),
        sockeye::apps::add_connect_command(app), sockeye::apps::add_send_command(app),
        sockeye::apps::add_bench_command(app),
    };

    CLI11_PARSE(app, argc, argv);

    for (const auto& run : commands) {
        const int rc = run();
        if (rc >= 0) return rc;
    }
    return 2;
}
