"""Intake: turning a request into stored messages.

Owns the one way a broadcast is created (intake, for a recipient list, a CSV, a segment or a
filter), the compile and judging of its content per recipient (broadcast_content), its dry run
(preview), transactional messages (transactional), Idempotency-Key handling and the template store.
May import every stage below it: channels, content, limits, state, audience.
"""
