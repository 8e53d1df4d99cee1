"""Webhook subscriptions and their delivery by the worker (`riskapi worker`)."""
