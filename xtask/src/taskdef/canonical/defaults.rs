//! The values ECS fills in for keys a task definition leaves out, each with
//! where it is documented or was seen: a key the template omits is no
//! change when ECS keeps exactly this value.

/// A value ECS fills in when a definition leaves the key out.
pub(crate) struct EcsDefault {
    /// Keys from the top, `.`-separated; list items are stepped through.
    pub(crate) path: &'static str,
    pub(crate) value: Filled,
    /// Where this is documented or was seen (shown in docs/task-definitions.md).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) source: &'static str,
}

pub(crate) enum Filled {
    /// This JSON value.
    Json(&'static str),
    /// The port mapping's own `containerPort` in network modes awsvpc and
    /// host; 0 (a port ECS picks) in bridge mode.
    HostPort,
}

/// What ECS fills in, each with its source. The ECS API reference
/// (RegisterTaskDefinition, ContainerDefinition, PortMapping, HealthCheck,
/// EFSVolumeConfiguration) gives most rows; ecspresso's diff, which compares
/// real answers, confirms the units and host ports.
pub(crate) const ECS_DEFAULTS: &[EcsDefault] = &[
    EcsDefault {
        path: "enableFaultInjection",
        value: Filled::Json("false"),
        source: "RegisterTaskDefinition: default false; DescribeTaskDefinition returns it on every revision since January 2025",
    },
    EcsDefault {
        path: "networkMode",
        value: Filled::Json("\"bridge\""),
        source: "RegisterTaskDefinition networkMode: if no network mode is specified, the default is bridge",
    },
    EcsDefault {
        path: "containerDefinitions.cpu",
        value: Filled::Json("0"),
        source: "ContainerDefinition cpu: omitted, the container gets 0 units; DescribeTaskDefinition returns \"cpu\": 0",
    },
    EcsDefault {
        path: "containerDefinitions.essential",
        value: Filled::Json("true"),
        source: "ContainerDefinition essential: if the parameter isn't specified, the default value is true",
    },
    EcsDefault {
        path: "containerDefinitions.privileged",
        value: Filled::Json("false"),
        source: "ContainerDefinition privileged: elevated privileges only when true",
    },
    EcsDefault {
        path: "containerDefinitions.disableNetworking",
        value: Filled::Json("false"),
        source: "ContainerDefinition disableNetworking: networking is off only when true",
    },
    EcsDefault {
        path: "containerDefinitions.readonlyRootFilesystem",
        value: Filled::Json("false"),
        source: "ContainerDefinition readonlyRootFilesystem: read-only only when true",
    },
    EcsDefault {
        path: "containerDefinitions.interactive",
        value: Filled::Json("false"),
        source: "ContainerDefinition interactive: off unless true",
    },
    EcsDefault {
        path: "containerDefinitions.pseudoTerminal",
        value: Filled::Json("false"),
        source: "ContainerDefinition pseudoTerminal: no TTY unless true",
    },
    EcsDefault {
        path: "containerDefinitions.linuxParameters.initProcessEnabled",
        value: Filled::Json("false"),
        source: "LinuxParameters initProcessEnabled: no init process unless true",
    },
    EcsDefault {
        path: "containerDefinitions.portMappings.protocol",
        value: Filled::Json("\"tcp\""),
        source: "PortMapping protocol: if a protocol isn't specified, the default is tcp",
    },
    EcsDefault {
        path: "containerDefinitions.portMappings.hostPort",
        value: Filled::HostPort,
        source: "PortMapping hostPort: with awsvpc or host networking it is the container port (ecspresso fills it the same way); in bridge mode, omitted or 0, ECS picks one",
    },
    EcsDefault {
        path: "containerDefinitions.mountPoints.readOnly",
        value: Filled::Json("false"),
        source: "MountPoint readOnly: the default value is false",
    },
    EcsDefault {
        path: "containerDefinitions.volumesFrom.readOnly",
        value: Filled::Json("false"),
        source: "VolumeFrom readOnly: the default value is false",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.interval",
        value: Filled::Json("30"),
        source: "HealthCheck interval: the default value is 30 seconds",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.timeout",
        value: Filled::Json("5"),
        source: "HealthCheck timeout: the default value is 5 seconds",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.retries",
        value: Filled::Json("3"),
        source: "HealthCheck retries: the default value is 3",
    },
    EcsDefault {
        path: "containerDefinitions.versionConsistency",
        value: Filled::Json("\"enabled\""),
        source: "ContainerDefinition versionConsistency: if not specified, the default value is enabled",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.rootDirectory",
        value: Filled::Json("\"/\""),
        source: "EFSVolumeConfiguration rootDirectory: if this parameter is omitted, the root of the Amazon EFS volume is used (DescribeTaskDefinition returns \"/\")",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.transitEncryption",
        value: Filled::Json("\"DISABLED\""),
        source: "EFSVolumeConfiguration transitEncryption: if this parameter is omitted, the default value of DISABLED is used",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.authorizationConfig.iam",
        value: Filled::Json("\"DISABLED\""),
        source: "EFSAuthorizationConfig iam: if this parameter is omitted, the default value of DISABLED is used",
    },
    EcsDefault {
        path: "volumes.configuredAtLaunch",
        value: Filled::Json("false"),
        source: "TaskDefinition volumes: configuredAtLaunch is false unless set (terraform-provider-aws #46132 saw it returned)",
    },
    EcsDefault {
        path: "volumes.dockerVolumeConfiguration.autoprovision",
        value: Filled::Json("false"),
        source: "DockerVolumeConfiguration autoprovision: by default, false",
    },
];
