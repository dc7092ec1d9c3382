//! Settings of the event-handler client, with every default written down and the reason for it,
//! and the reconnect backoff they drive.

use std::time::Duration;

use tokio_tungstenite::tungstenite::http::Uri;

use super::EventsError;
use super::filter::MAX_CLIENT_ID_LEN;

/// Settings of an [`EventClient`](super::EventClient). Build with [`EventsConfig::new`] and
/// override fields; [`EventClient::connect`](super::EventClient::connect) validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// The node's event-handler URL, `ws://host:5100` or `wss://...`.
    pub url: String,
    /// Sent as `SET_CUSTOM_CLIENT_ID` on connect and as the keepalive; at most 100 characters
    /// (the node truncates longer ids).
    pub client_id: String,
    /// Interval of the keepalive message. The node closes a channel after 600 s without a
    /// non-PONG message; the default 240 s leaves room for two misses. Default 240 s.
    pub keepalive: Duration,
    /// A connection that has not delivered a `PING` for this long is treated as dead. The node
    /// pings every 15 s; ain-js allows 16 s, the default here 45 s tolerates two lost pings.
    pub ping_timeout: Duration,
    /// Upper bound on opening the WebSocket (TCP, TLS, upgrade). Default 10 s.
    pub connect_timeout: Duration,
    /// Upper bound on writing one frame; a stuck socket is dropped and reopened. Default 10 s.
    pub write_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt, with jitter. Default 500 ms.
    pub backoff_min: Duration,
    /// Longest reconnect delay. A connection that lived this long resets the backoff.
    /// Default 30 s.
    pub backoff_max: Duration,
    /// Reconnect on our own after this long, before the node's 3600 s channel lifetime closes
    /// the channel mid-frame. `None` waits for the node. Default 3540 s.
    pub max_lifetime: Option<Duration>,
    /// Largest frame and message accepted from the node; a bigger one drops the connection
    /// (the WebSocket cannot skip it). Events carry a tx (≤ 10 kB) and before/after values.
    /// Default 4 MiB.
    pub max_frame_bytes: usize,
    /// Capacity of the event channel to the consumer. When it is full the client stops reading
    /// the socket (backpressure); a consumer stalled past the node's heartbeat gets a reconnect
    /// and a `Disconnected`/`Connected` pair to catch up from. Default 1024.
    pub channel_capacity: usize,
    /// Most filters registered at once. The node allows 5 per channel
    /// (`MAX_NUM_EVENT_FILTERS_PER_CHANNEL`); more would be refused with 70020. Default 5.
    pub max_filters: usize,
}

impl EventsConfig {
    /// Defaults for `url` with the given custom client id.
    pub fn new(url: impl Into<String>, client_id: impl Into<String>) -> EventsConfig {
        EventsConfig {
            url: url.into(),
            client_id: client_id.into(),
            keepalive: Duration::from_secs(240),
            ping_timeout: Duration::from_secs(45),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_lifetime: Some(Duration::from_secs(3540)),
            max_frame_bytes: 4 * 1024 * 1024,
            channel_capacity: 1024,
            max_filters: 5,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), EventsError> {
        let bad = |m: String| Err(EventsError::Config(m));
        match self.url.parse::<Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("ws" | "wss")) && u.host().is_some() => {}
            _ => return bad(format!("url {:?} is not a ws:// or wss:// URL", self.url)),
        }
        if self.client_id.is_empty()
            || self.client_id.chars().count() > MAX_CLIENT_ID_LEN
            || self.client_id.chars().any(char::is_control)
        {
            return bad(format!(
                "client_id must be 1 to {MAX_CLIENT_ID_LEN} printable characters"
            ));
        }
        let durations = [
            ("keepalive", self.keepalive),
            ("ping_timeout", self.ping_timeout),
            ("connect_timeout", self.connect_timeout),
            ("write_timeout", self.write_timeout),
            ("backoff_min", self.backoff_min),
            ("backoff_max", self.backoff_max),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return bad(format!("{name} must be non-zero"));
        }
        if self.backoff_min > self.backoff_max {
            return bad("backoff_min exceeds backoff_max".into());
        }
        if self.max_lifetime.is_some_and(|d| d.is_zero()) {
            return bad("max_lifetime must be non-zero when set".into());
        }
        if self.max_frame_bytes < 1024 || self.channel_capacity == 0 || self.max_filters == 0 {
            return bad(
                "max_frame_bytes must be at least 1024, channel_capacity and max_filters non-zero"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The delay before reconnect attempt `attempt` (1-based): `min · 2^(attempt-1)` capped at
/// `max`, then scaled by a random factor in [0.5, 1] so a fleet of workers does not reconnect in
/// step, and never below `min`.
pub(super) fn backoff_delay(min: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = min.saturating_mul(1u32 << exp).min(max);
    let factor: f64 = rand::random_range(0.5..=1.0);
    base.mul_f64(factor).max(min.min(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = EventsConfig::new("ws://127.0.0.1:5100", "sre-worker");
        assert!(c.validate().is_ok());
        assert!(c.keepalive < Duration::from_secs(600) / 2);
    }

    #[test]
    fn bad_fields_are_named() {
        let base = EventsConfig::new("ws://127.0.0.1:5100", "w");
        let cases: Vec<(EventsConfig, &str)> = vec![
            (
                EventsConfig {
                    url: "http://x".into(),
                    ..base.clone()
                },
                "url",
            ),
            (
                EventsConfig {
                    client_id: String::new(),
                    ..base.clone()
                },
                "client_id",
            ),
            (
                EventsConfig {
                    client_id: "x".repeat(101),
                    ..base.clone()
                },
                "client_id",
            ),
            (
                EventsConfig {
                    keepalive: Duration::ZERO,
                    ..base.clone()
                },
                "keepalive",
            ),
            (
                EventsConfig {
                    backoff_min: Duration::from_secs(60),
                    ..base.clone()
                },
                "backoff_min",
            ),
            (
                EventsConfig {
                    max_filters: 0,
                    ..base.clone()
                },
                "max_filters",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..50 {
            let d1 = backoff_delay(min, max, 1);
            assert!(d1 == min, "{d1:?}");
            let d3 = backoff_delay(min, max, 3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d20 = backoff_delay(min, max, 20);
            assert!(d20 >= max / 2 && d20 <= max);
            let huge = backoff_delay(min, max, u32::MAX);
            assert!(huge <= max);
        }
    }
}
