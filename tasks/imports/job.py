"""The csv_import job: a file in the bucket into its dataset's table.

S3 in chunks → decode → check (runs of clean rows by one pattern, the rest
parsed and checked row by row) → COPY (in a writer thread, so the
server loads while Python parses) → upsert, in one transaction. Holds one of
the database's import slots while it runs; waits in the queue when none is
free. Progress (rows, and an estimate of the total from bytes read) is
recorded every few seconds; whether the owner cancelled the job is looked at
between batches (at most once a second) and before the commit, and a cancelled
import rolls back. Bad rows go to an error report in the bucket.
"""
from __future__ import annotations

import csv
import gc
import io
import logging
import threading
import time
from queue import Empty, Full, Queue
from typing import Callable, Iterator

from botocore.exceptions import ClientError

from core import csvimport
from core.datasets import spec_named
from core.errors import InvalidRequest, JobDeferred, JobFailed
from core.settings import Settings
from tasks.imports import loading, slots
from tasks.imports.reading import Clean, FileProblem, Rows, open_text
from tasks.imports.report import ErrorReport, TooManyProblems, describe
from tasks.imports.validate import BatchValidator
from store import db, jobstore
from tasks import runtime, storage
from tasks.runtime import JobContext, job_task

log = logging.getLogger(__name__)
BATCH_ROWS = 4000
PROGRESS_SECONDS = 2.0
CANCEL_SECONDS = 1.0  # at most one look at the job row this often
WAKE_SECONDS = 0.5  # how often a loader waiting for rows wakes to look


@job_task(csvimport.TASK)
def run(ctx: JobContext) -> dict:
    """Import the job's file into its dataset, holding one of the database's import slots."""
    settings = runtime.current().settings
    try:
        spec = spec_named(ctx.params.get("dataset"), settings.datasets_dir)
    except InvalidRequest as exc:
        raise JobFailed(f"dataset {exc.message}") from None
    with db.connect(settings.require_database(), autocommit=True) as conn:
        if slots.take(conn, settings.import_concurrency) is None:
            held = slots.running(conn)
            raise JobDeferred(f"waiting for an import slot: {held} import(s) already run into "
                              f"this database (at most {settings.import_concurrency} at a time, "
                              f"IMPORT_CONCURRENCY); trying again in "
                              f"{settings.import_wait_seconds}s", settings.import_wait_seconds)
        collecting = gc.isenabled()
        gc.disable()  # rows hold no cycles; collecting a million lists costs seconds
        try:
            return Import(ctx, conn, spec, settings).run()
        finally:
            if collecting:
                gc.enable()


def in_thread(chunks: Iterator[str], depth: int = 16,
              watch: Callable[[], None] | None = None) -> Iterator[str]:
    """Run the ``chunks`` generator in a thread and yield what it makes.

    Parsing then goes on while the database works on what was sent; at most
    ``depth`` chunks wait. An error in the thread is raised here. ``watch`` is
    called here before each chunk is handed on and while none comes (every
    ``WAKE_SECONDS``): what it raises (a cancel) stops the thread and the load.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.2)
                return True
            except Full:
                continue
        return False

    def produce():
        try:
            for chunk in chunks:
                if not put((True, chunk)):
                    return
            put((False, None))
        except BaseException as exc:
            put((False, exc))

    thread = threading.Thread(target=produce, name="csv-parser", daemon=True)
    thread.start()
    try:
        while True:
            try:
                more, value = queue.get(timeout=WAKE_SECONDS)
            except Empty:
                if watch is not None:
                    watch()
                continue
            if watch is not None and more:
                watch()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        thread.join(10)


class Import:
    """One run of an import job."""

    def __init__(self, ctx: JobContext, conn, spec, settings: Settings):
        self.ctx, self.conn, self.spec, self.settings = ctx, conn, spec, settings
        self.s3 = storage.client(settings, "s3")
        self.max_bad = int(ctx.params.get("max_bad_rows", 0))
        self.rows = self.bad = 0
        self.report = ErrorReport(settings.import_max_problems, self.max_bad)
        self.job_id, self.attempt = ctx.job.id, ctx.attempt  # the parser thread reports by id
        self.sessions = runtime.current().sessions  # in sessions of its own
        self._next_progress = time.monotonic() + PROGRESS_SECONDS
        self._next_look = 0.0

    def run(self) -> dict:
        began = time.monotonic()
        body, size = self._open()
        text, counter, codec = open_text(body, self.ctx.params.get("encoding", "auto"))
        limit = self.settings.import_max_record_chars
        rows = Rows(text, codec, limit)
        validator = BatchValidator(self.spec, rows.read_header(), limit)
        chunks = in_thread(self._chunks(rows, validator, counter, size), watch=self._watch)
        try:
            loaded = loading.load(self.conn, self.spec, validator.columns, chunks,
                                  commit=self._may_commit)
        except TooManyProblems as exc:  # nothing was loaded; the report says what to fix
            self._store_report()
            raise JobFailed(f"{exc} (GET /api/jobs/{self.ctx.job.id}/errors.csv)") from None
        if self.rows == 0:
            raise FileProblem("the file has a header line but no rows under it")
        report = self._store_report()
        self.ctx.progress(total=self.rows, done=self.rows - self.bad, failed=self.bad)
        if not loaded.committed:
            raise JobFailed(self._refusal())
        return {"dataset": self.spec.name, "table": self.spec.table, "encoding": codec,
                "rows": self.rows, "imported": self.rows - self.bad, "bad_rows": self.bad,
                "rows_written": loaded.written, "load": loaded.path, "error_report": report,
                "problems": self.report.sample, "problems_not_listed": self.report.unlisted,
                "columns": validator.columns,
                "bytes": size, "seconds": round(time.monotonic() - began, 3)}

    def _open(self):
        key = self.ctx.params["key"]
        try:
            obj = self.s3.get_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise FileProblem(f"the file {key} is not in the bucket; upload it first") from None
            raise
        size = obj["ContentLength"]
        if size > self.settings.import_max_bytes:
            raise FileProblem(f"the file is {size:,} bytes; at most "
                              f"{self.settings.import_max_bytes:,} can be imported "
                              "(IMPORT_MAX_BYTES): split it into smaller files")
        return obj["Body"], size

    def _chunks(self, rows: Rows, validator: BatchValidator, counter, size: int):
        """CSV text of the good rows, a batch at a time, while the bad ones are reported."""
        for piece in rows.pieces(BATCH_ROWS, validator.shapes):
            text = self._checked(piece, validator, rows.newline)
            if self.bad <= self.max_bad and text:
                yield loading.Chunk(text, piece.null if isinstance(piece, Clean) else "")
            if time.monotonic() >= self._next_progress:
                self._progress(counter.bytes_read, size)

    def _checked(self, piece, validator: BatchValidator, newline: str) -> str:
        """The COPY text of a piece's good rows, counting its rows and bad rows."""
        if isinstance(piece, Clean):
            self.rows += piece.records
            return piece.text
        batch, lines, raw = piece
        good, bad = validator.check(batch, lines, self.report)
        self.rows += len(batch)
        self.bad += bad
        as_read = validator.whole_rows and not validator.rewrites
        return self._copy_text(good, bad, raw, newline, as_read) if good else ""

    @staticmethod
    def _copy_text(good, bad: int, raw: str | None, newline: str, as_read: bool) -> str:
        if bad == 0 and raw is not None and as_read:
            return raw  # a clean batch goes as it came: nothing to re-format
        out = io.StringIO()
        csv.writer(out, lineterminator=newline).writerows(good)
        return out.getvalue()

    def _progress(self, read: int, size: int) -> None:
        estimate = round(self.rows * size / read) if read else 0
        with db.unit_of_work(self.sessions) as session:
            jobstore.progress(session, self.job_id, self.attempt, total=max(estimate, self.rows),
                              done=self.rows - self.bad, failed=self.bad)
        self._next_progress = time.monotonic() + PROGRESS_SECONDS

    def _watch(self) -> None:
        """Between batches: stop (``JobCancelled``) if the owner cancelled the job, looking
        at its row at most once every ``CANCEL_SECONDS``."""
        if time.monotonic() >= self._next_look:
            self.ctx.check_cancelled()
            self._next_look = time.monotonic() + CANCEL_SECONDS

    def _may_commit(self) -> bool:
        """Whether the loaded rows may be committed: not when the job was cancelled
        (that raises) nor when the file held no rows or too many bad ones."""
        self.ctx.check_cancelled()
        return self.rows > 0 and self.bad <= self.max_bad

    def _store_report(self) -> str | None:
        if not self.report.problems:
            return None
        key = csvimport.report_key(str(self.ctx.job.id))
        self.report.store(self.s3, self.settings.bucket, key)
        return key

    def _refusal(self) -> str:
        limit = ("any bad row stops the import" if self.max_bad == 0
                 else f"at most {self.max_bad} may be bad")
        first = "; ".join(describe(p) for p in self.report.sample[:3])
        return (f"{self.bad} of {self.rows} rows have problems, so nothing was imported "
                f"({limit}). The error report lists every one "
                f"(GET /api/jobs/{self.ctx.job.id}/errors.csv). First: {first}")
