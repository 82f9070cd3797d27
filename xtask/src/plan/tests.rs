//! Unit tests of `plan.rs`.

use super::*;
use std::path::PathBuf;

/// A service of the usual layout, for tests of plans and of running them.
pub(crate) fn service(name: &str, after: &[&str], deployable: bool) -> Service {
    Service {
        name: name.into(),
        dir: PathBuf::from("services").join(name),
        repository: name.into(),
        context: PathBuf::from("services").join(name),
        dockerfile: PathBuf::from("services").join(name).join("Dockerfile"),
        platform: "linux/amd64".into(),
        after: after.iter().map(|s| s.to_string()).collect(),
        build_args: Default::default(),
        prebuild: None,
        before_deploy: None,
        env_template: None,
        task_definition_template: deployable.then(|| format!("{name}.task.json.j2")),
        ecs_service: name.into(),
        cluster: None,
        immutable_tags: false,
        inputs: Vec::new(),
    }
}

fn names(plan: &Plan, stages: &[Vec<usize>]) -> Vec<Vec<String>> {
    stages.iter().map(|stage| stage.iter().map(|&i| plan.nodes[i].step.to_string()).collect()).collect()
}

#[test]
fn base_image_builds_before_the_images_from_it() {
    let base = service("base", &[], false);
    let api = service("api", &["base"], true);
    let all = [&api, &base];
    let plan = release(&all, &all);
    let stages = plan.stages().unwrap();
    assert_eq!(
        names(&plan, &stages),
        [
            vec!["build base", "registry-auth"],
            vec!["build api", "ensure-repo api", "ensure-repo base"],
            vec!["push api", "push base"],
            vec!["register api"],
            vec!["deploy api"],
            vec!["wait api"],
        ]
    );
}

#[test]
fn cycle_is_reported_with_its_path() {
    let a = service("a", &["b"], false);
    let b = service("b", &["a"], false);
    let plan = release(&[&a, &b], &[]);
    let err = plan.stages().unwrap_err().to_string();
    assert_eq!(
        err,
        "dependency cycle: build a -> build b -> build a; check `after` in the services' service.toml"
    );
}

#[test]
fn adding_a_step_twice_keeps_one_node() {
    let mut plan = Plan::default();
    let first = plan.add(Step::RegistryAuth, &[]);
    let second = plan.add(Step::RegistryAuth, &[]);
    assert_eq!(first, second);
    assert_eq!(plan.nodes.len(), 1);
}

#[test]
fn only_chosen_services_deploy_but_their_bases_build() {
    let base = service("base", &[], true);
    let api = service("api", &["base"], true);
    let web = service("web", &[], true);
    let project = Project { root: PathBuf::new(), services: vec![api.clone(), base.clone(), web] };
    let needed = with_build_dependencies(&project, &[&project.services[0]]);
    let needed_names: Vec<_> = needed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(needed_names, ["api", "base"]);
    let plan = release(&needed, &[&project.services[0]]);
    assert!(plan.index(&Step::Build("base".into())).is_some());
    assert!(plan.index(&Step::Deploy("base".into())).is_none());
    assert!(plan.index(&Step::Deploy("api".into())).is_some());
}
