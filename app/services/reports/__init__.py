"""Reports: what comes back from gateways and people.

Owns delivery reports (stored once, applied in bulk; report_committer, smpp_receipts), the scrubbing
of addresses from them (report_addresses), inbound texts and their keywords (inbound), and the
summaries and exports of a broadcast (reporting, throughput). May import every stage below it.
"""
