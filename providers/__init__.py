"""Gateway adapters: the contract (providers.base) and the registry that builds adapters by name."""
from providers.base import (
    Accepted,
    DeliveryReport,
    GatewayRejected,
    NotSent,
    OutboundMessage,
    PermanentError,
    Provider,
    ProviderConfigError,
    RateLimited,
    SendError,
    SendResult,
    TemporaryError,
    UnknownOutcome,
)
from providers.registry import PROVIDER_CLASSES, build_provider, get_provider

__all__ = [
    "Accepted",
    "DeliveryReport",
    "GatewayRejected",
    "NotSent",
    "OutboundMessage",
    "PermanentError",
    "Provider",
    "ProviderConfigError",
    "RateLimited",
    "SendError",
    "SendResult",
    "TemporaryError",
    "UnknownOutcome",
    "PROVIDER_CLASSES",
    "build_provider",
    "get_provider",
]
