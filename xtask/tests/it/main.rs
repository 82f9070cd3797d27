//! Integration tests: the real binary in temporary git repositories.

mod dev_env;
mod example;
mod harness;
mod model_errors;
mod release_plan;
mod render;
