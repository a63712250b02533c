"""Accounts: roles set by analysts, profile history (later: supporter score,
census estimation, resurgence)."""

from rasd.accounts.edges import edge_counts
from rasd.accounts.roles import ROLES, account_history, find_accounts, set_role

__all__ = ["ROLES", "account_history", "edge_counts", "find_accounts", "set_role"]
