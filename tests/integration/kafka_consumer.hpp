// A real Kafka consumer for the tests: reads a whole topic from the beginning.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace order::testing {

struct ConsumedMessage {
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
  int partition = 0;
  std::int64_t offset = 0;
};

inline std::string kafka_brokers() {
  const char* brokers = std::getenv("KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    throw std::runtime_error("KAFKA_BROKERS is not set: start the dev stack");
  }
  return brokers;
}

// Consumes `topic` from its beginning until `expected` distinct events (by their `event-id`
// header; at-least-once delivery may repeat some) arrived or `timeout` passed.
inline std::vector<ConsumedMessage> consume(const std::string& topic, std::size_t expected,
                                            std::chrono::seconds timeout,
                                            const std::string& brokers = kafka_brokers()) {
  char reason[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::string group = "order-tests-" + topic;
  for (const auto& [key, value] :
       std::map<std::string, std::string>{{"bootstrap.servers", brokers},
                                          {"group.id", group},
                                          {"auto.offset.reset", "earliest"},
                                          {"enable.auto.commit", "false"},
                                          {"log_level", "3"}}) {
    rd_kafka_conf_set(conf, key.c_str(), value.c_str(), reason, sizeof reason);
  }
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof reason);
  if (consumer == nullptr) throw std::runtime_error(reason);
  rd_kafka_poll_set_consumer(consumer);
  // Every partition assigned directly from its beginning: no consumer-group rebalance to wait for.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_topic_t* handle = rd_kafka_topic_new(consumer, topic.c_str(), nullptr);
  int partitions = 0;
  while (partitions == 0 && std::chrono::steady_clock::now() < deadline) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer, 0, handle, &metadata, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = metadata->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
    }
  }
  rd_kafka_topic_destroy(handle);
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);

  std::vector<ConsumedMessage> messages;
  std::set<std::string> distinct;
  while (distinct.size() < expected && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 200);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ConsumedMessage out;
      out.key.assign(static_cast<const char*>(message->key), message->key_len);
      out.value.assign(static_cast<const char*>(message->payload), message->len);
      out.partition = message->partition;
      out.offset = message->offset;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          out.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      const auto id = out.headers.find("event-id");
      distinct.insert(id == out.headers.end()
                          ? std::to_string(out.partition) + ":" + std::to_string(out.offset)
                          : id->second);
      messages.push_back(std::move(out));
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_assign(consumer, nullptr);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  return messages;
}

}  // namespace order::testing
