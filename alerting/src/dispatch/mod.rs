//! An Alertmanager-compatible dispatcher.

mod clock;
mod config;
mod duration;
mod error;
mod matchers;
mod route;
mod timeinterval;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_PAGERDUTY_URL, DEFAULT_REPEAT_INTERVAL,
    DEFAULT_RESOLVE_TIMEOUT, GlobalConfig, InhibitRule, PagerdutyConfig, Receiver, SlackConfig, WebhookConfig,
};
pub use duration::Duration;
pub use error::{ConfigError, ConfigErrorKind, NotifyError, NotifyErrorKind, SilenceError, SilenceErrorKind};
pub use matchers::{format_matchers, parse_matcher, parse_matchers};
pub use route::{GroupBy, Route, RouteId, RouteOpts, RouteTree, format_amtool_routes};
pub use timeinterval::{TimeInterval, TimeIntervalSpec};
