"""Helpers the tests share: waiting for conditions, and machines of a team
(settings that share a database and nothing else)."""
