"""Configuration: layered settings, the shapes Claude Code writes, and project trust."""
