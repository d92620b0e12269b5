"""Models on the Hugging Face hub: where their local copies are, and downloading them.

Downloads go into `model_dir/<owner>--<name>/` (config.json + model.safetensors). When the hub
cannot be reached the error comes within one request timeout (huggingface_hub's
HF_HUB_ETAG_TIMEOUT, 10 s by default) and says why and what to do: huggingface_hub itself
retries a first download for minutes (5 retries of up to 60 s each). No network is used when
downloads are off (`allow_download=False`, or HF_HUB_OFFLINE set).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import urlparse

from ..errors import CheckpointError
from ..paths import PathLike
from ..progress import Progress
from .config import RELEASED
from .files import HUB_FILES

_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
_TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub takes as a true environment variable
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}


def default_model_dir() -> Path:
    """Where downloads go: $DUST3R_MODEL_DIR, else ~/.cache/dust3r_blender/models."""
    return Path(os.environ.get("DUST3R_MODEL_DIR") or
                Path.home() / ".cache" / "dust3r_blender" / "models").expanduser()


def repo_id(source: str) -> Optional[str]:
    """The hub repo id of a released name or an "owner/name" id; None for anything else."""
    source = RELEASED.get(source, source)
    return source if _REPO_ID.fullmatch(source) else None


def _repo_folder(repo: str, model_dir: Optional[PathLike]) -> Path:
    return Path(model_dir or default_model_dir()).expanduser() / repo.replace("/", "--")


def find_local(source: str, model_dir: Optional[PathLike] = None) -> Optional[Path]:
    """The local copy of a released name or repo id (in `model_dir`, else in the Hugging Face
    cache), or the path itself for an existing file or folder; None if absent. No network."""
    path = Path(source).expanduser()
    if path.exists():
        return path
    repo = repo_id(source)
    if repo is None:
        return None
    folder = _repo_folder(repo, model_dir)
    if all((folder / name).is_file() for name in HUB_FILES):
        return folder
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = [try_to_load_from_cache(repo, name) for name in HUB_FILES]
    if all(isinstance(p, str) for p in cached) and Path(cached[0]).parent == Path(cached[1]).parent:
        return Path(cached[1]).parent
    return None


def download(source: str, model_dir: Optional[PathLike] = None, progress: Optional[Progress] = None, *,
             allow_download: bool = True) -> Path:
    """Download config.json and model.safetensors of a released name or repo id into
    `model_dir`/<owner>--<name>/ and return that folder. `progress(done, total)` in bytes.

    Files already there are kept when the hub cannot be reached or downloads are off
    (`allow_download=False` or HF_HUB_OFFLINE: then no network is used at all).
    """
    repo = repo_id(source)
    if repo is None:
        raise CheckpointError(f"{source!r} is neither a released model "
                              f"({', '.join(RELEASED)}) nor a Hugging Face repo id (owner/name)")
    folder = _repo_folder(repo, model_dir)
    present = all((folder / name).is_file() for name in HUB_FILES)
    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE
    if present and (offline or not allow_download):
        return folder
    if not allow_download:
        raise CheckpointError(f"{repo} is not in {folder} and online access is off, so it "
                              f"cannot be downloaded: allow online access, or "
                              f"{_copy(repo, folder)}")
    if offline:
        raise CheckpointError(f"{repo} is not in {folder} and HF_HUB_OFFLINE is set, so it "
                              f"cannot be downloaded: unset it, or {_copy(repo, folder)}")
    try:
        import httpx2  # huggingface_hub's HTTP client
        from huggingface_hub import (
            constants,
            errors,
            get_hf_file_metadata,
            hf_hub_download,
            hf_hub_url,
        )
    except ImportError as exc:
        raise CheckpointError("downloading models needs the huggingface_hub package, which is "
                              "not installed") from exc
    # HF_ENDPOINT read at each call (huggingface_hub reads it once, on import), so that a test
    # or a script can point the hub elsewhere.
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    timeout = constants.HF_HUB_ETAG_TIMEOUT
    bar = _progress_bar_class(progress) if progress else None
    name = HUB_FILES[0]
    try:
        with _telemetry_off(constants):
            # One request without retries first: hf_hub_download retries a file that is not
            # local yet 5 times with a 60 s timeout, minutes when the hub does not answer.
            get_hf_file_metadata(hf_hub_url(repo, name, endpoint=endpoint), timeout=timeout,
                                 endpoint=endpoint)
            for name in HUB_FILES:
                hf_hub_download(repo, name, local_dir=folder, tqdm_class=bar, endpoint=endpoint,
                                etag_timeout=timeout)
    except errors.GatedRepoError as exc:
        raise CheckpointError(f"{repo} is gated on the Hugging Face hub: accept its terms "
                              "there and log in (hf auth login)") from exc
    except errors.RepositoryNotFoundError as exc:
        raise CheckpointError(f"{repo} was not found on the Hugging Face hub (misspelt, or "
                              "private)") from exc
    except errors.RemoteEntryNotFoundError as exc:
        raise CheckpointError(f"{repo} has no {name}: it is not a hub DUSt3R model") from exc
    except (errors.HfHubHTTPError, errors.HFValidationError, OSError, httpx2.HTTPError) as exc:
        reason = _unreachable(exc, urlparse(endpoint).netloc, timeout)
        if reason is None:
            raise CheckpointError(f"downloading {repo} failed: {exc}") from exc
        if present:
            return folder  # the update check failed, the files are there
        raise CheckpointError(f"cannot download {repo}: {reason}. Download it later, or "
                              f"{_copy(repo, folder)}") from exc
    return folder


def _copy(repo: str, folder: Path) -> str:
    return (f"copy its {' and '.join(HUB_FILES)} (from https://huggingface.co/{repo}/tree/main) "
            f"into {folder}")


def _unreachable(exc: BaseException, host: str, timeout: float) -> Optional[str]:
    """Why the hub was not reached, in words, from the error and its causes; None if it was."""
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for err in chain:  # the socket's own error says most
        if isinstance(err, socket.gaierror):
            return f"the name {host} cannot be looked up (no network connection, or no DNS)"
        if isinstance(err, ConnectionRefusedError):
            return f"{host} refused the connection"
        if isinstance(err, OSError) and err.errno in _NO_ROUTE:
            return f"there is no network route to {host} (offline?)"
    for err in chain:
        if isinstance(err, httpx2.TimeoutException):
            return f"{host} did not answer within {timeout:g} s"
        if isinstance(err, httpx2.TransportError):
            return f"the connection to {host} failed ({err})"
        if isinstance(err, OfflineModeIsEnabled):
            return "HF_HUB_OFFLINE is set"
    return None


@contextlib.contextmanager
def _telemetry_off(constants) -> Iterator[None]:
    """Without telemetry huggingface_hub neither reports the torch version nor fetches its
    list of AI agents (one more request, 3 s more when the hub does not answer)."""
    saved = constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_TELEMETRY = saved


def _progress_bar_class(progress: Callable[[int, int], None]) -> type:
    """A tqdm class for hf_hub_download's `tqdm_class` that reports bytes to `progress`
    (summed over the files of one download) and prints nothing."""
    from tqdm.auto import tqdm

    state = {"done": 0, "total": 0}

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": True})
            state["total"] += kwargs.get("total") or 0
            state["done"] += kwargs.get("initial") or 0
            progress(state["done"], state["total"])

        def update(self, n=1):
            state["done"] += n or 0
            progress(state["done"], state["total"])

        def update_transfer(self, n=1):
            """Network bytes of Xet downloads; progress follows the bytes written (update)."""

        def set_transfer_postfix_str(self, *args, **kwargs):
            pass

    return Bar
