"""Webhooks: other systems told of what happened, signed, at least once."""
