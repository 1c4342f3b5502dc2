"""The AWS deployment's wiring, read from the HCL itself (python-hcl2; no Terraform, no AWS): every process
runs the one image with the secrets and a log group, the data stores are private and encrypted, the
scheduler is single, and every alarm the operators rely on exists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

TERRAFORM = Path(__file__).resolve().parents[2] / "infra" / "terraform"
PROCESSES = {"api", "worker", "scheduler", "migrate"}
SERVICES = {"api", "worker", "scheduler"}
APP_SECRETS = {"BPO_SECRET_KEY", "BPO_PLATFORM_TOKEN", "BPO_DATABASE_URL", "BPO_REDIS_URL"}


def unquote(value: Any) -> Any:
    """hcl2 keeps string literals quoted (``'"abc"'``) and expressions as ``'${…}'``."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@dataclass
class Config:
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        assert (kind, name) in self.resources, f"no resource {kind}.{name}"
        return self.resources[(kind, name)]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


@pytest.fixture(scope="module")
def config() -> Config:
    parsed = Config()
    files = sorted(TERRAFORM.glob("*.tf"))
    assert files, f"no .tf files in {TERRAFORM}"
    for path in files:
        with path.open() as handle:
            document = hcl2.load(handle)
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    key = (unquote(kind), unquote(name))
                    assert key not in parsed.resources, f"{key} declared twice"
                    parsed.resources[key] = body
        for block in document.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    parsed.data[(unquote(kind), unquote(name))] = body
        for block in document.get("locals", []):
            parsed.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
        for block in document.get("variable", []):
            parsed.variables.update({unquote(k): v for k, v in block.items()})
        for block in document.get("output", []):
            parsed.outputs.update({unquote(k): v for k, v in block.items()})
    return parsed


def first(body: dict[str, Any], block: str) -> dict[str, Any]:
    value = body[block]
    return value[0] if isinstance(value, list) else value


def refers(expression: Any, pattern: str) -> bool:
    """Whether an expression mentions ``pattern`` (a regex over the normalised expression text)."""
    return re.search(pattern, str(expression)) is not None


def test_every_process_has_a_task_definition_from_the_image_with_secrets_and_a_log_group(
    config: Config,
) -> None:
    services = config.locals["services"]
    assert set(services) == PROCESSES

    task = config.resource("aws_ecs_task_definition", "service")
    assert refers(task["for_each"], r"^\$\{local\.services\}$")
    containers = task["container_definitions"]
    assert refers(containers, r"\bimage = var\.image\b"), "every container runs var.image"
    assert refers(containers, r"\bcommand = each\.value\.command\b")
    assert refers(
        containers,
        r"for name in each\.value\.secrets : "
        r"\{name = name, valueFrom = aws_secretsmanager_secret\.bpo\[name\]\.arn\}",
    )
    assert refers(containers, r"logDriver = \"awslogs\"")
    assert refers(containers, r"awslogs-group = aws_cloudwatch_log_group\.service\[each\.key\]\.name")
    assert unquote(task["network_mode"]) == "awsvpc"
    assert refers(task["execution_role_arn"], r"aws_iam_role\.execution\.arn")

    logs = config.resource("aws_cloudwatch_log_group", "service")
    assert refers(logs["for_each"], r"^\$\{local\.services\}$"), "one log group per process"
    assert logs["retention_in_days"] is not None

    assert not re.search(r"\bimage\s*=\s*\"", str(config.resources)), (
        "an image hard-coded instead of var.image"
    )
    assert "image" in config.variables


def test_every_process_gets_the_app_secrets_and_only_migrate_the_owner_url(config: Config) -> None:
    app_secrets = config.locals["app_secrets"]
    assert refers(app_secrets, r"concat\(")
    listed = set(re.findall(r'"(BPO_[A-Z_]+)"', str(app_secrets)))
    assert listed >= APP_SECRETS
    assert "BPO_MIGRATION_DATABASE_URL" not in listed

    for name, service in config.locals["services"].items():
        secrets = str(service["secrets"])
        assert "local.app_secrets" in secrets, f"{name} does not get the app secrets"
        assert ("BPO_MIGRATION_DATABASE_URL" in secrets) == (name == "migrate"), name

    names = config.locals["secret_names"]
    assert refers(names, r"local\.app_secrets")
    assert refers(names, r"BPO_MIGRATION_DATABASE_URL")
    secret = config.resource("aws_secretsmanager_secret", "bpo")
    assert refers(secret["for_each"], r"local\.secret_names")
    assert refers(secret["kms_key_id"], r"aws_kms_key\.main\.arn")
    version = config.resource("aws_secretsmanager_secret_version", "bpo")
    assert refers(version["for_each"], r"local\.secret_names")

    values = config.locals["secret_values"]
    assert set(values) >= APP_SECRETS | {"BPO_MIGRATION_DATABASE_URL"}
    assert refers(values["BPO_DATABASE_URL"], r"^\"postgresql://bpo_app:.*\?ssl=require\"$")
    assert refers(values["BPO_MIGRATION_DATABASE_URL"], r"\?ssl=require")
    assert refers(values["BPO_REDIS_URL"], r"^\"rediss://:"), "Redis over TLS with the auth token"

    policy = config.of_type("aws_iam_role_policy")["execution_secrets"]
    assert refers(policy["role"], r"aws_iam_role\.execution")
    assert refers(policy["policy"], r"data\.aws_iam_policy_document\.execution_secrets\.json")
    statements = config.data[("aws_iam_policy_document", "execution_secrets")]["statement"]
    reads = [s for s in statements if refers(s["actions"], "secretsmanager:GetSecretValue")]
    assert reads
    assert refers(reads[0]["resources"], r"aws_secretsmanager_secret\.bpo\b")


def test_services_run_their_task_definition_privately_and_the_scheduler_alone(config: Config) -> None:
    services = config.of_type("aws_ecs_service")
    assert set(services) == SERVICES, "migrate is a one-off task, not a service"
    for name, service in services.items():
        assert refers(service["task_definition"], rf'aws_ecs_task_definition\.service\["{name}"\]\.arn'), name
        network = first(service, "network_configuration")
        assert network["assign_public_ip"] is False, name
        assert refers(network["subnets"], r"aws_subnet\.private\b"), name

    scheduler = services["scheduler"]
    assert scheduler["desired_count"] == 1
    assert scheduler["deployment_maximum_percent"] == 100
    assert scheduler["deployment_minimum_healthy_percent"] == 0

    api = services["api"]
    balancer = first(api, "load_balancer")
    assert refers(balancer["target_group_arn"], r"aws_lb_target_group\.api")


def test_api_and_workers_autoscale(config: Config) -> None:
    targets = config.of_type("aws_appautoscaling_target")
    assert refers(targets["api"]["resource_id"], r"aws_ecs_service\.api\.name")
    assert refers(targets["worker"]["resource_id"], r"aws_ecs_service\.worker\.name")
    policies = config.of_type("aws_appautoscaling_policy")
    kinds = {
        unquote(
            first(
                first(p, "target_tracking_scaling_policy_configuration"), "predefined_metric_specification"
            )["predefined_metric_type"]
        )
        for p in policies.values()
        if "target_tracking_scaling_policy_configuration" in p
    }
    assert kinds == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}

    alarms = config.of_type("aws_cloudwatch_metric_alarm")
    out, in_ = alarms["queue_backlog"], alarms["queue_idle"]
    for alarm, policy in ((out, "worker_out"), (in_, "worker_in")):
        assert unquote(alarm["metric_name"]) == "QueueDepth"
        assert refers(alarm["alarm_actions"], rf"aws_appautoscaling_policy\.{policy}\.arn")
        assert refers(policies[policy]["resource_id"], r"aws_appautoscaling_target\.worker")
    filters = config.of_type("aws_cloudwatch_log_metric_filter")
    depth = first(filters["queue_depth"], "metric_transformation")
    assert unquote(depth["name"]) == "QueueDepth"
    assert refers(
        filters["queue_depth"]["log_group_name"], r'aws_cloudwatch_log_group\.service\["scheduler"\]'
    )
    assert refers(filters["queue_depth"]["pattern"], r"queue_stats")


def test_database_is_private_encrypted_multi_az_and_tls_only(config: Config) -> None:
    db = config.resource("aws_db_instance", "main")
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert db["multi_az"] is True
    assert refers(db["kms_key_id"], r"aws_kms_key\.main")
    assert refers(db["parameter_group_name"], r"aws_db_parameter_group\.main")
    assert db["skip_final_snapshot"] is False
    subnets = config.resource("aws_db_subnet_group", "main")
    assert refers(subnets["subnet_ids"], r"aws_subnet\.data\b")

    parameters = {
        unquote(p["name"]): unquote(p["value"])
        for p in config.resource("aws_db_parameter_group", "main")["parameter"]
    }
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["row_security"] == "1"
    assert parameters["password_encryption"] == "scram-sha-256"

    ingress = first(config.resource("aws_security_group", "db"), "ingress")
    assert refers(ingress["security_groups"], r"aws_security_group\.app\.id")
    assert "cidr_blocks" not in ingress


def test_redis_is_encrypted_in_transit_and_at_rest_with_auth(config: Config) -> None:
    redis = config.resource("aws_elasticache_replication_group", "main")
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True
    assert refers(redis["auth_token"], r"random_password\.redis_auth")
    assert redis["automatic_failover_enabled"] is True
    assert refers(redis["subnet_group_name"], r"aws_elasticache_subnet_group\.main")
    parameters = {
        unquote(p["name"]): unquote(p["value"])
        for p in config.resource("aws_elasticache_parameter_group", "main")["parameter"]
    }
    assert parameters["maxmemory-policy"] == "noeviction", "a broker must not evict messages"


def test_load_balancer_serves_https_and_redirects_http(config: Config) -> None:
    https = config.resource("aws_lb_listener", "https")
    assert unquote(https["protocol"]) == "HTTPS"
    assert refers(https["certificate_arn"], r"var\.certificate_arn")
    redirect = first(first(config.resource("aws_lb_listener", "http"), "default_action"), "redirect")
    assert unquote(redirect["protocol"]) == "HTTPS"
    health = first(config.resource("aws_lb_target_group", "api"), "health_check")
    assert unquote(health["path"]) == "/health"


def test_alarms_for_errors_latency_queue_age_and_sla_lag_notify(config: Config) -> None:
    alarms = config.of_type("aws_cloudwatch_metric_alarm")
    for name in ("api_5xx_rate", "api_p95_latency", "queue_age", "sla_job_lag"):
        assert name in alarms, f"missing alarm {name}"
        assert refers(alarms[name]["alarm_actions"], r"aws_sns_topic\.alarms\.arn"), name
    assert unquote(alarms["api_p95_latency"]["extended_statistic"]) == "p95"
    queries = {unquote(q["id"]): q for q in alarms["api_5xx_rate"]["metric_query"]}
    assert refers(queries["rate"]["expression"], r"target_5xx")
    assert refers(queries["rate"]["expression"], "requests")
    assert unquote(alarms["queue_age"]["metric_name"]) == "OldestMessageAgeSeconds"
    assert refers(alarms["sla_job_lag"]["dimensions"], r"var\.sla_queue")


def test_documented_inputs_and_outputs(config: Config) -> None:
    for name in ("image", "environment", "certificate_arn", "region"):
        assert name in config.variables
    for name in ("api_url", "ecr_repository_url", "run_migrate_command", "secret_arns"):
        assert name in config.outputs
    example = (TERRAFORM / "prod.tfvars.example").read_text()
    assigned = set(re.findall(r"^([a-z_0-9]+)\s*=", example, re.MULTILINE))
    assert assigned <= set(config.variables), (
        f"unknown variables in prod.tfvars.example: {assigned - set(config.variables)}"
    )
    assert {"image", "environment", "certificate_arn"} <= assigned
