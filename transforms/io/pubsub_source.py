"""Read a Pub/Sub subscription, and acknowledge each message only once its outcome is recorded.

On Dataflow, Beam's ReadFromPubSub does this: the service acknowledges a message once the read
is durably checkpointed, and retries the steps after it. Beam 2.77's local streaming runner
(BundleBasedDirectRunner) does not: its Pub/Sub read acknowledges every message right after
pulling it, before any processing, so a crash loses whatever it pulled. Its other ways to an
unbounded source do not work either: splittable DoFns fail (the streaming GroupByKey override
misses the one they add, a generator's restriction is checked before it runs, and a checkpoint
stores split results where a restriction belongs), and with a TestStream the runner swaps its
clock for a test clock that never moves, so processing-time timers never fire.

So the local source is a stateful DoFn with a processing-time timer that re-arms itself: each
firing takes the messages this process's streaming pull has received (google-cloud-pubsub's
subscriber keeps extending their ack deadlines while they are held) and emits one
`PubsubDelivery` per message, carrying its ack id. The pipeline's last step acknowledges it, after
the asset's status and any dead letter are written. A process killed before that leaves the
message unacknowledged: its lease runs out and Pub/Sub delivers it again, and the index writes
are idempotent, so the redelivery rewrites the same points.

One consequence for the pipeline: this source's output watermark is already at +infinity (its
input, a one-element Create, is done), so nothing after it may wait on the watermark. A
GroupByKey (Reshuffle) or RunInference's stateful batching would drop or hold elements; the
local stream leaves both out and batches model calls per bundle (the messages one poll takes
travel together). The runner executes one bundle at a time, so spreading work over workers
would not help anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from sceneline.schemas.failures import UserError
from sceneline.schemas.events import PubsubDelivery

log = logging.getLogger(__name__)


class SubscriptionError(UserError, ValueError):
    """The subscription cannot be read (it does not exist, or access is denied)."""


def check_subscription(subscription: str) -> None:
    """Fail before any work when the subscription does not exist or Pub/Sub cannot be reached.
    Reading a subscription's settings needs more than consuming it (roles/pubsub.subscriber
    cannot), so a refusal only warns."""
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import pubsub_v1

    try:
        client = pubsub_v1.SubscriberClient()
    except DefaultCredentialsError as exc:
        raise SubscriptionError(f"no Google credentials to read {subscription} ({exc}); sign in with "
                                "`gcloud auth application-default login`, or set PUBSUB_EMULATOR_HOST for an "
                                "emulator") from None
    with client:
        try:
            client.get_subscription(subscription=subscription, timeout=30)
        except exceptions.NotFound:
            raise SubscriptionError(f"no subscription {subscription}; `sceneline setup-bucket` makes one") from None
        except exceptions.PermissionDenied as exc:
            log.warning("cannot check subscription %s (%s); going on", subscription, exc.message)
        except exceptions.GoogleAPICallError as exc:
            raise SubscriptionError(f"cannot read subscription {subscription}: {exc.message}") from None


@dataclass(frozen=True)
class PullSettings:
    """How much this process holds at once, and how soon a crash's messages come back."""

    max_leased: int = 64  # messages received but not yet acknowledged (flow control)
    # Each lease extension asks for at most this long, so after a crash Pub/Sub redelivers the
    # messages within about this time (google-cloud-pubsub accepts 10 to 600 s).
    lease_extension_s: int = 60
    max_lease_s: int = 4 * 3600  # a message held longer is given up and redelivered


class SubscriptionInbox:
    """This process's streaming pull on one subscription: received messages wait in a queue for
    the pipeline and stay leased until acknowledged or handed back."""

    def __init__(self, subscription: str, settings: PullSettings):
        from google.cloud import pubsub_v1

        self.subscription = subscription
        self._queue: queue.Queue = queue.Queue()
        self._held: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._client = pubsub_v1.SubscriberClient()
        flow = pubsub_v1.types.FlowControl(
            max_messages=settings.max_leased, max_lease_duration=settings.max_lease_s,
            max_duration_per_lease_extension=settings.lease_extension_s)
        self._pull = self._client.subscribe(subscription, self._receive, flow_control=flow)
        log.info("pulling %s", subscription)

    def _receive(self, message: Any) -> None:
        with self._lock:
            self._held[message.ack_id] = message
        self._queue.put(message)

    def in_flight(self) -> int:
        """Messages received and not yet acknowledged (waiting, or in the pipeline)."""
        with self._lock:
            return len(self._held)

    def take(self, max_messages: int, wait_s: float) -> list[Any]:
        """Up to max_messages received messages; waits up to wait_s for the first. Raises
        SubscriptionError when the streaming pull has stopped on an error."""
        if self._pull.done() and self._pull.exception() is not None:
            raise SubscriptionError(f"pulling {self.subscription} failed: {self._pull.exception()}")
        taken = []
        try:
            taken.append(self._queue.get(timeout=wait_s))
            while len(taken) < max_messages:
                taken.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return taken

    def ack(self, ack_id: str) -> None:
        with self._lock:
            message = self._held.pop(ack_id, None)
        if message is not None:
            message.ack()
        else:  # received by another process or an earlier pull: acknowledge by id
            self._client.acknowledge(subscription=self.subscription, ack_ids=[ack_id])

    def close(self) -> None:
        """Stop pulling and hand back what is not acknowledged, so it is redelivered at once."""
        self._pull.cancel()
        try:
            self._pull.result(timeout=10)
        except Exception:  # the cancelled pull reports its cancellation
            pass
        with self._lock:
            ack_ids = list(self._held)
            self._held.clear()
        if ack_ids:
            try:
                self._client.modify_ack_deadline(subscription=self.subscription, ack_ids=ack_ids,
                                                 ack_deadline_seconds=0)
            except Exception as exc:
                log.warning("could not hand back %d message(s); they return when their leases end: %s",
                            len(ack_ids), exc)
        self._client.close()


_inboxes: dict[str, SubscriptionInbox] = {}
_inboxes_lock = threading.Lock()


def inbox_for(subscription: str, settings: PullSettings) -> SubscriptionInbox:
    """The process-wide inbox of a subscription (started on first use)."""
    with _inboxes_lock:
        if subscription not in _inboxes:
            _inboxes[subscription] = SubscriptionInbox(subscription, settings)
        return _inboxes[subscription]


def acknowledge(subscription: str, ack_id: str) -> None:
    """Acknowledge a message through the inbox that holds it (ending its lease), or by id."""
    with _inboxes_lock:
        inbox = _inboxes.get(subscription)
    if inbox is not None:
        inbox.ack(ack_id)
        return
    from google.cloud import pubsub_v1

    with pubsub_v1.SubscriberClient() as client:
        client.acknowledge(subscription=subscription, ack_ids=[ack_id])


def close_inboxes() -> None:
    with _inboxes_lock:
        inboxes = list(_inboxes.values())
        _inboxes.clear()
    for inbox in inboxes:
        inbox.close()


def delivery_of(message: Any, subscription: str) -> PubsubDelivery:
    """A received google-cloud-pubsub message as a delivery that carries its ack id."""
    return PubsubDelivery(subscription=subscription, message_id=message.message_id, data=message.data,
                          attributes=dict(message.attributes), publish_time=message.publish_time,
                          ack_id=message.ack_id)


def delivery_of_beam_message(message: Any, subscription: str) -> PubsubDelivery:
    """A message from Beam's ReadFromPubSub (the runner acknowledges it)."""
    return PubsubDelivery(subscription=subscription, message_id=message.message_id or "", data=message.data or b"",
                          attributes=dict(message.attributes or {}), publish_time=message.publish_time)


POLL_TIMER = TimerSpec("poll", TimeDomain.REAL_TIME)
AWAKE_TIMER = TimerSpec("awake", TimeDomain.REAL_TIME)


class PollSubscription(beam.DoFn):
    """(subscription, None) -> PubsubDelivery for every message, for as long as the pipeline runs.

    The runner sends every firing's output on through the whole pipeline, as one bundle per
    step even when empty, so polls are kept few: while messages are in the pipeline the next
    poll is a while off (KeepRunnerAwake keeps the runner going meanwhile); when none are, a
    poll waits for the next message and takes it the moment it arrives."""

    MAX_PER_POLL = 16
    IDLE_WAIT_S = 5.0  # the longest an idle poll blocks the runner's one worker thread (it wakes on arrival)
    BUSY_POLL_S = 0.5  # how soon, while busy, newly received messages are taken

    def __init__(self, settings: PullSettings):
        super().__init__()
        self._settings = settings

    def process(self, keyed: tuple[str, Any], timer=beam.DoFn.TimerParam(POLL_TIMER)) -> None:
        inbox_for(keyed[0], self._settings)  # start pulling now
        timer.set(Timestamp.now())

    @on_timer(POLL_TIMER)
    def poll(self, subscription=beam.DoFn.KeyParam, timer=beam.DoFn.TimerParam(POLL_TIMER)) -> Iterator:
        inbox = inbox_for(subscription, self._settings)
        messages = inbox.take(self.MAX_PER_POLL, wait_s=0 if inbox.in_flight() else self.IDLE_WAIT_S)
        busy = inbox.in_flight() > 0
        timer.set(Timestamp.now() + (self.BUSY_POLL_S if busy else 0))
        for message in messages:
            yield delivery_of(message, subscription)


class KeepRunnerAwake(beam.DoFn):
    """A timer that is always due, on a step whose output nobody reads (so firing it costs one
    empty bundle). The runner ends a pipeline whose inputs are done once no work is scheduled
    and no timer is due, which would end the stream while the next poll is still ahead."""

    def process(self, _element: Any, timer=beam.DoFn.TimerParam(AWAKE_TIMER)) -> None:
        timer.set(Timestamp.now())

    @on_timer(AWAKE_TIMER)
    def again(self, timer=beam.DoFn.TimerParam(AWAKE_TIMER)) -> None:
        timer.set(Timestamp.now())


class ReadDeliveries(beam.PTransform):
    """The deliveries of a subscription: this module's source on the local runner (which
    acknowledges in AcknowledgeDeliveries), Beam's ReadFromPubSub elsewhere."""

    def __init__(self, subscription: str, *, local: bool, settings: PullSettings = PullSettings()):
        super().__init__()
        self._subscription = subscription
        self._local = local
        self._settings = settings

    def expand(self, pbegin):
        if self._local:
            _ = (pbegin
                 | "Awake" >> beam.Create([("awake", None)])
                 | "KeepRunnerAwake" >> beam.ParDo(KeepRunnerAwake()))
            return (pbegin
                    | "Subscription" >> beam.Create([(self._subscription, None)])
                    | "Poll" >> beam.ParDo(PollSubscription(self._settings)))
        return (pbegin
                | "ReadFromPubSub" >> beam.io.ReadFromPubSub(subscription=self._subscription, with_attributes=True)
                | "AsDeliveries" >> beam.Map(delivery_of_beam_message, self._subscription))


class AcknowledgeDeliveries(beam.DoFn):
    """(delivery, outcome) -> the same, after acknowledging the message where sceneline holds it.

    Placed after every recording step, so a message is acknowledged only once its outcome is in
    the store (and in the dead-letter output when it failed). An acknowledgement that does not
    get through is logged: the message comes again and is recognised as a duplicate."""

    def process(self, keyed: tuple[PubsubDelivery, Any]) -> Iterator:
        delivery, _outcome = keyed
        if delivery.ack_id:
            try:
                acknowledge(delivery.subscription, delivery.ack_id)
            except Exception as exc:
                log.warning("could not acknowledge message %s (it will be delivered again): %s",
                            delivery.message_id, exc)
        yield keyed
