"""Real servers for provider tests, started on 127.0.0.1 with a free port."""
