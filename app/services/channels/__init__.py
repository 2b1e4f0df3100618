"""Channels, the lowest stage: what an address is on each channel and which accounts may carry it.

Owns the normalisation of phone numbers (recipients: E.164, carrier, region) and the route table
(routes: per channel, country and carrier, the accounts and their prices). Imports nothing from
the other stages.
"""
