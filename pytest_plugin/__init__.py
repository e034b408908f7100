"""dlrmock's pytest plugin: fixtures that play receipts at the system under test."""
