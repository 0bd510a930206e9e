"""Hooks: the plugin contract, what hooks may answer, and Claude Code's command hooks."""
