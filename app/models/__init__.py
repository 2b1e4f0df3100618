"""Herald's tables, one module per concept."""
from app.models.audit import AuditEntry
from app.models.broadcast import Broadcast
from app.models.contact import Contact
from app.models.dead_letter import DeadLetter
from app.models.delivery_event import DeliveryEvent
from app.models.message import Message
from app.models.message_part import MessagePart
from app.models.opt_out import InboundKeyword, OptOut, OptOutEvent
from app.models.quota import QuotaWindow
from app.models.segment import BroadcastAudience, Segment
from app.models.service import ApiKey, Service
from app.models.template import MessageTemplate

__all__ = ["ApiKey", "AuditEntry", "Broadcast", "BroadcastAudience", "Contact", "DeadLetter", "DeliveryEvent", "InboundKeyword",
           "Message", "MessagePart",
           "MessageTemplate", "OptOut", "OptOutEvent", "QuotaWindow", "Segment", "Service"]
