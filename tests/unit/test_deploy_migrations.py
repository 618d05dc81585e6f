"""The migration task has an image tag of its own, so a release can migrate the database
with the new web image before any service runs it."""
from __future__ import annotations

from tests.support.stack import PARAMETERS, RESOURCES, refs


def test_only_the_migrate_task_definition_uses_migrate_image_tag():
    users = {name for name, resource in RESOURCES.items()
             if "MigrateImageTag" in refs(resource)}
    assert users == {"MigrateTaskDefinition"}
    assert PARAMETERS["MigrateImageTag"]["Default"] == "latest"


def test_the_migrate_task_runs_the_web_image_at_its_own_tag():
    (container,) = RESOURCES["MigrateTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Image"]["Fn::Sub"].endswith("/web:${MigrateImageTag}")
    assert "WebImageTag" not in refs(RESOURCES["MigrateTaskDefinition"])


def test_the_web_service_and_web_lambdas_keep_the_web_image_tag():
    for name in ("WebTaskDefinition", "ImportUploadFunction", "NightlyExportFunction"):
        assert "WebImageTag" in refs(RESOURCES[name]), name
