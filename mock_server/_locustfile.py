"""The locustfile ``dlrmock load`` hands to Locust: one ReceiptUser set by ``--dlrmock-*``."""

from mock_server.locust import ReceiptUser


class DlrmockReceipts(ReceiptUser):
    """Plays the scenario mix of ``--dlrmock-scenario`` at ``--host``."""
