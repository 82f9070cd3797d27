//! A service's release history, kept in its ECS service's tags so that the
//! whole team (every laptop, every CI runner) reads the same one: each
//! release with the revision it deployed, the commit of its image, when, and
//! how it went. `rollback` reads it to go back, never forward.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::backend::EcsApi;
use crate::taskdef::short_name;

/// Tags `xtask:release:0001`, `xtask:release:0002`..., oldest first.
const PREFIX: &str = "xtask:release:";
/// Entries kept; ECS allows 50 tags on a service, and the team's own need room.
const KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Deployed and came up healthy.
    Good,
    /// Deployed and did not come up healthy (then rolled back).
    Failed,
    /// Went back to an earlier release, which came up healthy.
    Rollback,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Good => "good",
            Outcome::Failed => "failed",
            Outcome::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Good, Outcome::Failed, Outcome::Rollback].into_iter().find(|o| o.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) number: u32,
    /// `family:revision`.
    pub(crate) revision: String,
    /// The commit the image was built from (empty when unknown).
    pub(crate) commit: String,
    /// RFC 3339, UTC.
    pub(crate) time: String,
    pub(crate) outcome: Outcome,
}

impl Entry {
    /// The tag value: space-separated, which ECS tag values allow.
    fn value(&self) -> String {
        let commit = if self.commit.is_empty() { "-" } else { &self.commit };
        format!("{} {commit} {} {}", self.revision, self.time, self.outcome.as_str())
    }
}

/// The entries in a service's tags, oldest first; tags that do not parse are left out.
pub(crate) fn read(tags: &BTreeMap<String, String>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = tags
        .iter()
        .filter_map(|(key, value)| {
            let number = key.strip_prefix(PREFIX)?.parse().ok()?;
            let mut fields = value.split(' ');
            let revision = fields.next()?.to_string();
            let commit = fields.next()?;
            let time = fields.next()?.to_string();
            let outcome = Outcome::parse(fields.next()?)?;
            let commit = if commit == "-" { String::new() } else { commit.to_string() };
            Some(Entry { number, revision, commit, time, outcome })
        })
        .collect();
    entries.sort_by_key(|e| e.number);
    entries
}

/// Appends an entry to the service's history, dropping the oldest beyond [`KEPT`].
pub(crate) async fn record(
    ecs: &impl EcsApi,
    service_arn: &str,
    task_definition: &str,
    commit: &str,
    outcome: Outcome,
) -> Result<()> {
    let entries = read(&ecs.tags(service_arn).await?);
    let entry = Entry {
        number: entries.last().map_or(1, |e| e.number + 1),
        revision: short_name(task_definition).to_string(),
        commit: commit.to_string(),
        time: now_to_the_second(),
        outcome,
    };
    ecs.tag(service_arn, &[(&format!("{PREFIX}{:04}", entry.number), &entry.value())]).await?;
    let dropped: Vec<String> = entries
        .iter()
        .take((entries.len() + 1).saturating_sub(KEPT))
        .map(|e| format!("{PREFIX}{:04}", e.number))
        .collect();
    if !dropped.is_empty() {
        ecs.untag(service_arn, &dropped).await?;
    }
    Ok(())
}

/// The time now as RFC 3339 to the second (tag values are short).
fn now_to_the_second() -> String {
    let now = crate::clock::now_rfc3339();
    match now.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => now,
    }
}

/// Where a rollback goes from `running`: the newest good release older than
/// the release that put `running` in place. `Ok(None)` when the history does
/// not know how `running` came to run (it predates the history); an error
/// when there is nothing older.
pub(crate) fn rollback_target<'e>(entries: &'e [Entry], running: &str) -> Result<Option<&'e Entry>, String> {
    let running = short_name(running);
    let Some(at) = entries.iter().rposition(|e| e.outcome != Outcome::Rollback && e.revision == running)
    else {
        return Ok(None);
    };
    match entries[..at].iter().rev().find(|e| e.outcome == Outcome::Good && e.revision != running) {
        Some(target) => Ok(Some(target)),
        None => Err(format!(
            "no good release older than {running} (#{}) is recorded, so there is nothing to roll back to; `cargo \
             xtask history` lists the releases, and --to picks any revision or commit",
            entries[at].number
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(number: u32, revision: u32, outcome: Outcome) -> Entry {
        Entry {
            number,
            revision: format!("shop-api:{revision}"),
            commit: format!("c{revision}"),
            time: "2026-11-29T10:00:00Z".into(),
            outcome,
        }
    }

    #[test]
    fn entries_round_trip_through_tags_in_order() {
        let entries =
            [entry(2, 3, Outcome::Good), entry(10, 4, Outcome::Failed), entry(3, 2, Outcome::Rollback)];
        let mut tags: BTreeMap<String, String> =
            entries.iter().map(|e| (format!("{PREFIX}{:04}", e.number), e.value())).collect();
        tags.insert("team".into(), "shop".into());
        tags.insert(format!("{PREFIX}0099"), "not an entry".into());
        let read = read(&tags);
        assert_eq!(read.iter().map(|e| e.number).collect::<Vec<_>>(), [2, 3, 10]);
        assert_eq!(read[2], entries[1]);
    }

    #[test]
    fn rollback_goes_back_from_the_release_that_runs_never_forward() {
        use Outcome::*;
        // Released 2, 3 and 4 (4 failed and was rolled back to 3).
        let mut history = vec![entry(1, 2, Good), entry(2, 3, Good), entry(3, 4, Failed)];
        let arn = |r: u32| format!("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:{r}");
        assert_eq!(rollback_target(&history, &arn(3)).unwrap().unwrap().revision, "shop-api:2");
        // After that rollback, 2 runs: a second rollback has nothing older.
        history.push(entry(4, 2, Rollback));
        let refused = rollback_target(&history, &arn(2)).unwrap_err();
        assert!(refused.starts_with("no good release older than shop-api:2 (#1) is recorded"), "{refused}");
        // A revision the history never saw released: the caller decides.
        assert_eq!(rollback_target(&history, &arn(9)), Ok(None));
        // Released again later, a revision goes back to what preceded that release.
        history.push(entry(5, 3, Good));
        history.push(entry(6, 2, Good));
        assert_eq!(rollback_target(&history, &arn(2)).unwrap().unwrap().revision, "shop-api:3");
    }
}
