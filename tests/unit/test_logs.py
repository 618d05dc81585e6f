"""Log lines a log tool can read: one JSON object a line, the job's fields on the lines of
its work and on no others, a traceback inside its line, in every process's format."""
import io
import json
import logging
import runpy
import threading
import uuid
from pathlib import Path

import pytest

from autoscaler import config as autoscaler_config
from autoscaler import logformat
from core import logs
from core.errors import ConfigurationError
from core.settings import LOG_FORMATS, Settings

ROOT = Path(__file__).resolve().parents[2]


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def capture(log_format="json", process="worker"):
    stream = io.StringIO()
    log = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    log.addHandler(logs.handler(log_format, process, stream))
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, stream


def test_a_line_outside_a_job_carries_no_job_fields():
    log, out = capture()
    with logs.bound(job_id="j-1", kind="export", attempt=1, task_id="t-1"):
        log.info("inside")
    log.info("outside")
    inside, outside = json_lines(out)
    assert {k: inside[k] for k in ("job_id", "kind", "attempt", "task_id")} == {
        "job_id": "j-1", "kind": "export", "attempt": 1, "task_id": "t-1"}
    assert outside["message"] == "outside"
    assert not {"job_id", "kind", "attempt", "task_id"} & set(outside)


def test_every_json_line_names_its_time_level_logger_and_process():
    log, out = capture(process="web")
    log.warning("über %s", "alles")
    [line] = json_lines(out)
    assert line["message"] == "über alles" and line["level"] == "WARNING"
    assert line["process"] == "web" and line["logger"] == log.name
    assert line["timestamp"].endswith("+00:00") and isinstance(line["pid"], int)


def test_an_exception_is_one_json_object_with_its_traceback_in_a_field():
    log, out = capture()
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("job failed")
    [line] = json_lines(out)
    assert line["message"] == "job failed"
    assert "Traceback" in line["exception"] and "ValueError: bad row" in line["exception"]


def test_a_field_passed_with_the_line_wins_over_a_bound_one():
    log, out = capture()
    with logs.bound(job_id="outer"):
        log.info("x", extra={"job_id": "inner"})
    assert json_lines(out)[0]["job_id"] == "inner"


def test_one_threads_job_never_leaks_into_another_threads_lines():
    log, out = capture()
    entered, done = threading.Event(), threading.Event()

    def job():
        with logs.bound(job_id="theirs"):
            entered.set()
            done.wait(5)

    other = threading.Thread(target=job)
    other.start()
    entered.wait(5)
    log.info("mine")
    done.set()
    other.join()
    assert "job_id" not in json_lines(out)[0]


def test_values_are_written_as_text_and_unset_ones_left_out():
    job_id = uuid.uuid4()
    with logs.bound(job_id=job_id, attempt=None, attempt_no=2):
        assert logs.current() == {"job_id": str(job_id), "attempt_no": 2}
    assert logs.current() == {}


def test_text_lines_stay_plain():
    log, out = capture("text")
    with logs.bound(job_id="j-1"):
        log.info("hello")
    assert out.getvalue().rstrip().endswith(" INFO " + log.name + " hello")


def test_json_takes_the_root_logger_over_and_text_leaves_a_configured_one_alone(root_logger):
    foreign = logging.StreamHandler(io.StringIO())
    root_logger.handlers[:] = [foreign]
    assert logs.configure(Settings.from_env({}), "web") is None
    assert root_logger.handlers == [foreign]
    out = io.StringIO()
    installed = logs.configure(Settings.from_env({"LOG_FORMAT": "json"}), "web", stream=out,
                               loggers=("gunicorn.access",))
    assert root_logger.handlers == [installed]
    assert logging.getLogger("gunicorn.access").handlers == [installed]
    logging.getLogger("gunicorn.access").info("GET / 200")
    logging.getLogger("gunicorn.access").handlers = []
    assert json_lines(out)[0]["message"] == "GET / 200"


def test_an_unknown_log_format_is_refused_naming_the_choices():
    with pytest.raises(ConfigurationError, match="LOG_FORMAT='yaml' is not one of: text, json"):
        Settings.from_env({"LOG_FORMAT": "yaml"})


def test_the_autoscalers_json_lines_have_the_same_fields_and_one_line_per_traceback(
        root_logger):
    out = io.StringIO()
    logformat.configure("json", stream=out)
    try:
        raise KeyError("pool")
    except KeyError:
        logging.getLogger("autoscaler").exception("round failed")
    [line] = json_lines(out)
    assert set(line) == {"level", "logger", "message", "process", "timestamp", "exception"}
    assert line["process"] == "autoscaler" and "KeyError: 'pool'" in line["exception"]


def test_the_autoscaler_knows_the_same_log_formats_as_the_rest_of_the_system():
    assert autoscaler_config.LOG_FORMATS == LOG_FORMATS
    assert autoscaler_config.load({"LOG_FORMAT": "JSON"}).log_format == "json"


def test_gunicorns_own_lines_are_json_lines_too(monkeypatch, capsys, root_logger):
    from gunicorn.config import Config
    from webapp import serving

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["logger_class"] == f"{serving.__name__}.{serving.Logger.__name__}"
    monkeypatch.setenv("LOG_FORMAT", "json")
    gunicorn = serving.Logger(Config())
    try:
        gunicorn.info("Booting worker with pid: %s", 7)
        gunicorn.error("WORKER TIMEOUT (pid:%s)", 7)
    finally:
        for log in (gunicorn.error_log, gunicorn.access_log):
            log.handlers = []
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["message"], line["process"]) for line in lines] == [
        ("INFO", "Booting worker with pid: 7", "web"), ("ERROR", "WORKER TIMEOUT (pid:7)", "web")]
