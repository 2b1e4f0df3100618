"""State: the only writers of `messages.status` and `broadcasts.status`, and the journal of calls.

Owns the claims and batch outcomes of messages (message_state), the moves delivery reports drive
(message_reports, message_parts), the broadcast lifecycle's transitions and audit rows
(broadcast_state, guard's Redis mirror of each broadcast's status) and the call journal (call_journal:
what was started, so a crash leaves doubt only where a call was on the wire). May import channels,
content and limits.
"""
