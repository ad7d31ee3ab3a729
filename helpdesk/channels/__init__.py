"""Channels: the places tickets come from and replies go back to (Slack, the forum, the web)."""
