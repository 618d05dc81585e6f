"""Names and ARNs of the stack's resources, shared by the modules that build them."""
from __future__ import annotations

from autoscaler.state import DEFAULT_KEY
from core import filekeys
from core.settings import DEFAULT_VISIBILITY, WORKLOADS
from deploy.cfn import camel, sub

POOLS = WORKLOADS
VISIBILITY = dict(DEFAULT_VISIBILITY)
#: Where files live in the bucket (``core.filekeys``): workers and the web app may use these only.
DATA_PREFIXES = filekeys.ALL
IMPORTS_PREFIX = filekeys.IMPORTS
#: What the web app writes: uploads, its own and those it signs for browsers.
UPLOAD_PREFIXES = filekeys.UPLOADS
#: The prefixes each pool's jobs read and write: a pool's own role may use these only.
POOL_PREFIXES = {"default": (), "pdf": (filekeys.PDF,),
                 "imports": (filekeys.IMPORTS, filekeys.REPORTS), "exports": (filekeys.EXPORTS,)}
#: The autoscaler keeps its pools' state here (AUTOSCALER_STATE_KEY).
STATE_KEY = DEFAULT_KEY
BUCKET_NAME = "${QueuePrefix}files-${AWS::AccountId}-${AWS::Region}"
CLUSTER_NAME = "${QueuePrefix}cluster"
REGISTRY = "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}"
#: The Lambdas that run from the web image, by the handler each runs.
IMPORT_UPLOAD_HANDLER = "lambdas.import_upload.handler"
NIGHTLY_EXPORT_HANDLER = "lambdas.nightly_export.handler"
AUTOSCALER_HANDLER = "autoscaler.lambda_handler.handler"
#: A pool on Lambda runs its jobs with this handler, from the worker image.
POOL_HANDLER = "worker.lambda_pool.handler"
#: Flower's OAuth sign-in handlers (FLOWER_AUTH_PROVIDER).
OAUTH_PROVIDERS = ("flower.views.auth.GoogleAuth2LoginHandler",
                   "flower.views.auth.GithubLoginHandler",
                   "flower.views.auth.GitLabLoginHandler",
                   "flower.views.auth.OktaLoginHandler")


def visibility_parameter(workload: str) -> str:
    """The parameter holding a workload queue's visibility timeout."""
    return f"Visibility{camel(workload)}"


def queue_id(workload: str) -> str:
    """Logical id of a workload's queue."""
    return f"{camel(workload)}Queue"


def dead_letter_id(workload: str) -> str:
    """Logical id of a workload's dead-letter queue."""
    return f"{camel(workload)}DeadLetterQueue"


def service_name(pool: str) -> str:
    """ECS service (and task family) of a worker pool: POOL_<NAME>_SERVICE."""
    return "${QueuePrefix}worker-" + pool


def function_name(short: str) -> str:
    """A Lambda function's name."""
    return "${QueuePrefix}" + short


def pool_short(pool: str) -> str:
    """The short name of a Lambda pool's function (named as its ECS service would be)."""
    return "worker-" + pool


def arn(service: str, resource: str) -> dict:
    """An ARN in this stack's partition, region and account, ``!Sub``-ed."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def bucket_arn(key_pattern: str = "") -> dict:
    """The files bucket's ARN, or of its objects matching ``key_pattern``."""
    suffix = f"/{key_pattern}" if key_pattern else ""
    return sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + suffix)


def image(kind: str, tag_parameter: str | None = None) -> dict:
    """The ECR image URI of ``web``, ``worker``, ``flower`` or ``autoscaler``, tagged with
    ``<Kind>ImageTag`` unless another parameter is named."""
    tag = tag_parameter or f"{camel(kind)}ImageTag"
    return sub(f"{REGISTRY}/${{RepositoryPrefix}}/{kind}:${{{tag}}}")
