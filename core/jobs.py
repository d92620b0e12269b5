"""One background reconstruction at a time, and the loaded network kept between runs.

The worker thread runs `pipeline.run` and never touches bpy; it reports through a queue of
events that the Blender side drains on the main thread (a timer in the UI, a loop in tests).
This module is light (the Blender side imports it while registering): the pipeline, and
with it torch, loads when the first run's work starts (`reconstruction`). Besides the
active jobs and the model cache here, the Blender side keeps small caches for drawing
(`tool.photos`, `tool.plate`, `tool.preferences`).
"""
from __future__ import annotations

import gc
import queue
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import Cancelled, Dust3rError, user_message
from .progress import Cancel, StageProgress
from .settings import JobParams

if TYPE_CHECKING:
    from .frames import Plate
    from .pipeline import Result
    from .predictor import Predictor


@dataclass(frozen=True)
class Event:
    """What the worker reports: kind "progress" (stage, done, total), then exactly one of
    "done" (result), "error" (message) or "cancelled"."""

    kind: str
    stage: str = ""
    done: int = 0
    total: int = 0
    result: "Optional[Result]" = None
    message: str = ""


class ModelCache:
    """The last loaded network, reused while the model, folder and device stay the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Optional[tuple] = None
        self._model = None

    def get(self, params: JobParams, progress=None, cancel=None):
        from . import pipeline  # torch: first needed here, on the worker thread
        from .device import resolve_device

        key = (params.model, params.model_dir, str(resolve_device(params.device)))
        with self._lock:
            if self._key == key:
                return self._model
            self._drop()  # free the old network before loading the next one
            self._model = pipeline.load_model(params, progress, cancel)
            self._key = key
            return self._model

    @property
    def loaded(self) -> Optional[str]:
        """What is loaded, e.g. "512_dpt on cuda", or None."""
        key = self._key
        return f"{key[0]} on {key[2]}" if key else None

    def unload(self) -> None:
        """Release the network and return its GPU memory to the driver."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._model, self._key = None, None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


MODELS = ModelCache()


Work = Callable[[StageProgress, Cancel], Any]  # work(progress, cancel)


class Job:
    """`work(progress, cancel)` on a daemon thread, with progress events and a cancel flag."""

    def __init__(self, work: Work, name: str = "dust3r-job") -> None:
        self._work_fn = work
        self._events: "queue.Queue[Event]" = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def start(self) -> "Job":
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the worker to stop at its next batch or iteration."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the worker; True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def events(self) -> list[Event]:
        """Every event reported since the last call (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def requeue(self, event: Event) -> None:
        """Put an event back (the UI takes a final event in two steps: show, then apply)."""
        self._events.put(event)

    def _progress(self, stage: str, done: int, total: int) -> None:
        self._events.put(Event("progress", stage, int(done), int(total)))

    def _work(self) -> None:
        try:
            result = self._work_fn(self._progress, self._cancel.is_set)
        except Cancelled:
            self._events.put(Event("cancelled"))
        except Exception as exc:  # a bug's traceback goes to the console
            self._events.put(Event("error", message=user_message(exc)))
        else:
            self._events.put(Event("done", result=result))


def reconstruction(params: JobParams, predictor: "Optional[Predictor]" = None,
                   models: Optional[ModelCache] = MODELS, *, plate: "Optional[Plate]" = None,
                   execute: "Optional[Callable[..., Result]]" = None) -> Work:
    """The work of one reconstruction: its input opened and checked (`pipeline.prepare`,
    with the `plate` the caller opened already), then `pipeline.execute` (or `execute`) with
    `predictor`, else with the cached network (loaded on first use, after the input
    checks: bad photos fail before a model loads)."""

    def work(progress, cancel) -> "Result":
        from . import pipeline  # torch: first needed here, on the worker thread

        inputs = pipeline.prepare(params, plate)
        chosen = predictor
        if chosen is None and models is not None:
            with pipeline.memory_errors():
                chosen = pipeline.network_predictor(models.get(params, progress, cancel), params)
        return (execute or pipeline.execute)(inputs, progress, cancel, chosen)

    return work


# The running background tasks by kind: "reconstruct", and the preferences' "install" and
# "download". One of each kind at a time.
_active: dict[str, Job] = {}
LABELS = {"reconstruct": "A reconstruction", "install": "A dependency install",
          "download": "A model download"}


def start_task(kind: str, work: Work) -> Job:
    """Start `work` as the one task of `kind`; `Dust3rError` if one is still running."""
    job = _active.get(kind)
    if job is not None and job.running:
        raise Dust3rError(f"{LABELS.get(kind, kind)} is already running: wait for it or "
                          "cancel it")
    _active[kind] = Job(work, name=f"dust3r-{kind}").start()
    return _active[kind]


def start(params: JobParams, predictor=None, **kwargs: Any) -> Job:
    """Start the one background reconstruction."""
    job = _active.get("reconstruct")
    if job is not None and job.running:
        raise Dust3rError("A reconstruction is already running: wait for it or cancel it")
    return start_task("reconstruct", reconstruction(params, predictor, **kwargs))


def active(kind: str = "reconstruct") -> Optional[Job]:
    """The task of `kind` started last, until `clear()`; it may have finished."""
    return _active.get(kind)


def clear(kind: str = "reconstruct") -> None:
    _active.pop(kind, None)


def stop(kind: Optional[str] = "reconstruct", timeout: float = 10.0) -> bool:
    """Cancel the task of `kind` (all tasks for None) and wait for its thread to end."""
    kinds = list(_active) if kind is None else [kind]
    jobs = [_active.pop(k) for k in kinds if k in _active]
    for job in jobs:
        job.cancel()
    return all(job.join(timeout) for job in jobs)
