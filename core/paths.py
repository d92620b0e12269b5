"""What a user-given path names, checked before it is opened: reading a named pipe (FIFO) that
is called `x.jpg` or `x.pth` waits forever for a writer, and a device never ends."""
from __future__ import annotations

import os
import stat
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def special_kind(path: PathLike) -> Optional[str]:
    """What `path` is when it exists but is not a regular file ("a folder", "a named pipe
    (FIFO)", ...); None for a regular file or a missing path. Symbolic links are followed."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "a special file")
