"""SMPP command_status codes and delivery-receipt states, mapped to Herald's typed outcomes."""
from __future__ import annotations

from providers.base import (GatewayRejected, PermanentError, RateLimited, SendError, TemporaryError)

ESME_RTHROTTLED = 0x58
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F

# The only bind answers that mean "this account is wrong": an operator must act. Any other refused
# or failed bind (ESME_RBINDFAIL above all, often a second's hiccup after an SMSC restart) is the
# gateway being down for now: nothing was sent, and the adapter rebinds after its backoff.
BIND_REJECTIONS = frozenset({ESME_RINVPASWD, ESME_RINVSYSID})

# command_status -> (name, outcome class). The one place an SMPP error code gets a meaning.
COMMAND_STATUSES: dict[int, tuple[str, type[SendError]]] = {
    0x01: ("ESME_RINVMSGLEN", PermanentError),
    0x02: ("ESME_RINVCMDLEN", PermanentError),
    0x03: ("ESME_RINVCMDID", PermanentError),
    0x04: ("ESME_RINVBNDSTS", TemporaryError),  # not bound (yet/again): a later try on a fresh bind works
    0x08: ("ESME_RSYSERR", TemporaryError),
    0x0A: ("ESME_RINVSRCADR", PermanentError),
    0x0B: ("ESME_RINVDSTADR", PermanentError),
    0x0D: ("ESME_RBINDFAIL", TemporaryError),
    0x0E: ("ESME_RINVPASWD", GatewayRejected),
    0x0F: ("ESME_RINVSYSID", GatewayRejected),
    0x14: ("ESME_RMSGQFUL", TemporaryError),
    0x33: ("ESME_RINVNUMDESTS", PermanentError),
    0x45: ("ESME_RSUBMITFAIL", TemporaryError),
    0x48: ("ESME_RINVDESTFLAG", PermanentError),
    0x58: ("ESME_RTHROTTLED", RateLimited),
    0x61: ("ESME_RINVSCHED", PermanentError),
    0x62: ("ESME_RINVEXPIRY", PermanentError),
    0x64: ("ESME_RX_T_APPN", TemporaryError),
    0x65: ("ESME_RX_P_APPN", PermanentError),
    0x66: ("ESME_RX_R_APPN", PermanentError),
    0xFF: ("ESME_RUNKNOWNERR", TemporaryError),
}

# Receipt stat -> Herald status; None means "not final yet".
RECEIPT_STATES: dict[str, str | None] = {
    "ENROUTE": None,
    "ACCEPTD": None,
    "UNKNOWN": None,
    "DELIVRD": "delivered",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
    "EXPIRED": "unreachable",
}


def status_name(status: int) -> str:
    """The ESME_* name of a command_status (ESME_0x... for one this table does not know)."""
    return COMMAND_STATUSES.get(status, (f"ESME_0x{status:08X}", TemporaryError))[0]


def status_error(status: int, retry_after: float) -> SendError:
    """The typed error for a non-zero command_status; unknown codes are temporary (nothing was taken)."""
    name, kind = COMMAND_STATUSES.get(status, (f"ESME_0x{status:08X}", TemporaryError))
    if kind is RateLimited:
        return RateLimited(name, "SMSC throttled the bind", retry_after=retry_after)
    return kind(name, f"command_status 0x{status:08X}")
