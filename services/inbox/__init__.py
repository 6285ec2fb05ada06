"""The inbox service: a Slack-compatible webhook receiver for Alertmanager."""
