#include "registry.h"

#include <set>

#include <fmt/format.h>
#include <boost/asio/strand.hpp>

#include "sluice/broker/logging.h"
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
                               storage::flusher& flusher)
    : io_(io),
      config_(config),
      flusher_(flusher),
      admin_(boost::asio::make_strand(io)),
      admin_lock_(admin_),
      image_(std::make_shared<const registry_image>()) {}

void topic_registry::publish(
    std::map<std::string, std::shared_ptr<const topic>, std::less<>> topics) {
    auto next = std::make_shared<registry_image>();
    next->version = version_.load(std::memory_order_relaxed) + 1;
    next->topics = std::move(topics);
    uint64_t v = next->version;
    image_.store(std::move(next));
    version_.store(v, std::memory_order_release);
}

result<std::shared_ptr<topic>> topic_registry::open_topic(const topic_record& rec,
                                                          const topic_settings& settings,
                                                          bool create) {
    auto t = std::make_shared<topic>();
    t->record = rec;
    t->settings = settings;
    for (int32_t p = 0; p < rec.partitions; ++p) {
        partition::options o;
        o.topic = rec.name;
        o.id = p;
        o.dir = partition_dir(config_.log_dir, rec.name, p);
        o.settings = settings;
        o.flusher = &flusher_;
        o.create = create;
        auto opened = partition::open(boost::asio::make_strand(io_), std::move(o));
        if (!opened) {
            // Not published yet, so this thread may still touch them.
            for (auto& done : t->partitions) {
                if (create) {
                    done->remove();
                } else {
                    done->close(errc::unknown_topic_or_partition);
                }
            }
            return opened.error();
        }
        t->partitions.push_back(std::move(opened).value());
    }
    return t;
}

result<void> topic_registry::load() {
    auto& fs = storage::posix_file_system();
    SLUICE_TRY(auto scan, scan_log_dir(fs, config_.log_dir));
    for (const auto& dir : scan.orphans) {
        logging::warn(
            "removing {}: it belongs to no topic (left by an interrupted create or delete)",
            dir.string());
        SLUICE_TRY(storage::partition_log::destroy(fs, dir));
    }
    std::map<std::string, std::shared_ptr<const topic>, std::less<>> topics;
    for (const auto& rec : scan.topics) {
        auto settings = apply_topic_configs(default_topic_settings(config_), rec.configs);
        if (!settings) {
            // Only valid configs are ever stored; a bad one means the file was edited.
            logging::error("topic {}: stored config {}; using the broker defaults", rec.name,
                           settings.error().to_string());
        }
        auto t =
            open_topic(rec, settings ? settings.value() : default_topic_settings(config_), false);
        if (!t) {
            logging::error("topic {}: cannot open its partitions: {}", rec.name,
                           t.error().message());
            return t.error();
        }
        topics.emplace(rec.name, std::move(t).value());
    }
    size_t partitions = 0;
    for (const auto& [name, t] : topics) {
        partitions += t->partitions.size();
    }
    logging::info("loaded {} topics with {} partitions from {}", topics.size(), partitions,
                  config_.log_dir.string());
    publish(std::move(topics));
    return success();
}

awaitable<std::vector<topic_registry::topic_result>> topic_registry::create_topics(
    std::vector<create_request>&& topics, bool validate_only) {
    return boost::asio::co_spawn(
        admin_,
        [this, topics = std::move(topics), validate_only]() mutable {
            return do_create(std::move(topics), validate_only);
        },
        boost::asio::use_awaitable);
}

awaitable<std::vector<topic_registry::topic_result>> topic_registry::delete_topics(
    std::vector<std::string>&& names) {
    return boost::asio::co_spawn(
        admin_, [this, names = std::move(names)]() mutable { return do_delete(std::move(names)); },
        boost::asio::use_awaitable);
}

awaitable<void> topic_registry::close_all() {
    return boost::asio::co_spawn(
        admin_, [this] { return do_close_all(); }, boost::asio::use_awaitable);
}

awaitable<std::vector<topic_registry::topic_result>> topic_registry::do_create(
    std::vector<create_request> topics, bool validate_only) {
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
        out.push_back(create_one(req, validate_only));
    }
    co_return out;
}

topic_registry::topic_result topic_registry::create_one(const create_request& req,
                                                        bool validate_only) {
    topic_result res{req.name, errc::none, ""};
    auto fail = [&](errc e, std::string message) {
        res.error = e;
        res.message = std::move(message);
        return res;
    };
    if (auto why = topic_name_problem(req.name)) {
        return fail(errc::invalid_topic, *why);
    }
    auto image = snapshot();
    if (image->find(req.name) != nullptr) {
        return fail(errc::topic_already_exists, fmt::format("topic '{}' already exists", req.name));
    }
    int32_t partitions = req.partitions == -1 ? config_.num_partitions : req.partitions;
    if (partitions < 1 || partitions > partitions_per_topic_max) {
        return fail(errc::invalid_partitions,
                    fmt::format("number of partitions must be from 1 to {} (or -1 for the "
                                "broker's num.partitions); got {}",
                                partitions_per_topic_max, req.partitions));
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
    auto t = open_topic(rec, settings.value(), true);
    if (!t) {
        logging::error("creating topic {}: {}", req.name, t.error().message());
        return fail(errc::kafka_storage_error,
                    fmt::format("cannot create the partition logs: {}", t.error().message()));
    }
    // The topic record is the commit point: without it the directories are orphans.
    if (auto w = write_topic_record(storage::posix_file_system(), config_.log_dir, rec); !w) {
        logging::error("creating topic {}: writing its record: {}", req.name, w.error().message());
        for (auto& p : t.value()->partitions) {
            p->remove();
        }
        return fail(errc::kafka_storage_error,
                    fmt::format("cannot write the topic record: {}", w.error().message()));
    }
    auto topics = image->topics;
    topics.emplace(req.name, std::move(t).value());
    publish(std::move(topics));
    logging::info(
        "created topic {} with {} partitions{}", req.name, partitions,
        req.configs.empty() ? "" : fmt::format(" and {} config overrides", req.configs.size()));
    return res;
}

awaitable<std::vector<topic_registry::topic_result>> topic_registry::do_delete(
    std::vector<std::string> names) {
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
        auto image = snapshot();
        auto it = image->topics.find(name);
        if (it == image->topics.end()) {
            out.push_back({name, errc::unknown_topic_or_partition,
                           fmt::format("topic '{}' does not exist", name)});
            continue;
        }
        std::shared_ptr<const topic> t = it->second;
        // The commit point: once the record is gone the topic is gone, even after a crash.
        auto removed = remove_topic_record(storage::posix_file_system(), config_.log_dir, name);
        if (!removed) {
            logging::error("deleting topic {}: {}", name, removed.error().message());
            out.push_back(
                {name, errc::kafka_storage_error,
                 fmt::format("cannot remove the topic record: {}", removed.error().message())});
            continue;
        }
        auto topics = image->topics;
        topics.erase(name);
        publish(std::move(topics));
        for (const auto& p : t->partitions) {
            auto remove = [p] { p->remove(); };
            co_await run_on(p->strand(), remove);
        }
        logging::info("deleted topic {}", name);
        out.push_back({name, errc::none, ""});
    }
    co_return out;
}

awaitable<void> topic_registry::do_close_all() {
    co_await admin_lock_.lock();
    admin_guard guard{admin_lock_};
    auto image = snapshot();
    for (const auto& [name, t] : image->topics) {
        for (const auto& p : t->partitions) {
            auto close = [p] { p->close(errc::not_leader_or_follower); };
            co_await run_on(p->strand(), close);
        }
    }
}

}  // namespace sluice::broker
