//! An Alertmanager-compatible dispatcher.

mod alert;
mod clock;
mod config;
mod dispatcher;
mod duration;
mod error;
mod inhibit;
mod matchers;
mod nflog;
mod notify;
pub mod payload;
mod route;
mod silence;
mod timeinterval;

pub use alert::{Alert, AlertStatus, PostableAlert};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_PAGERDUTY_URL, DEFAULT_REPEAT_INTERVAL,
    DEFAULT_RESOLVE_TIMEOUT, GlobalConfig, InhibitRule, PagerdutyConfig, Receiver, SlackConfig, WebhookConfig,
};
pub use dispatcher::{Dispatcher, DispatcherBuilder, GroupInfo, Integration, Notification};
pub use duration::Duration;
pub use error::{ConfigError, ConfigErrorKind, NotifyError, NotifyErrorKind, SilenceError, SilenceErrorKind};
pub use inhibit::Inhibitor;
pub use matchers::{format_matchers, parse_matcher, parse_matchers};
pub use nflog::{NflogEntry, NotificationLog};
pub use notify::{
    AlertSink, AlertmanagerNotifier, BoxFuture, DispatcherService, HttpTransport, RetryPolicy, Transport, deliver,
};
pub use route::{GroupBy, Route, RouteId, RouteOpts, RouteTree, format_amtool_routes};
pub use silence::{DEFAULT_SILENCE_RETENTION_MS, Silence, SilenceState, Silences};
pub use timeinterval::{TimeInterval, TimeIntervalSpec};
