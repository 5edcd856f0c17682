// The connection string the service opens its connections with: the operator's DB_URL, plus the
// network timeouts libpq leaves off by default.
#pragma once

#include <string>

namespace order::pg {

// How long a connection may go without a sign of life from the server before it is given up:
// data sent and not acknowledged, keepalive probes unanswered, or (Linux) a receive window kept
// shut. Without it, a database host that vanishes from the network (a partition, a crashed
// machine, a failover that moves its address) leaves a statement waiting until the kernel gives
// up, about 15 minutes. A connection whose statements may run longer (order-admin's) gets their
// timeout instead: a server that reads nothing for that long is not coming back.
inline constexpr int kNetworkTimeoutMs = 10'000;
// An idle connection is probed after this many seconds without traffic, then every
// kKeepaliveIntervalS.
inline constexpr int kKeepaliveIdleS = 5;
inline constexpr int kKeepaliveIntervalS = 1;
// The longest wait for a new connection (libpq's default: forever, in effect the kernel's two
// minutes of SYN retries per address).
inline constexpr int kConnectTimeoutS = 5;

// `url` (a postgresql:// URI or key=value pairs) as key=value pairs with connect_timeout,
// keepalives, keepalives_idle, keepalives_interval and tcp_user_timeout (the larger of
// kNetworkTimeoutMs and `statement_timeout_ms`) added where `url` does not set them (nor, for
// connect_timeout, PGCONNECT_TIMEOUT): what an operator wrote wins. Returns `url` unchanged when
// libpq cannot parse it, so that connecting reports libpq's reason.
std::string with_network_timeouts(const std::string& url, int statement_timeout_ms);

// `url` with its password replaced by ***, in either form, for logs and error messages.
std::string redact_url(const std::string& url);

// The server's end of a session, as settings for SET: a session whose client vanished (a
// leader's, holding its lock) is given up after kNetworkTimeoutMs, idle (keepalive probes
// unanswered) or not (its data unacknowledged), which releases what it held. So is a session whose
// client has not read what the server sent for that long after its receive buffer filled: a
// subscription's, whose notifications pile up while it waits on Kafka; its next step then fails,
// and it resumes from its checkpoint on a new connection, as after any failure.
struct ServerSetting {
  const char* name;
  int value;
};
inline constexpr ServerSetting kServerKeepalives[] = {
    {"tcp_keepalives_idle", kKeepaliveIdleS},
    {"tcp_keepalives_interval", kKeepaliveIntervalS},
    {"tcp_user_timeout", kNetworkTimeoutMs},
};

}  // namespace order::pg
