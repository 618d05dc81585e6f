"""ECS: the cluster, a task definition and a service per worker pool on ECS (at 0),
the web app and Flower behind a load balancer, and the one-off migration task."""
from __future__ import annotations

from deploy import pools
from deploy.dashboard import metrics_env
from deploy.cfn import NO_VALUE, att, camel, if_, load_balancer_url, ref, sub
from deploy.names import CLUSTER_NAME, POOLS, VISIBILITY, image, service_name

#: ECS sends SIGTERM, then SIGKILL after this: a worker finishes its task meanwhile (Fargate's most).
STOP_TIMEOUT = 120
WORKER_COMMAND = ["python", "-m", "worker"]
WORKER_HEALTH_COMMAND = ["CMD", "python", "-m", "worker.health"]
WEB_COMMAND = ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4",
               "--access-logfile", "-", "webapp:create_app()"]
FLOWER_COMMAND = ["celery", "--app", "worker.flower:app", "flower", "--port=5555"]
MIGRATE_COMMAND = ["flask", "--app", "webapp", "db", "upgrade", "-d", "webapp/migrations"]
WEB_PORT, FLOWER_PORT = 8000, 5555


def env(pairs: dict) -> list[dict]:
    return [{"Name": k, "Value": v} for k, v in pairs.items()]


def common_env(region: bool = True) -> dict:
    """The settings every process shares (README, "Configuration"); Lambda sets the
    region itself, and refuses a function that sets it (``region=False``)."""
    out = {"AWS_REGION": sub("${AWS::Region}")} if region else {}
    return {**out, "QUEUE_PREFIX": ref("QueuePrefix"), "BUCKET": ref("FilesBucket"),
            "LOG_FORMAT": "json"}


def queue_env(pool: str | None = None, runtime: str | None = None) -> dict:
    """The queues' visibility timeouts, as the queues have them, and their redrive count;
    for the workers of ``pool`` on ``runtime``."""
    out = {f"QUEUE_VISIBILITY_{w.upper()}": pools.visibility(
        w, text=True, runtime=runtime if w == pool else None) for w in VISIBILITY}
    out["MAX_RECEIVE_COUNT"] = ref("MaxReceiveCount")
    return out


def worker_env(pool: str, runtime: str | None = None) -> dict:
    """The settings of a pool's workers; on Lambda (``runtime="lambda"``) without the region,
    which Lambda sets itself."""
    return {**common_env(region=runtime != "lambda"), **queue_env(pool, runtime),
            "WORKER_QUEUES": pool,
            # The default transport writes files the image cannot hold.
            "MAIL_TRANSPORT": "ses", "MAIL_FROM": ref("MailFrom"), **metrics_env()}


def database_secret() -> list[dict]:
    return [{"Name": "DATABASE_URL", "ValueFrom": ref("DatabaseUrlSecretArn")}]


def logging(stream_prefix: str) -> dict:
    return {"LogDriver": "awslogs", "Options": {
        "awslogs-group": ref("LogGroup"), "awslogs-region": sub("${AWS::Region}"),
        "awslogs-stream-prefix": stream_prefix}}


def task_definition(family, cpu, memory, task_role, container: dict) -> dict:
    props = {
        "Family": sub(family),
        "RequiresCompatibilities": ["FARGATE"], "NetworkMode": "awsvpc",
        "Cpu": cpu, "Memory": memory,
        "ExecutionRoleArn": att("ExecutionRole", "Arn"),
        "ContainerDefinitions": [{"Essential": True, **container}],
    }
    if task_role:
        props["TaskRoleArn"] = att(task_role, "Arn")
    return {"Type": "AWS::ECS::TaskDefinition", "Properties": props}


def worker_container(pool: str) -> dict:
    return {
        "Name": "worker", "Image": image("worker"), "Command": WORKER_COMMAND,
        "Environment": env({**worker_env(pool),
                            "WORKER_CONCURRENCY": ref("WorkerConcurrency")}),
        "Secrets": database_secret(),
        "StopTimeout": STOP_TIMEOUT,
        "HealthCheck": {"Command": WORKER_HEALTH_COMMAND, "Interval": 30, "Timeout": 10,
                        "Retries": 3, "StartPeriod": 60},
        "LogConfiguration": logging(f"worker-{pool}"),
    }


def task_definitions() -> dict:
    # Every pool has one, on Lambda too (unused there, as its queues' settings say): a
    # stack update in the emulator fails on a resource its condition left out whose
    # parameters changed (the image tag, every release).
    out = {f"{camel(p)}WorkerTaskDefinition": task_definition(
        service_name(p), ref("WorkerCpu"), ref("WorkerMemory"), "WorkerTaskRole",
        worker_container(p)) for p in POOLS}
    out["WebTaskDefinition"] = task_definition("${QueuePrefix}web", "512", "1024", "WebTaskRole", {
        "Name": "web", "Image": image("web"), "Command": WEB_COMMAND,
        "PortMappings": [{"ContainerPort": WEB_PORT}],
        "Environment": env({**common_env(), "FLOWER_URL": flower_url(),
                            # The session cookie follows the scheme browsers use.
                            "COOKIE_SECURE": if_("HasCertificate", "on", "off"),
                            # The load balancer adds X-Forwarded-For and -Proto.
                            "TRUSTED_PROXIES": "1"}),
        "Secrets": database_secret() + [{"Name": "SECRET_KEY",
                                         "ValueFrom": ref("WebSecretKeyArn")}],
        "LogConfiguration": logging("web")})
    out["FlowerTaskDefinition"] = task_definition(
        "${QueuePrefix}flower", "512", "1024", "FlowerTaskRole", {
            "Name": "flower", "Image": image("flower"), "Command": FLOWER_COMMAND,
            "PortMappings": [{"ContainerPort": FLOWER_PORT}],
            "Environment": env({**common_env(), **queue_env()}) + flower_oauth_env(),
            "Secrets": if_("UseOAuth", flower_oauth_secrets(), [
                {"Name": "FLOWER_BASIC_AUTH", "ValueFrom": ref("FlowerSecretArn")}]),
            "LogConfiguration": logging("flower")})
    out["MigrateTaskDefinition"] = task_definition(
        "${QueuePrefix}migrate", "256", "512", None, {
            "Name": "migrate", "Image": image("web", "MigrateImageTag"), "Command": MIGRATE_COMMAND,
            "Secrets": database_secret(), "LogConfiguration": logging("migrate")})
    return out


def flower_url() -> dict:
    """Flower's address on the load balancer (the operator page links to it)."""
    return load_balancer_url(f":{FLOWER_PORT}")


def flower_oauth_env() -> list:
    """FLOWER_AUTH and its provider and callback, when FlowerAuth turns OAuth on."""
    derived = load_balancer_url(f":{FLOWER_PORT}/login")
    pairs = {"FLOWER_AUTH": ref("FlowerAuth"), "FLOWER_AUTH_PROVIDER": ref("FlowerAuthProvider"),
             "FLOWER_OAUTH2_REDIRECT_URI": if_("HasRedirectUri", ref("FlowerOAuthRedirectUri"),
                                               derived)}
    return [if_("UseOAuth", item, NO_VALUE) for item in env(pairs)]


def flower_oauth_secrets() -> list[dict]:
    """The OAuth client and cookie secret, from the JSON keys of the Flower secret."""
    return [{"Name": name, "ValueFrom": sub("${FlowerSecretArn}:" + key + "::")}
            for name, key in (("FLOWER_OAUTH2_KEY", "key"), ("FLOWER_OAUTH2_SECRET", "secret"),
                              ("FLOWER_COOKIE_SECRET", "cookie_secret"))]


def network_configuration(security_group: str) -> dict:
    return {"AwsvpcConfiguration": {"Subnets": ref("PrivateSubnetIds"),
                                    "SecurityGroups": [ref(security_group)],
                                    "AssignPublicIp": ref("AssignPublicIp")}}


def service(name, task_definition, count, security_group, target=None, depends=None) -> dict:
    props = {
        "ServiceName": sub(name), "Cluster": ref("Cluster"),
        "TaskDefinition": ref(task_definition), "DesiredCount": count,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": network_configuration(security_group),
        "PropagateTags": "SERVICE", "EnableECSManagedTags": True,
        # A release whose tasks cannot start or stay healthy goes back to the last one.
        "DeploymentConfiguration": {"DeploymentCircuitBreaker": {"Enable": True,
                                                                 "Rollback": True}},
    }
    if target:
        container, port, group = target
        props["LoadBalancers"] = [{"ContainerName": container, "ContainerPort": port,
                                   "TargetGroupArn": ref(group)}]
        props["HealthCheckGracePeriodSeconds"] = 60
    out = {"Type": "AWS::ECS::Service", "Properties": props}
    if depends:
        out["DependsOn"] = depends
    return out


def services() -> dict:
    # A pool on Lambda has no service.
    out = {f"{camel(p)}WorkerService": {**pools.ecs_condition(p), **service(
        service_name(p), f"{camel(p)}WorkerTaskDefinition", 0, "WorkerSecurityGroup")}
        for p in POOLS}
    out["WebService"] = service("${QueuePrefix}web", "WebTaskDefinition", ref("WebDesiredCount"),
                                "ServiceSecurityGroup", ("web", WEB_PORT, "WebTargetGroup"),
                                "WebListener")
    out["FlowerService"] = service("${QueuePrefix}flower", "FlowerTaskDefinition", 1,
                                   "ServiceSecurityGroup",
                                   ("flower", FLOWER_PORT, "FlowerTargetGroup"), "FlowerListener")
    return out


def cluster() -> dict:
    # Container Insights stays off: it bills per metric, and workers come and go all day.
    return {"Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {
        "ClusterName": sub(CLUSTER_NAME)}}}


def security_group(description: str, rules: list[dict]) -> dict:
    props = {"GroupDescription": description, "VpcId": ref("VpcId")}
    if rules:
        props["SecurityGroupIngress"] = rules
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": props}


def ingress(port: int, cidr: str, description: str, condition: str) -> dict:
    """A rule letting ``cidr`` reach the load balancer on ``port`` when ``condition`` holds."""
    return {"Type": "AWS::EC2::SecurityGroupIngress", "Condition": condition, "Properties": {
        "GroupId": ref("LoadBalancerSecurityGroup"), "IpProtocol": "tcp", "FromPort": port,
        "ToPort": port, "CidrIp": ref(cidr), "Description": description}}


def network() -> dict:
    """Who may talk to whom: the internet (AllowedCidr) to the load balancer's web ports,
    operators (OperatorCidr) to Flower's, it to the web app and Flower; workers and
    Lambdas accept nothing."""
    return {
        "LoadBalancerSecurityGroup": security_group("jobsys load balancer", [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": ref("AllowedCidr"),
             "Description": "web app (redirects to HTTPS with a certificate)"}]),
        "LoadBalancerHttpsIngress": ingress(443, "AllowedCidr", "web app over HTTPS",
                                            "HasCertificate"),
        # Flower controls the workers: operators only, never AllowedCidr's whole internet.
        "FlowerOperatorIngress": ingress(FLOWER_PORT, "OperatorCidr", "Flower, operators only",
                                         "HasOperatorCidr"),
        "ServiceSecurityGroup": security_group("jobsys web app and Flower", [
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "SourceSecurityGroupId": ref("LoadBalancerSecurityGroup"),
             "Description": "from the load balancer"}
            for port in (WEB_PORT, FLOWER_PORT)]),
        "WorkerSecurityGroup": security_group("jobsys workers and migrations", []),
        "LambdaSecurityGroup": security_group("jobsys import and export Lambdas", []),
    }


def database_access() -> dict:
    """With DatabaseSecurityGroupId, the database lets in every group that connects to it."""
    return {f"DatabaseAccessFrom{group}": {
        "Type": "AWS::EC2::SecurityGroupIngress", "Condition": "HasDatabaseSecurityGroup",
        "Properties": {"GroupId": ref("DatabaseSecurityGroupId"), "IpProtocol": "tcp",
                       "FromPort": ref("DatabasePort"), "ToPort": ref("DatabasePort"),
                       "SourceSecurityGroupId": ref(group),
                       "Description": f"jobsys {group}"}}
        for group in ("WorkerSecurityGroup", "ServiceSecurityGroup", "LambdaSecurityGroup")}


def target_group(port: int, health_path: str) -> dict:
    return {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
        "VpcId": ref("VpcId"), "Protocol": "HTTP", "Port": port, "TargetType": "ip",
        "HealthCheckPath": health_path, "HealthCheckIntervalSeconds": 15,
        "HealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"},
        "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds",
                                   "Value": "30"}]}}


def listener(port, group: str) -> dict:
    https = "HasCertificate"
    return {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
        "LoadBalancerArn": ref("LoadBalancer"), "Port": port,
        "Protocol": if_(https, "HTTPS", "HTTP"),
        "Certificates": if_(https, [{"CertificateArn": ref("CertificateArn")}], NO_VALUE),
        "SslPolicy": if_(https, "ELBSecurityPolicy-TLS13-1-2-2021-06", NO_VALUE),
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref(group)}]}}


def load_balancer() -> dict:
    """One load balancer: the web app on 443 (80 redirects to it; plain 80 without a
    certificate), Flower on 5555."""
    return {
        "LoadBalancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
            "Scheme": "internet-facing", "Type": "application",
            "LoadBalancerAttributes": [{"Key": "routing.http.drop_invalid_header_fields.enabled",
                                        "Value": "true"}],
            "Subnets": ref("PublicSubnetIds"),
            "SecurityGroups": [ref("LoadBalancerSecurityGroup")]}},
        "WebTargetGroup": target_group(WEB_PORT, "/healthz"),
        # Flower answers /healthcheck without authentication (docs/flower.md).
        "FlowerTargetGroup": target_group(FLOWER_PORT, "/healthcheck"),
        "WebListener": listener(if_("HasCertificate", 443, 80), "WebTargetGroup"),
        "FlowerListener": listener(FLOWER_PORT, "FlowerTargetGroup"),
        "WebRedirectListener": redirect_to_https(),
        "FlowerMetricsNotFound": not_found("FlowerListener", ["/metrics", "/metrics/*"]),
    }


def not_found(listener_id: str, paths: list[str]) -> dict:
    """A listener rule answering 404 on ``paths``: Flower's /metrics needs no sign-in, so
    it is scraped inside the VPC and never served through the load balancer."""
    return {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
        "ListenerArn": ref(listener_id), "Priority": 1,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}],
        "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "Not Found"}}]}}


def redirect_to_https() -> dict:
    """With a certificate, plain HTTP on 80 answers a permanent redirect to HTTPS."""
    return {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Condition": "HasCertificate",
            "Properties": {
                "LoadBalancerArn": ref("LoadBalancer"), "Port": 80, "Protocol": "HTTP",
                "DefaultActions": [{"Type": "redirect", "RedirectConfig": {
                    "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
                    "Query": "#{query}", "StatusCode": "HTTP_301"}}]}}
