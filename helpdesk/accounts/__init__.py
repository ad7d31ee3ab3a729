"""People, their identities on each channel, roles and API tokens."""
