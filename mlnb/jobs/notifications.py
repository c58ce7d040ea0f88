"""Who hears of a job's end: mlnb's ``notifications`` in a job's input
(``{"webhook": URL, "on": ["SUCCEEDED", "FAILED"]}``, beside
``scheduling``) or, for every job, the ``notify_webhook`` setting. The
webhook gets a JSON body with a Slack-compatible ``text``; a delivery that
fails is tried again and logged, and never changes the job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.jobs.states import ENDED, JobState
from mlnb.naming import object_fields
from mlnb.records import JobRecord, format_time
from mlnb.runtime.webhooks import post_json

__all__ = ["DELIVERY_TRIES", "Notifications"]

DELIVERY_TRIES = 3
_DEFAULT_ON = (JobState.SUCCEEDED.value, JobState.FAILED.value)


@dataclass(frozen=True)
class Notifications:
    """Where to say that a job ended, and on which ends."""

    webhook: str | None = None
    on: tuple[str, ...] = _DEFAULT_ON

    @classmethod
    def from_api(cls, body: Any, default_webhook: str = "") -> Notifications:
        """
        Raises:
            InvalidArgument: A webhook that is not an http(s) URL, or an
                ``on`` that names no ended state.
        """
        if body is None:
            return cls(default_webhook or None)
        body = object_fields(body, "notifications", {"webhook", "on"}, '{"webhook": URL, "on": [STATES]}')
        webhook = body.get("webhook") or default_webhook or None
        if webhook is not None and not (
            isinstance(webhook, str) and webhook.startswith(("http://", "https://"))
        ):
            raise InvalidArgument("notifications.webhook must be an http:// or https:// URL")
        on = body.get("on") or list(_DEFAULT_ON)
        ended = {s.value for s in ENDED}
        if not isinstance(on, list) or not all(isinstance(s, str) and s.upper() in ended for s in on):
            raise InvalidArgument(f"notifications.on lists job ends: {', '.join(sorted(ended))}")
        return cls(webhook, tuple(s.upper() for s in on))

    @classmethod
    def of(cls, job: JobRecord, default_webhook: str = "") -> Notifications:
        return cls.from_api(job.input_field("notifications"), default_webhook)

    def send(self, job: JobRecord) -> dict[str, Any] | None:
        """Tell the webhook that ``job`` ended, if it wants this end; the delivery."""
        if self.webhook is None or job.state.value not in self.on:
            return None
        took = f" after {job.elapsed_s():.1f} s" if job.start_time else ""
        said = f": {job.error_message}" if job.error_message else ""
        body = {
            "text": f"mlnb: job {job.job_id} ({job.project}) {job.state.value}{took}{said}",
            "project": job.project,
            "jobId": job.job_id,
            "kind": str(job.kind),
            "state": job.state.value,
            "errorMessage": job.error_message,
            "startTime": format_time(job.start_time),
            "endTime": format_time(job.end_time),
        }
        return post_json(self.webhook, body, tries=DELIVERY_TRIES)
