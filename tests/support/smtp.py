"""An SMTP server on 127.0.0.1 for the tests (aiosmtpd): it keeps the
messages it is sent."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from typing import Any


class SmtpListener:
    """``url`` is its ``smtp://127.0.0.1:PORT``; ``received`` the messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from mlnb.runtime.ports import free_port

        received: list[Message] = []
        self.received = received

        class Keeper:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                received.append(message_from_bytes(envelope.content))
                return "250 OK"

        port = free_port()
        self.controller = Controller(Keeper(), hostname="127.0.0.1", port=port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{port}"

    def close(self) -> None:
        self.controller.stop()
