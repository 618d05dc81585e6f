"""One error tree for the job system."""


class JobSystemError(Exception):
    """Base of every error the job system raises on purpose."""


class ConfigurationError(JobSystemError):
    """A setting is missing or malformed; the message names it."""


class InvalidRequest(JobSystemError):
    """A request a user made is wrong; ``field`` names what to change."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Forbidden(InvalidRequest):
    """A request names something its user may not read (another user's file, a table of
    everyone's records); ``field`` names it."""


class JobFailed(JobSystemError):
    """A job cannot succeed; retrying will not help (bad input, missing data)."""


class RanTooLong(JobFailed):
    """A job ran past the most its kind may run; the message says how long and what to do."""


class TransientJobError(JobSystemError):
    """A job hit a passing problem (a timeout, a busy service); retry later."""


class JobCancelled(JobSystemError):
    """The job's owner cancelled it while it ran."""


class QueueMissing(ConfigurationError):
    """A queue the system needs does not exist yet."""


class JobDeferred(JobSystemError):
    """The job cannot start yet (a shared limit is reached); it waits ``delay`` seconds
    in its queue, not in a worker, and the message says what it waits for."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay
