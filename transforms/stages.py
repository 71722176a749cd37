"""Stage errors and failures: every failure names the stage it happened in, and one function,
`failure_from`, turns an exception into the dead letter of the asset it hit."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator, TypeVar

from sceneline.schemas import Failure, FailureStage, MediaAsset
from sceneline.schemas.failures import is_retryable

log = logging.getLogger(__name__)
T = TypeVar("T")

# The tagged output every Beam step sends its (key, Failure) elements to.
FAILED_TAG = "failed"


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


def failure_from(exc: BaseException, asset: MediaAsset, stage: FailureStage) -> Failure:
    """The dead letter of `asset` after `exc` in `stage` (retryable when a retry may help)."""
    return Failure.from_exception(exc, uri=asset.uri, stage=stage, asset_id=asset.asset_id)
