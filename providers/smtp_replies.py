"""What an SMTP reply, or its absence, means at each point of the dialogue: a typed outcome.

Two rules decide it:
  * Before MAIL FROM nothing of a message has been written, so every failure of the session's
    setup (connect, greeting, EHLO, STARTTLS, AUTH, the RSET that proves a reused session alive) is
    NotSent, or GatewayRejected when the server refuses the account itself.
  * A server takes a message only when it has read the line holding a lone "." and answered it
    (RFC 5321 4.1.1.4); a connection lost before that is, for the server, a pending transaction it
    must cancel as if RSET had come (RFC 5321 3.8). So a drop is NotSent up to and including the
    write of the message's last bytes, and in doubt (UnknownOutcome) only once every byte of it,
    the final "." included, has been handed to the kernel and the final reply has not been read.
"""
from __future__ import annotations

from enum import Enum

from providers.base import (GATEWAY_DOWN, GatewayRejected, NotSent, PermanentError, RateLimited, SendError,
                            TemporaryError, UnknownOutcome)


class Phase(str, Enum):
    """A point of the SMTP dialogue, in the order a message passes them."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    RSET = "rset"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    CONTENT = "content"  # writing the message and its final "."
    FINAL = "final"  # the reply to the final "."


# Phases in which the session is being set up: nothing of any message is on the wire yet.
SETUP = frozenset({Phase.CONNECT, Phase.GREETING, Phase.EHLO, Phase.STARTTLS, Phase.AUTH, Phase.RSET})
# Replies that refuse our credentials, whatever the phase: 530 authentication required, 534 mechanism
# too weak, 535 credentials invalid, 538 encryption required for the mechanism.
AUTH_REFUSALS = frozenset({530, 534, 535, 538})
# RCPT replies that ask the sender to slow down rather than refuse the address: 452 too many
# recipients, and 552 at RCPT, which RFC 5321 4.5.3.1.10 says to treat as 452.
RCPT_RATE_REPLIES = frozenset({452, 552})
# The service is closing the connection (421): the server as a whole, not this message.
SERVICE_CLOSING = 421


def refusal(phase: Phase, code: int, text: str) -> SendError:
    """The typed outcome of a reply that is not the one the phase waits for."""
    name = f"smtp_{code}" if code > 0 else "smtp_unreadable_reply"
    if code in AUTH_REFUSALS:
        return GatewayRejected(name, f"{phase.value}: {text}")
    if phase in SETUP:
        return _setup_refusal(phase, code, name, text)
    if phase is Phase.FINAL and code < 400:
        # Not a refusal and not an acceptance: whether the server took the message is unknown.
        return UnknownOutcome(name, f"final: {text}", gateway_fault=GATEWAY_DOWN)
    if code == SERVICE_CLOSING or code < 400:
        # 421, or a reply no SMTP server should give here (a 3xx, garbage): the server is unwell.
        return TemporaryError(name, f"{phase.value}: {text}", gateway_fault=GATEWAY_DOWN)
    if phase is Phase.MAIL:
        return _mail_refusal(code, name, text)
    if phase is Phase.RCPT and code in RCPT_RATE_REPLIES:
        return RateLimited(name, f"rcpt: {text}")
    if code < 500:
        return TemporaryError(name, f"{phase.value}: {text}")
    return PermanentError(name, f"{phase.value}: {text}")


def _setup_refusal(phase: Phase, code: int, name: str, text: str) -> SendError:
    """Setup: a 4xx is the server unable now (not sent); a 5xx refuses this client as configured."""
    if 400 <= code < 500:
        return NotSent(name, f"{phase.value}: {text}")
    return GatewayRejected(name, f"{phase.value}: {text}")


def _mail_refusal(code: int, name: str, text: str) -> SendError:
    """MAIL FROM names our sender: a 5xx refuses the account's sender, except 552 (this message's size)."""
    if code < 500:
        return TemporaryError(name, f"mail: {text}")
    if code == 552:
        return PermanentError(name, f"mail: {text}")
    return GatewayRejected(name, f"mail: {text}")


def lost(phase: Phase, detail: str, timed_out: bool = False) -> SendError:
    """The typed outcome of a connection that failed or went silent in `phase`."""
    if phase is Phase.FINAL:
        # Every byte of the message, its final "." too, was written: the server may have taken it.
        code = "final_reply_timeout" if timed_out else "dropped_after_data"
        return UnknownOutcome(code, detail, gateway_fault=None if timed_out else GATEWAY_DOWN)
    code = "connect_failed" if phase is Phase.CONNECT else f"lost_at_{phase.value}"
    return NotSent(code, detail)
