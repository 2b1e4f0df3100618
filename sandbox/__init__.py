"""A stand-in for Africa's Talking's SMS gateway, speaking its real wire format.

Herald's real AT adapter talks to this process in demos, tests and benchmarks;
it records every acceptance so a test can prove nothing was sent twice or lost.
"""
