"""The staff console: queues, tickets, replies and changes."""
