#include "sluice/client/internal/io_thread.h"

#include <cassert>

namespace sluice::client {

io_thread::io_thread() : work_(asio::make_work_guard(io_)) {
    thread_ = std::thread([this] { io_.run(); });
}

io_thread::~io_thread() {
    join();
}

void io_thread::join() {
    assert(!in_this_thread());
    work_.reset();
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace sluice::client
