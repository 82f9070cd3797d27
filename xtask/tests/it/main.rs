//! Integration tests: the real binary in temporary git repositories.

mod builder;
mod ci_stages;
mod deploy;
mod dev_env;
mod doctor;
mod ecs_fidelity;
mod errors_catalogue;
mod example;
mod faults;
mod harness;
mod help;
mod hooks;
mod identity;
mod images;
mod model_errors;
mod proxy;
mod release_plan;
mod remote_engines;
mod render;
mod servers;
mod tools;
