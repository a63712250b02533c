"""detect.text: tables of the text detection stage (issue 3)

Placeholder in the chain so that stages can land in any order; the stage fills it.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
