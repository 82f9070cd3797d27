//! Times as RFC 3339 in UTC, for the lock's holder line, image labels and
//! the release history.

/// The time now as RFC 3339 in UTC, for the lock's holder line and the history.
pub(crate) fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// A time in seconds since 1970 as RFC 3339 in UTC.
pub(crate) fn rfc3339(seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
