"""Stage errors: every failure in analysis names the stage it happened in."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator, TypeVar

from sceneline.schemas import FailureStage
from sceneline.schemas.failures import is_retryable

log = logging.getLogger(__name__)
T = TypeVar("T")


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


def with_retries(fn: Callable[[], T], *, attempts: int = 4, first_delay_s: float = 0.5) -> T:
    """Call fn, retrying transient errors (network, timeouts) with exponential backoff."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            log.warning("transient error (attempt %d of %d), retrying in %.1f s: %s", attempt, attempts, delay, exc)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
