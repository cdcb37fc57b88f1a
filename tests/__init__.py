"""pe's tests: one folder per package of pe/, shared helpers in tests/support."""
