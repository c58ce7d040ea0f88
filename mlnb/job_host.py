"""The on-demand job host's process: started by a submission on this
machine (``ensure_job_host``) as ``python -m mlnb.job_host`` with the
submitter's settings in ``MLNB_*``; runs the machine's jobs and fires its
schedules' runs (see ``mlnb.jobs.host``)."""

from __future__ import annotations

import sys

from mlnb.api import Engine


def main() -> int:
    Engine().serve_on_demand_jobs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
