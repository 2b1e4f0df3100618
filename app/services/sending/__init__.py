"""Sending: getting claimed messages onto the wire, at the pace and through the route allowed.

Owns route choice at claim time (routing), the circuit breaker per account (breaker) and carriers
whose every route is down (blocked_carriers), pacing and the shared rate limiter, the retry policy,
the lease reaper and what a worker needs to render a message (send_context). May import every stage
below it.
"""
