"""Stage errors: every failure in analysis names the stage it happened in."""

from __future__ import annotations

import contextlib
from typing import Iterator

from sceneline.schemas import FailureStage


class StageError(Exception):
    """An exception raised inside a named stage; the original is the cause."""

    def __init__(self, stage: FailureStage, cause: BaseException):
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


@contextlib.contextmanager
def stage(name: FailureStage) -> Iterator[None]:
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(name, exc) from exc
