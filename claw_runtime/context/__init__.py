"""Context: what goes into the system prompt (processors, memory files, skills)."""
