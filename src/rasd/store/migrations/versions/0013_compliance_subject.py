"""spine: compliance events are found by their subject

A compliance ``delete`` read before the tweet it names (a folder read in name
order puts ``compliance.jsonl`` before ``tweets.jsonl``; a batch of one) was
stored but never applied: the post, inserted later, looked live. Posts now take
the deletions stored for them when they are inserted, which looks events up by
their subject.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_compliance_subject", "compliance_events", ["platform", "platform_id"])


def downgrade() -> None:
    op.drop_index("ix_compliance_subject", table_name="compliance_events")
