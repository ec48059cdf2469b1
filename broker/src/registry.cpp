#include "registry.h"

#include <set>

#include <fmt/format.h>
#include <boost/asio/strand.hpp>

#include "sluice/core/logging.h"
#include "sluice/storage/log.h"

namespace sluice::broker {
namespace {

// Releases a strand_mutex when the admin coroutine leaves its scope.
struct admin_guard {
    strand_mutex& m;
    ~admin_guard() { m.unlock(); }
};

}  // namespace

topic_registry::topic_registry(boost::asio::io_context& io, const broker_config& config,
                               replica_manager& replicas, executor blocking)
    : config_(config),
      replicas_(replicas),
      admin_(boost::asio::make_strand(io)),
      blocking_(std::move(blocking)),
      admin_lock_(admin_) {}

result<void> topic_registry::load() {
    auto& fs = *replicas_.config().fs;
    SLUICE_TRY(auto scan, scan_log_dir(fs, config_.log_dir));
    for (const auto& dir : scan.orphans) {
        logging::warn(
            "removing {}: it belongs to no topic (left by an interrupted create or delete)",
            dir.string());
        SLUICE_TRY(storage::partition_log::destroy(fs, dir));
    }
    size_t partitions = 0;
    for (const auto& rec : scan.topics) {
        auto settings = apply_topic_configs(default_topic_settings(config_), rec.configs);
        if (!settings) {
            // Only valid configs are ever stored; a bad one means the file was edited.
            logging::error("topic {}: stored config {}; using the broker defaults", rec.name,
                           settings.error().to_string());
        }
        entry e{rec, settings ? settings.value() : default_topic_settings(config_)};
        if (auto r = replicas_.add_topic(rec.name, rec.partitions, e.settings, false); !r) {
            logging::error("topic {}: cannot open its partitions: {}", rec.name,
                           r.error().message());
            return r.error();
        }
        partitions += size_t(rec.partitions);
        topics_.emplace(rec.name, std::move(e));
    }
    logging::info("loaded {} topics with {} partitions from {}", topics_.size(), partitions,
                  config_.log_dir.string());
    return success();
}

awaitable<std::vector<topic_result>> topic_registry::create_topics(
    std::vector<create_topic_request>&& topics, bool validate_only) {
    return boost::asio::co_spawn(
        admin_,
        [this, topics = std::move(topics), validate_only]() mutable {
            return do_create(std::move(topics), validate_only);
        },
        boost::asio::use_awaitable);
}

awaitable<std::vector<topic_result>> topic_registry::delete_topics(
    std::vector<std::string>&& names) {
    return boost::asio::co_spawn(
        admin_, [this, names = std::move(names)]() mutable { return do_delete(std::move(names)); },
        boost::asio::use_awaitable);
}

awaitable<void> topic_registry::close_all() {
    return boost::asio::co_spawn(
        admin_, [this] { return do_close_all(); }, boost::asio::use_awaitable);
}

awaitable<std::vector<topic_result>> topic_registry::do_create(
    std::vector<create_topic_request> topics, bool validate_only) {
    co_await admin_lock_.lock();
    admin_guard guard{admin_lock_};
    std::vector<topic_result> out;
    std::set<std::string, std::less<>> seen;
    for (const auto& req : topics) {
        if (!seen.insert(req.name).second) {
            out.push_back(
                {req.name, errc::invalid_request,
                 fmt::format("topic '{}' appears more than once in the request", req.name)});
            continue;
        }
        bool undo = false;
        // On the blocking pool: creating the logs makes directories and files and fsyncs them.
        // The admin lock is held throughout, so the registry's state is still touched by one
        // operation at a time.
        auto create = [this, &req, validate_only, &undo] {
            return create_one(req, validate_only, undo);
        };
        out.push_back(co_await run_on(blocking_, create));
        if (undo) {
            co_await replicas_.remove_topic(req.name);
        }
    }
    co_return out;
}

topic_result topic_registry::create_one(const create_topic_request& req, bool validate_only,
                                        bool& undo) {
    topic_result res{req.name, errc::none, ""};
    auto fail = [&](errc e, std::string message) {
        res.error = e;
        res.message = std::move(message);
        return res;
    };
    if (auto why = topic_name_problem(req.name)) {
        return fail(errc::invalid_topic, *why);
    }
    if (topics_.contains(req.name)) {
        return fail(errc::topic_already_exists, fmt::format("topic '{}' already exists", req.name));
    }
    int32_t partitions = req.partitions == -1 ? config_.num_partitions : req.partitions;
    if (partitions < 1 || partitions > partitions_per_topic_max) {
        return fail(errc::invalid_partitions,
                    fmt::format("number of partitions must be from 1 to {} (or -1 for the "
                                "broker's num.partitions); got {}",
                                partitions_per_topic_max, req.partitions));
    }
    size_t held = 0;
    for (const auto& [name, e] : topics_) {
        held += size_t(e.record.partitions);
    }
    if (held + size_t(partitions) > size_t(config_.max_partitions)) {
        return fail(errc::invalid_partitions,
                    fmt::format("this broker holds {} partitions; {} more would pass "
                                "max.partitions ({})",
                                held, partitions, config_.max_partitions));
    }
    int16_t rf =
        req.replication_factor == -1 ? config_.default_replication_factor : req.replication_factor;
    if (rf < 1) {
        return fail(errc::invalid_replication_factor,
                    fmt::format("replication factor must be at least 1 (or -1 for the broker's "
                                "default.replication.factor); got {}",
                                req.replication_factor));
    }
    if (rf > 1) {
        return fail(errc::invalid_replication_factor,
                    fmt::format("replication factor {} is larger than the 1 available broker", rf));
    }
    if (!req.duplicate_config.empty()) {
        return fail(errc::invalid_config,
                    fmt::format("config '{}' is given more than once", req.duplicate_config));
    }
    auto settings = apply_topic_configs(default_topic_settings(config_), req.configs);
    if (!settings) {
        return fail(errc::invalid_config, settings.error().to_string());
    }
    if (validate_only) {
        return res;
    }
    topic_record rec{req.name, partitions, rf, req.configs, new_topic_id()};
    if (auto opened = replicas_.add_topic(req.name, partitions, settings.value(), true); !opened) {
        logging::error("creating topic {}: {}", req.name, opened.error().message());
        return fail(errc::kafka_storage_error,
                    fmt::format("cannot create the partition logs: {}", opened.error().message()));
    }
    // The topic record is the commit point: without it the directories are orphans.
    if (auto w = write_topic_record(*replicas_.config().fs, config_.log_dir, rec); !w) {
        logging::error("creating topic {}: writing its record: {}", req.name, w.error().message());
        undo = true;  // the caller removes the partitions (that suspends), under the admin lock
        return fail(errc::kafka_storage_error,
                    fmt::format("cannot write the topic record: {}", w.error().message()));
    }
    topics_.emplace(req.name, entry{rec, settings.value()});
    logging::info(
        "created topic {} with {} partitions{}", req.name, partitions,
        req.configs.empty() ? "" : fmt::format(" and {} config overrides", req.configs.size()));
    return res;
}

awaitable<std::vector<topic_result>> topic_registry::do_delete(std::vector<std::string> names) {
    co_await admin_lock_.lock();
    admin_guard guard{admin_lock_};
    std::vector<topic_result> out;
    std::set<std::string, std::less<>> seen;
    for (const auto& name : names) {
        if (!seen.insert(name).second) {
            out.push_back({name, errc::invalid_request,
                           fmt::format("topic '{}' appears more than once in the request", name)});
            continue;
        }
        auto it = topics_.find(name);
        if (it == topics_.end()) {
            out.push_back({name, errc::unknown_topic_or_partition,
                           fmt::format("topic '{}' does not exist", name)});
            continue;
        }
        // The commit point: once the record is gone the topic is gone, even after a crash.
        auto removed = remove_topic_record(*replicas_.config().fs, config_.log_dir, name);
        if (!removed) {
            logging::error("deleting topic {}: {}", name, removed.error().message());
            out.push_back(
                {name, errc::kafka_storage_error,
                 fmt::format("cannot remove the topic record: {}", removed.error().message())});
            continue;
        }
        topics_.erase(it);
        co_await replicas_.remove_topic(name);
        logging::info("deleted topic {}", name);
        out.push_back({name, errc::none, ""});
    }
    co_return out;
}

awaitable<void> topic_registry::do_close_all() {
    co_await admin_lock_.lock();
    admin_guard guard{admin_lock_};
    co_await replicas_.close_all();
}

}  // namespace sluice::broker
