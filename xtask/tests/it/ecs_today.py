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

Every other call is moto's own; registering still goes through moto, so its
services, lists and deregistration see each revision.

Run as moto_server is: python3 ecs_today.py -H 127.0.0.1 -p PORT
"""

import copy
import json
import sys
import time

from moto import server
from moto.ecs.responses import EC2ContainerServiceResponse

# What ECS keeps of each revision, by ARN.
STORED = {}

moto_register = EC2ContainerServiceResponse.register_task_definition
moto_describe = EC2ContainerServiceResponse.describe_task_definition


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


EC2ContainerServiceResponse.register_task_definition = register_task_definition
EC2ContainerServiceResponse.describe_task_definition = describe_task_definition

if __name__ == "__main__":
    server.main(sys.argv[1:])
