"""Outcomes: how a post converts views into actions, predicted from its embedding (target, fit, report)."""
