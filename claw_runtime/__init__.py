"""claw-runtime."""
