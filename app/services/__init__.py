"""Herald's services, in stages: each stage's package may import only the stages below it.

From the bottom: channels, content, limits, state, audience, intake, sending, reports, control
(tests/test_structure.py holds the order). The API (app.api) and the tasks call into them.
"""
