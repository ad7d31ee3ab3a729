"""Delegate sign-up: programmes with seat caps, reserved seats, data-rights checks, a waitlist and a roster."""
