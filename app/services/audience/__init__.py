"""Audience: the people a service can reach, and whether it may.

Owns contacts (import, fields, search), segments (saved filters and their SQL) and the suppression
list (optouts). May import the stages below it: channels, content, limits, state.
"""
