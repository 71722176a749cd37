"""Google Cloud access from this process: real credentials on Google Cloud, none against the
local emulators (Pub/Sub emulator, fake-gcs-server) that tests and local trials use."""

from __future__ import annotations

import logging
import os

from sceneline.schemas.failures import UserError

log = logging.getLogger(__name__)

STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
PUBSUB_EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"


def storage_emulator() -> str | None:
    return os.environ.get(STORAGE_EMULATOR_ENV) or None


def use_emulator_credentials() -> None:
    """With a Cloud Storage emulator, give Beam's gs:// file system no credentials at once.

    Beam looks up Google's default credentials before its first gs:// access and, when there
    are none, retries for about 20 s in every process before going on anonymously. An emulator
    needs no credentials, so the lookup is settled up front (google-cloud-storage then talks to
    STORAGE_EMULATOR_HOST anonymously). Pub/Sub clients need nothing: they go anonymous by
    themselves under PUBSUB_EMULATOR_HOST.
    """
    if not storage_emulator():
        return
    # Beam keeps the looked-up credentials in this class (apache_beam/internal/gcp/auth.py,
    # pinned Beam 2.77); marking the lookup done with None is what it records when it finds none.
    from apache_beam.internal.gcp import auth

    with auth._Credentials._credentials_lock:
        auth._Credentials._credentials = None
        auth._Credentials._credentials_init = True
    log.info("Cloud Storage emulator at %s: no credentials", storage_emulator())


class NoCloudCredentialsError(UserError, RuntimeError):
    """Google Cloud was asked for, and this machine has no credentials for it."""


def require_cloud_credentials(what: str) -> None:
    """Fail at once, before any client retries for minutes, when `what` needs Google Cloud and
    there are no credentials (the emulators need none)."""
    if storage_emulator() or os.environ.get(PUBSUB_EMULATOR_ENV):
        return
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        raise NoCloudCredentialsError(
            f"{what} needs Google Cloud credentials and this machine has none: run "
            "`gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file") from None
