"""Who hears of what: mlnb's ``notifications`` of a job (in its input,
beside ``scheduling``), a schedule or a model: ``{"webhook": URL, "email":
[ADDRESSES], "on": [EVENTS]}``. A job's events are its ends (SUCCEEDED and
FAILED unless ``on`` says otherwise); a schedule's are a run ``MISSED``
(due and not run) and a run ``REFUSED`` (its job could not be submitted);
a model's are a version its evaluation gates refused (``GATE_REFUSED``,
the default) and, when asked for, a new default (``DEFAULT_CHANGED``) or
a changed split (``TRAFFIC_CHANGED``, a rollout's steps and rollbacks).
What a job, schedule or model names none of, the host's settings give
(``notify_webhook``, ``notify_email``), and e-mail goes through its
``smtp_url``. A webhook gets a JSON body with a Slack-compatible ``text``,
an address a plain-text message; a delivery that fails is tried again and
said, never raised: what it reports on stands."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.naming import object_fields
from mlnb.records import JobRecord, ModelEvent, ModelRecord, format_time
from mlnb.runtime.mail import send_mail
from mlnb.runtime.webhooks import post_json
from mlnb.states import ENDED, JobState

if TYPE_CHECKING:
    from mlnb.config import Settings

__all__ = [
    "DELIVERY_TRIES",
    "JOB_ENDS",
    "MODEL_EVENTS",
    "SCHEDULE_EVENTS",
    "Channels",
    "ModelNotifier",
    "Notifications",
]

DELIVERY_TRIES = 3
JOB_ENDS = tuple(sorted(s.value for s in ENDED))
SCHEDULE_EVENTS = ("MISSED", "REFUSED")
MODEL_EVENTS = ("DEFAULT_CHANGED", "GATE_REFUSED", "TRAFFIC_CHANGED")
_JOB_DEFAULT_ON = (JobState.SUCCEEDED.value, JobState.FAILED.value)
_MODEL_DEFAULT_ON = ("GATE_REFUSED",)


@dataclass(frozen=True)
class Channels:
    """What the host's settings give: where to tell when a job or schedule
    names nowhere, and how e-mail is sent."""

    webhook: str = ""
    email: tuple[str, ...] = ()
    smtp_url: str = ""
    smtp_from: str = ""

    @classmethod
    def of(cls, settings: Settings) -> Channels:
        return cls(
            settings.notify_webhook,
            tuple(a.strip() for a in settings.notify_email.split(",") if a.strip()),
            settings.smtp_url,
            settings.smtp_from,
        )


@dataclass(frozen=True)
class Notifications:
    """Where to tell of which events."""

    webhook: str | None = None
    email: tuple[str, ...] = ()
    on: tuple[str, ...] = _JOB_DEFAULT_ON

    @classmethod
    def from_api(
        cls,
        body: Any,
        channels: Channels = Channels(),
        events: Sequence[str] = JOB_ENDS,
        default_on: Sequence[str] = _JOB_DEFAULT_ON,
    ) -> Notifications:
        """
        Raises:
            InvalidArgument: A webhook that is not an http(s) URL, an address
                that is none, or an ``on`` that names no event of ``events``.
        """
        if body is None:
            return cls(channels.webhook or None, channels.email, tuple(default_on))
        shape = '{"webhook": URL, "email": [ADDRESSES], "on": [EVENTS]}'
        body = object_fields(body, "notifications", {"webhook", "email", "on"}, shape)
        webhook = body.get("webhook") or None
        if webhook is not None and not (
            isinstance(webhook, str) and webhook.startswith(("http://", "https://"))
        ):
            raise InvalidArgument("notifications.webhook must be an http:// or https:// URL")
        email = body.get("email") or []
        if isinstance(email, str):
            email = [email]
        if not isinstance(email, list) or not all(_is_address(a) for a in email):
            raise InvalidArgument("notifications.email lists e-mail addresses (name@example.com)")
        on = body.get("on") or list(default_on)
        if not isinstance(on, list) or not all(isinstance(s, str) and s.upper() in events for s in on):
            raise InvalidArgument(f"notifications.on lists events among {', '.join(events)}")
        if webhook is None and not email:  # only `on`: the host's channels
            return cls(channels.webhook or None, channels.email, tuple(s.upper() for s in on))
        return cls(webhook, tuple(email), tuple(s.upper() for s in on))

    @classmethod
    def of(cls, job: JobRecord, channels: Channels = Channels()) -> Notifications:
        return cls.from_api(job.input_field("notifications"), channels)

    def send(self, job: JobRecord, channels: Channels) -> list[str]:
        """Tell that ``job`` ended, if this end is wanted; each delivery, in words."""
        took = f" after {job.elapsed_s():.1f} s" if job.start_time else ""
        said = f": {job.error_message}" if job.error_message else ""
        text = f"mlnb: job {job.job_id} ({job.project}) {job.state.value}{took}{said}"
        body = {
            "project": job.project,
            "jobId": job.job_id,
            "kind": str(job.kind),
            "state": job.state.value,
            "errorMessage": job.error_message,
            "startTime": format_time(job.start_time),
            "endTime": format_time(job.end_time),
        }
        return self.tell(job.state.value, text, body, channels)

    def tell_aside(self, event: str, text: str, body: dict[str, Any], channels: Channels) -> None:
        """:meth:`tell`, on a thread of its own: a slow webhook or mail
        server never holds up the loop or the request that had news."""
        if event in self.on and (self.webhook is not None or self.email):
            threading.Thread(
                target=self.tell, args=(event, text, body, channels), name="notify", daemon=True
            ).start()

    def tell(self, event: str, text: str, body: dict[str, Any], channels: Channels) -> list[str]:
        """Tell of ``event`` (if wanted): ``text`` is the webhook body's
        ``text`` and the e-mail's subject and first line."""
        if event not in self.on:
            return []
        delivered = []
        if self.webhook is not None:
            answer = post_json(self.webhook, {"text": text, "event": event, **body}, tries=DELIVERY_TRIES)
            delivered.append(f"the webhook: {_said(answer)}")
        if self.email:
            if not channels.smtp_url:
                answer = {"delivered": False, "error": "no smtp_url is configured on the host"}
            else:
                lines = [text, "", *(f"{k}: {v}" for k, v in body.items() if v is not None)]
                answer = send_mail(
                    channels.smtp_url,
                    channels.smtp_from,
                    self.email,
                    text,
                    "\n".join(lines),
                    tries=DELIVERY_TRIES,
                )
            delivered.append(f"{', '.join(self.email)}: {_said(answer)}")
        return delivered


class ModelNotifier:
    """Tells a model's ``notifications`` (or the host's) of its history
    entries, as the registry's listener (``ModelRegistry(listener=)``)."""

    actions = frozenset(MODEL_EVENTS)

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    @staticmethod
    def check(body: Any) -> None:
        """
        Raises:
            InvalidArgument: Not a model's ``notifications``.
        """
        Notifications.from_api(body, Channels(), MODEL_EVENTS, _MODEL_DEFAULT_ON)

    def __call__(self, model: ModelRecord, event: ModelEvent) -> None:
        try:
            notifications = Notifications.from_api(
                model.notifications, self.channels, MODEL_EVENTS, _MODEL_DEFAULT_ON
            )
        except MlnbError:
            return  # refused when it was set
        details = event.details
        if event.action == "GATE_REFUSED":
            said = str(details.get("message", ""))
        elif event.action == "DEFAULT_CHANGED":
            said = f"{event.version} is the default (it was {details.get('previous')})"
        elif "trafficSplit" in details:
            split = details["trafficSplit"]
            before, after = (split.get(k) or "the default only" for k in ("before", "after"))
            said = f"the split is {after} (it was {before})"
        else:
            said = "changed its " + ", ".join(k for k in details if k != "reason")
        if details.get("reason"):
            said += f": {details['reason']}"
        text = f"mlnb: model {model.name} ({model.project}) {event.action}: {said}"
        body = {
            "project": model.project,
            "model": model.name,
            "version": event.version,
            "actor": event.actor,
            "time": format_time(event.time),
            "details": details,
        }
        notifications.tell_aside(event.action, text, body, self.channels)


def _said(answer: dict[str, Any]) -> str:
    return "delivered" if answer["delivered"] else f"not delivered: {answer['error']}"


def _is_address(value: object) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    name, at, domain = value.rpartition("@")
    return bool(at and name and "." in domain)
