"""What the job host and its warm parent say to each other over their
socket pair (``SOCK_SEQPACKET``, one JSON message a packet):

- host to parent: ``{"request": N, "module", "arguments", "env", "cwd"}``
  with the child's stdout and stderr pipe ends as passed descriptors;
- parent to host: ``{"request": N, "pid": PID}`` once it forked, or
  ``{"request": N, "error": WHY}``; ``{"ended": PID, "status": CODE}`` once
  a child ended (negative: killed by that signal).
"""

MAX_MESSAGE = 1 << 20  # the largest packet read: a request's environment fits
