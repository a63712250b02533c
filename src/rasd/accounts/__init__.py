"""Accounts: roles set by analysts, profile history, lists and links
(later: supporter score, census estimation, resurgence)."""

from rasd.accounts.edges import edge_counts, edge_counts_many
from rasd.accounts.listing import (
    SORTS,
    account_detections,
    account_detections_many,
    account_ref,
    flagged_count,
    flagged_counts,
    flagged_labels,
    linked_accounts,
    linked_accounts_many,
    list_accounts,
    post_counts,
    quoted_ref,
)
from rasd.accounts.roles import (
    ROLES,
    Lookup,
    account_histories,
    account_history,
    find_accounts,
    lookup_accounts,
    set_role,
)

__all__ = ["ROLES", "SORTS", "Lookup", "account_detections", "account_detections_many",
           "account_histories", "account_history", "account_ref", "edge_counts",
           "edge_counts_many", "find_accounts", "flagged_count", "flagged_counts",
           "flagged_labels", "linked_accounts", "linked_accounts_many", "list_accounts",
           "lookup_accounts", "post_counts", "quoted_ref", "set_role"]
