"""Tickets, their messages, queues, intake idempotency and the delivery outbox."""
