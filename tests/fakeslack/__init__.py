"""A fake Slack (Web API + Socket Mode) for end-to-end tests; see `server.py`."""

from tests.fakeslack.server import ApiCall, Envelope, FakeSlack

__all__ = ["ApiCall", "Envelope", "FakeSlack"]
