"""The autoscaler's error tree."""


class AutoscalerError(Exception):
    """Base of every error the autoscaler raises on purpose."""


class ConfigurationError(AutoscalerError):
    """A setting is missing or malformed; the message names the variable."""


class TargetMissing(AutoscalerError):
    """A queue, ECS service or task family the configuration names does not exist."""
