"""Limits: how much may be sent, and when.

Owns the daily quotas per service and per account (quota, reserved in the same statement that
claims rows) and the sending windows (send_windows). May import channels and content.
"""
