"""Sessions: the conversation and its state, on disk and back."""

from claw_runtime.sessions.store import (
    LoadedSession,
    SessionInfo,
    SessionNotFound,
    find_session,
    latest_session,
    list_sessions,
    load_session,
)

__all__ = [
    "LoadedSession",
    "SessionInfo",
    "SessionNotFound",
    "find_session",
    "latest_session",
    "list_sessions",
    "load_session",
]
