// SIGINT/SIGTERM as a stop request for the long-running subcommands (consume, perf): the handler
// only sets a flag, which the command's loop checks between polls.
#pragma once

namespace sluice::cli {

// Installs the handlers (without SA_RESTART, so blocking reads see EINTR).
void install_stop_signals();

// True once SIGINT or SIGTERM arrived.
bool stop_requested();

}  // namespace sluice::cli
