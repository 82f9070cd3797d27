//! A release stopped (Ctrl-C, SIGTERM) in the middle of a step, on the
//! scripted backend: what it leaves behind.

use super::*;

#[test]
fn a_release_stopped_mid_upload_leaves_no_tag_and_points_no_service_at_it() {
    let dir = project(&[("api", "")]);
    let fake = Fake::new(World::with_services(&["api"]));
    fake.world().slow_pushes.insert("api".into());
    // The build is instant; the push uploads for 300 ms; the stop comes at 150 ms.
    let (result, _) = release_stopped_after(dir.path(), &fake, Some(Duration::from_millis(150)));
    let error = result.unwrap_err();
    assert_eq!(exit_code(&error), Some(130));
    let message = format!("{error:#}");
    assert!(
        message.starts_with("interrupted by SIGINT: 3 steps had finished; stopped: push api; 3 not started"),
        "{message}"
    );
    let world = fake.world();
    assert!((1..5).contains(&world.layers.len()), "the stop came mid-upload: {:?}", world.layers);
    assert_eq!(world.registry, BTreeMap::new(), "no tag points at a partial image");
    assert_eq!(world.calls, ["build api"]);
    assert_eq!(world.running("api"), "bootstrap-api:1");
}
