"""The background job: events, cancel within one step, errors, one job at a time, model cache."""
import threading
import time

import pytest
import torch

from core import jobs, pipeline
from core.errors import Cancelled, Dust3rError, ImageError, raise_if_cancelled
from core.settings import JobParams, MaskOptions

@pytest.fixture
def photo(tmp_path) -> str:
    """A real photo: a job checks the photos before it loads a model."""
    from PIL import Image

    path = tmp_path / "a.jpg"
    Image.new("RGB", (96, 72), (90, 120, 150)).save(path)
    return str(path)


@pytest.fixture
def params(photo) -> JobParams:
    return JobParams(photos=[photo], model="512_dpt")


def wait_for_end(job, timeout=10.0):
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += job.events()
        if events and events[-1].kind != "progress":
            return events
        time.sleep(0.005)
    raise TimeoutError


def fake_run(steps=5, delay=0.0, fail=None):
    """A stand-in for `pipeline.execute`."""
    def run(inputs, progress=None, cancel=None, predictor=None):
        for i in range(steps):
            raise_if_cancelled(cancel)
            progress("align", i + 1, steps)
            time.sleep(delay)
        if fail is not None:
            raise fail
        return pipeline.Result(scene=None, import_options=inputs.params.import_options, n_pairs=2,
                               seconds={"align": 0.1})
    return run


def test_progress_events_then_the_result(params):
    job = jobs.Job(jobs.reconstruction(params, models=None, execute=fake_run())).start()
    events = wait_for_end(job)
    progress = [(e.stage, e.done, e.total) for e in events[:-1]]
    assert progress == [("align", i, 5) for i in range(1, 6)]
    assert events[-1].kind == "done" and events[-1].result.n_pairs == 2
    assert job.join(1.0) and not job.running


def test_cancel_stops_at_the_next_step(params):
    started = threading.Event()

    def run(inputs, progress=None, cancel=None, predictor=None):
        for i in range(1000):
            raise_if_cancelled(cancel)
            started.set()
            time.sleep(0.01)
        return None

    job = jobs.Job(jobs.reconstruction(params, models=None, execute=run)).start()
    assert started.wait(5)
    t0 = time.monotonic()
    job.cancel()
    assert job.join(2.0) and time.monotonic() - t0 < 0.5
    assert [e.kind for e in job.events()] == ["cancelled"]


def test_user_errors_keep_their_message_and_bugs_are_reported_as_unexpected(capsys, params):
    job = jobs.Job(jobs.reconstruction(params, models=None,
                                       execute=fake_run(fail=ImageError("Cannot read x.jpg")))).start()
    assert wait_for_end(job)[-1] == jobs.Event("error", message="Cannot read x.jpg")
    job = jobs.Job(jobs.reconstruction(params, models=None,
                                       execute=fake_run(fail=KeyError("pts3d")))).start()
    event = wait_for_end(job)[-1]
    assert event.kind == "error" and "Unexpected error (KeyError" in event.message
    assert "Traceback" in capsys.readouterr().err


def test_a_cuda_out_of_memory_error_becomes_advice(photo):
    import torch

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    fails = lambda *a, **k: (_ for _ in ()).throw(oom)  # noqa: E731

    class Models(jobs.ModelCache):
        get = fails

    params = JobParams(photos=[photo], model="512_dpt")
    job = jobs.Job(jobs.reconstruction(params, models=Models(), execute=fake_run())).start()
    event = wait_for_end(job)[-1]
    assert event.kind == "error" and "Out of GPU memory" in event.message
    assert "fewer photos" in event.message and "224_linear" in event.message


def test_only_one_job_runs_at_a_time(params):
    gate = threading.Event()

    def run(inputs, progress=None, cancel=None, predictor=None):
        gate.wait(5)
        raise Cancelled()

    job = jobs.start(params, models=None, execute=run)
    try:
        with pytest.raises(Dust3rError, match="already running"):
            jobs.start(params, models=None, execute=run)
        assert jobs.active() is job
    finally:
        gate.set()
        assert jobs.stop(timeout=5)
    assert jobs.active() is None
    jobs.start(params, models=None, execute=fake_run())  # free again once the first has ended
    assert jobs.stop(timeout=5)


def test_other_kinds_of_task_run_beside_a_reconstruction(params):
    gate = threading.Event()
    jobs.start_task("install", lambda progress, cancel: gate.wait(5))
    try:
        with pytest.raises(Dust3rError, match="dependency install is already running"):
            jobs.start_task("install", lambda progress, cancel: None)
        jobs.start(params, models=None, execute=fake_run())
    finally:
        gate.set()
        assert jobs.stop(None, timeout=5)
    assert jobs.active("install") is None and jobs.active() is None


def test_invalid_settings_are_refused_before_a_thread_starts():
    with pytest.raises(Dust3rError, match="precision"):  # settings are checked when made
        jobs.start(JobParams(photos=["a.jpg"], precision="fp8"), models=None,
                   execute=fake_run())
    assert jobs.active() is None


def test_the_model_is_loaded_once_and_unloaded_on_request(monkeypatch, params):
    loads = []
    monkeypatch.setattr(pipeline, "load_model",
                        lambda params, progress, cancel: loads.append(params.model) or object())
    cache = jobs.ModelCache()
    first = cache.get(params)
    assert cache.get(JobParams(photos=["b.jpg"], model="512_dpt")) is first
    assert loads == ["512_dpt"] and cache.loaded == "512_dpt on cpu"
    other = cache.get(JobParams(photos=["b.jpg"], model="224_linear"))
    assert other is not first and loads == ["512_dpt", "224_linear"]
    cache.unload()
    assert cache.loaded is None
    cache.get(params)
    assert loads == ["512_dpt", "224_linear", "512_dpt"]


def test_the_job_runs_the_cached_model_as_the_predictor(monkeypatch, photo):
    model = object()
    loads = []
    monkeypatch.setattr(pipeline, "load_model",
                        lambda params, progress, cancel: loads.append(params) or model)
    seen = {}

    def run(inputs, progress=None, cancel=None, predictor=None):
        seen["predictor"] = predictor
        return None

    params = JobParams(photos=[photo], device="cpu", precision="bf16", batch_size=3)
    wait_for_end(jobs.Job(jobs.reconstruction(params, models=jobs.ModelCache(),
                                              execute=run)).start())
    network = seen["predictor"]
    assert network.model is model and str(network.device) == "cpu"
    assert network.dtype == torch.bfloat16 and network.batch_size == 3
    assert network.image_size == 512  # a model without a config: the default size
    predictor = object()
    wait_for_end(jobs.Job(jobs.reconstruction(params, predictor, jobs.ModelCache(),
                                              execute=run)).start())
    assert seen["predictor"] is predictor and len(loads) == 1  # nothing more is loaded


@pytest.mark.parametrize("problem", ["photo", "mask folder"])
def test_bad_photos_and_masks_fail_before_the_model_loads(monkeypatch, photo, tmp_path, problem):
    loads = []
    monkeypatch.setattr(pipeline, "load_model", lambda *a: loads.append(1) or object())
    photos, masks = ([photo, str(tmp_path / "gone.jpg")], MaskOptions()) if problem == "photo" \
        else ([photo], MaskOptions(folder=str(tmp_path / "no masks")))
    params = JobParams(photos=photos, masks=masks)
    event = wait_for_end(jobs.Job(jobs.reconstruction(params, models=jobs.ModelCache(),
                                                      execute=fake_run())).start())[-1]
    assert event.kind == "error" and not loads
    assert ("gone.jpg" if problem == "photo" else "no masks") in event.message
