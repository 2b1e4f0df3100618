"""Control, the top stage: operators' acts and the processes that drive the others.

Owns pause, resume and cancel (lifecycle), closing a breaker (breaker_control), the dead-letter list
(dead_letters), the producer that dispatches due broadcasts (dispatch), erasure of a person
(contacts_erasure), the region backfill, the gateway accounts of this process (gateways) and API keys
(auth). May import every other stage.
"""
