//! How a service's image is named in an environment's registry: one type,
//! [`ImageRef`], made in one place. Below rendering and identity, which both
//! name images.

use crate::git::Revision;
use crate::project::{Environment, Service};

/// The registry host images of an environment are pushed to.
pub(crate) fn registry_host(environment: &Environment) -> String {
    environment
        .registry_override
        .clone()
        .unwrap_or_else(|| format!("{}.dkr.ecr.{}.amazonaws.com", environment.account_id, environment.region))
}

/// An image in a registry by tag: `registry/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ImageRef {
    registry: String,
    repository: String,
    tag: String,
}

impl ImageRef {
    /// The image a service has at a revision: tagged with the commit its
    /// inputs last changed in (and its build arguments' digest). Every
    /// reference to a service's image is made here.
    pub(crate) fn of(registry: &str, service: &Service, revision: &Revision) -> ImageRef {
        ImageRef::tagged(registry, service, &revision.image(&service.name).image_tag)
    }

    /// The service's image under another tag (an earlier commit's).
    pub(crate) fn tagged(registry: &str, service: &Service, tag: &str) -> ImageRef {
        ImageRef {
            registry: registry.to_string(),
            repository: service.repository.clone(),
            tag: tag.to_string(),
        }
    }

    /// `registry/repository`, what a push names besides the tag.
    pub(crate) fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub(crate) fn tag(&self) -> &str {
        &self.tag
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_reference_names_registry_repository_and_tag() {
        let service =
            Service { repository: "demo/api".into(), ..crate::plan::tests::service("api", &[], true) };
        let image =
            ImageRef::tagged("123456789012.dkr.ecr.eu-west-1.amazonaws.com", &service, "906e977ae8ce");
        assert_eq!(image.to_string(), "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo/api:906e977ae8ce");
        assert_eq!(image.repository(), "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo/api");
        assert_eq!(image.tag(), "906e977ae8ce");
    }
}
