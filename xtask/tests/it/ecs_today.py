"""moto_server, with ECS task definitions answered the way today's ECS answers them.

Moto keeps only the task-definition fields it models and returns them as it
got them. Real ECS (the API reference, and what it returned in 2025-2026)
keeps the whole request and answers with more:

- `enableFaultInjection: false` on every revision (since January 2025);
- task `cpu` and `memory` with units ("0.25 vCPU", "1 GB") stored as numbers
  ("256", "1024");
- per container: `cpu: 0`, `essential: true`, and empty `portMappings`,
  `environment`, `environmentFiles`, `mountPoints`, `volumesFrom` and
  `systemControls`; port mappings get `protocol: "tcp"` and a `hostPort`
  (the container port in awsvpc and host mode, 0 in bridge mode); a health
  check gets `interval: 30`, `timeout: 5`, `retries: 3`; a log configuration
  gets `secretOptions: []`;
- a volume gets `configuredAtLaunch: false`, `host: {}` when it names no
  other kind, and an EFS volume `rootDirectory: "/"`;
- `volumes` and `placementConstraints` as empty lists, `compatibilities`,
  `requiresAttributes`, `registeredAt`, `registeredBy`, `status`, `revision`;
- tags are kept apart: DescribeTaskDefinition returns them only with
  `include: ["TAGS"]`, beside the definition, never inside it.

One-off tasks (RunTask) run nothing in moto and never stop, and moto
refuses to start one whose containers give no memory of their own (a
Fargate definition sets it for the task only, which ECS accepts). Here a task
started with a command override stops at its first DescribeTasks, as a
short command does in ECS: its container's exit code is N when the command
says `exit N` (else 0), with ECS's stoppedReason "Essential container in
task exited"; a task whose image names `does-not-exist` never starts
(exitCode absent, stoppedReason and container reason
"CannotPullContainerError: ..."); a task's containers give `cpu` and
`memory` as strings, as ECS's API has them. What the container would print goes where
the awslogs driver puts it: the group, stream `<prefix>/<container>/<task
id>`, two lines ("running <command>", "exited with N").

ECS Exec is not modelled by moto at all. Here a service keeps the
`enableExecuteCommand` it was created or updated with, and DescribeServices
answers it; ListTasks with a serviceName answers that service's own tasks
(moto ignores the filter and starts no task for a service), started on
first asking, `runningCount` of them, whose containers carry the
ExecuteCommandAgent (lastStatus RUNNING) when the service had ECS Exec
enabled as they started, and no agent otherwise, as in ECS.

Every other call is moto's own; registering still goes through moto, so its
services, lists and deregistration see each revision.

Run as moto_server is: python3 ecs_today.py -H 127.0.0.1 -p PORT
"""

import copy
import json
import sys
import time

from moto import server
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.logs.models import logs_backends

# What ECS keeps of each revision, by ARN.
STORED = {}

moto_register = EC2ContainerServiceResponse.register_task_definition
moto_describe = EC2ContainerServiceResponse.describe_task_definition
moto_run_task = EC2ContainerServiceResponse.run_task
moto_describe_tasks = EC2ContainerServiceResponse.describe_tasks

# How each one-off task ends, by task ARN: (exit code or None, stopped reason, container reason).
ONE_OFF = {}


def in_units(value, unit):
    text = str(value).strip()
    if text.lower().endswith(unit):
        return str(round(float(text[: -len(unit)].strip()) * 1024))
    return text


def as_ecs_keeps_it(request, model):
    stored = {key: value for key, value in copy.deepcopy(request).items() if key != "tags"}
    network_mode = stored.get("networkMode") or "bridge"
    stored["networkMode"] = network_mode
    for key, unit in (("cpu", "vcpu"), ("memory", "gb")):
        if key in stored:
            stored[key] = in_units(stored[key], unit)
    stored.setdefault("enableFaultInjection", False)
    stored.setdefault("volumes", [])
    stored.setdefault("placementConstraints", [])
    for container in stored.get("containerDefinitions", []):
        container.setdefault("cpu", 0)
        container.setdefault("essential", True)
        for key in ("portMappings", "environment", "environmentFiles", "mountPoints", "volumesFrom", "systemControls"):
            container.setdefault(key, [])
        for port in container["portMappings"]:
            port.setdefault("protocol", "tcp")
            if "containerPort" in port:
                port.setdefault("hostPort", 0 if network_mode == "bridge" else port["containerPort"])
        if "healthCheck" in container:
            for key, value in (("interval", 30), ("timeout", 5), ("retries", 3)):
                container["healthCheck"].setdefault(key, value)
        if "logConfiguration" in container:
            container["logConfiguration"].setdefault("secretOptions", [])
    for volume in stored["volumes"]:
        kinds = ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration",
                 "fsxWindowsFileServerVolumeConfiguration", "s3filesVolumeConfiguration")
        if not any(kind in volume for kind in kinds):
            volume["host"] = {}
        volume.setdefault("configuredAtLaunch", False)
        if "efsVolumeConfiguration" in volume:
            volume["efsVolumeConfiguration"].setdefault("rootDirectory", "/")
    fargate = "FARGATE" in (stored.get("requiresCompatibilities") or [])
    stored.update({
        "taskDefinitionArn": model.arn,
        "revision": model.revision,
        "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"] if fargate else ["EC2"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "registeredAt": time.time(),
        "registeredBy": f"arn:aws:iam::{model.arn.split(':')[4]}:root",
    })
    return stored


def tags_of(response, arn):
    return response.ecs_backend.list_tags_for_resource(arn)


def register_task_definition(self):
    request = json.loads(self.body)
    model = moto_register(self).result["taskDefinition"]
    STORED[model.arn] = as_ecs_keeps_it(request, model)
    return json.dumps({"taskDefinition": STORED[model.arn], "tags": tags_of(self, model.arn)})


def describe_task_definition(self):
    request = json.loads(self.body)
    model = self.ecs_backend.describe_task_definition(request["taskDefinition"])
    if model.arn not in STORED:
        return moto_describe(self)
    definition = dict(STORED[model.arn], status=model.status)
    answer = {"taskDefinition": definition}
    if "TAGS" in (request.get("include") or []):
        answer["tags"] = tags_of(self, model.arn)
    return json.dumps(answer)


def exit_code_of(command):
    words = " ".join(command).replace(";", " ").split()
    for word, following in zip(words, words[1:]):
        if word == "exit" and following.isdigit():
            return int(following)
    return 0


def write_logs(task, container, lines):
    options = (container.get("logConfiguration") or {}).get("options") or {}
    if (container.get("logConfiguration") or {}).get("logDriver") != "awslogs":
        return
    group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
    backend = logs_backends[task._account_id][options.get("awslogs-region") or task.region_name]
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    stream = f"{prefix}/{container['name']}/{task.task_arn.rsplit('/', 1)[-1]}"
    backend.create_log_stream(group, stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
    backend.put_log_events(group, stream, events)


moto_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements


def requirements(task_definition):
    # Fargate definitions give memory for the task only; moto adds each
    # container's and fails on one that has none. ECS takes them.
    for container in task_definition.container_definitions:
        if "memory" not in container and "memoryReservation" not in container:
            container.setdefault("memoryReservation", 0)
    return moto_requirements(task_definition)


EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)


def run_task(self):
    request = json.loads(self.body)
    result = moto_run_task(self)
    overrides = (request.get("overrides") or {}).get("containerOverrides") or []
    for task in result.result["tasks"]:
        as_ecs_describes(task)
        definition = STORED.get(task.task_definition_arn) or {}
        containers = definition.get("containerDefinitions") or []
        named = overrides[0].get("name") if overrides else None
        container = next((c for c in containers if c.get("name") == named), containers[0] if containers else {})
        command = (overrides[0].get("command") if overrides else None) or container.get("command") or []
        if "does-not-exist" in container.get("image", ""):
            reason = f"CannotPullContainerError: pull image manifest has been retried 7 time(s): {container['image']}: not found"
            ONE_OFF[task.task_arn] = (None, reason, reason)
        else:
            code = exit_code_of(command)
            ONE_OFF[task.task_arn] = (code, "Essential container in task exited", None)
            write_logs(task, container, [f"running {' '.join(command)}", f"exited with {code}"])
    return result


def describe_tasks(self):
    request = json.loads(self.body)
    wanted = set(request.get("tasks") or [])
    for cluster in self.ecs_backend.tasks.values():
        for arn, task in cluster.items():
            if arn in ONE_OFF and (arn in wanted or arn.rsplit("/", 1)[-1] in wanted):
                code, stopped_reason, container_reason = ONE_OFF[arn]
                task.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stopped_reason = stopped_reason
                for container in task.containers:
                    container.last_status = "STOPPED"
                    container.exitCode = code
                    if container_reason:
                        container.reason = container_reason
    for cluster in self.ecs_backend.tasks.values():
        for task in cluster.values():
            as_ecs_describes(task)
    return moto_describe_tasks(self)


def as_ecs_describes(task):
    # A task's containers give `cpu` and `memory` as strings in ECS's API
    # (moto gives numbers, which the SDK refuses).
    for container in task.containers:
        for key in ("cpu", "memory"):
            if getattr(container, key, None) is not None:
                setattr(container, key, str(getattr(container, key)))


# Whether each service has ECS Exec enabled, by (cluster name, service name).
EXEC_ENABLED = {}
moto_create_service = EC2ContainerServiceResponse.create_service
moto_update_service = EC2ContainerServiceResponse.update_service
moto_describe_services = EC2ContainerServiceResponse.describe_services
moto_list_tasks = EC2ContainerServiceResponse.list_tasks


def cluster_name(request):
    return (request.get("cluster") or "default").rsplit("/", 1)[-1]


def create_service(self):
    request = json.loads(self.body)
    EXEC_ENABLED[(cluster_name(request), request["serviceName"])] = bool(request.get("enableExecuteCommand"))
    return moto_create_service(self)


def update_service(self):
    request = json.loads(self.body)
    if "enableExecuteCommand" in request:
        name = request["service"].rsplit("/", 1)[-1]
        EXEC_ENABLED[(cluster_name(request), name)] = bool(request["enableExecuteCommand"])
    return moto_update_service(self)


def describe_services(self):
    result = moto_describe_services(self)
    for service in result.result["services"]:
        service.enable_execute_command = EXEC_ENABLED.get((service.cluster_name, service.name), False)
    return result


def list_tasks(self):
    request = json.loads(self.body)
    name = request.get("serviceName")
    if not name:
        return moto_list_tasks(self)
    cluster = cluster_name(request)
    service = self.ecs_backend.services[f"{cluster}:{name}"]
    group = f"service:{name}"
    ours = [t for t in self.ecs_backend.tasks.get(cluster, {}).values() if t.group == group]
    if not ours:
        ours = self.ecs_backend.run_task(
            cluster, service.task_definition, max(service.running_count or 0, 1), None, "ecs-svc/1", [],
            service.launch_type or "FARGATE", service.network_configuration, group, None,
        )
        agent = EXEC_ENABLED.get((cluster, name), False)
        for task in ours:
            # A steady service's tasks run and stay running (moto walks a task
            # through its states on every look, RUNNING and on to STOPPED).
            task._transitions = [("RUNNING", "RUNNING")]
            task._status = "RUNNING"
            for container in task.containers:
                container.managed_agents = (
                    [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}] if agent else []
                )
    return json.dumps({"taskArns": [t.task_arn for t in ours]})


EC2ContainerServiceResponse.create_service = create_service
EC2ContainerServiceResponse.update_service = update_service
EC2ContainerServiceResponse.describe_services = describe_services
EC2ContainerServiceResponse.list_tasks = list_tasks
EC2ContainerServiceResponse.run_task = run_task
EC2ContainerServiceResponse.describe_tasks = describe_tasks
EC2ContainerServiceResponse.register_task_definition = register_task_definition
EC2ContainerServiceResponse.describe_task_definition = describe_task_definition

if __name__ == "__main__":
    server.main(sys.argv[1:])
