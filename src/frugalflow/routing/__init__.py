"""Which model answers an attempt, and which one to escalate to."""
