// The topics of this broker: the local metadata source. It validates topic creation and deletion,
// keeps each topic's record on disk (metadata_store.h) and tells the replica manager which
// partitions to open and close. In a cluster the controller's metadata image takes this role.
//
// Its state (the topic records and settings) is touched only before the server runs (load) and
// then on one admin strand, one operation at a time (a strand mutex, since operations suspend
// while partitions' strands close logs), so two of them never work on the same directory at once.
// Request handlers never see it: they read the replica manager's partition image.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "metadata_store.h"
#include "sluice/broker/config.h"
#include "sluice/broker/topic_config.h"
#include "sluice/core/async.h"
#include "sluice/core/replica_manager.h"
#include "sluice/core/topic_admin.h"
#include "sluice/protocol/errc.h"

namespace sluice::broker {

class topic_registry final : public topic_admin {
  public:
    // `blocking` runs topic creation (directories, files, fsyncs) off the network threads.
    topic_registry(boost::asio::io_context& io, const broker_config& config,
                   replica_manager& replicas, executor blocking);

    // Before the server runs: removes orphaned partition directories and opens every topic's
    // partitions (each log recovers in partition_log::open).
    result<void> load();

    awaitable<std::vector<topic_result>> create_topics(std::vector<create_topic_request>&& topics,
                                                       bool validate_only) override;
    awaitable<std::vector<topic_result>> delete_topics(std::vector<std::string>&& names) override;
    // Shutdown: closes every partition log (on its strand) so the next start scans nothing.
    awaitable<void> close_all();

  private:
    struct entry {
        topic_record record;  // name, partition count, replication factor, overrides, id
        topic_settings settings;
    };

    awaitable<std::vector<topic_result>> do_create(std::vector<create_topic_request> topics,
                                                   bool validate_only);
    awaitable<std::vector<topic_result>> do_delete(std::vector<std::string> names);
    awaitable<void> do_close_all();
    // Validates and creates one topic; sets `undo` when partitions were created but the topic
    // record could not be written, so the caller must remove them.
    topic_result create_one(const create_topic_request& req, bool validate_only, bool& undo);

    const broker_config& config_;
    replica_manager& replicas_;
    executor admin_;
    executor blocking_;
    strand_mutex admin_lock_;                           // on admin_
    std::map<std::string, entry, std::less<>> topics_;  // on admin_ (or before the server runs)
};

}  // namespace sluice::broker
