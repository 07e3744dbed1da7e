"""Infrastructure shared by the four services: settings, database, events, outbox/inbox, bus, HTTP and admin plumbing.

Nothing here knows a business rule; nothing here connects at import time.
"""
