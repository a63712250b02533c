"""detect: a model version holds up to 200 characters (was 64)

A detector's version names its model and policy (the text detector:
``rasd-text-…+ext-…/policy-…``); with an external tier or the decision rule
recorded in it, it passed 64 characters, which PostgreSQL refused (a scan ended
in "value too long for type character varying(64)"; SQLite does not enforce
lengths, but its tables are rebuilt to declare what the code does).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("detections", "scans")


def _alter(new: int, old: int) -> None:
    for t in TABLES:
        with op.batch_alter_table(t) as b:  # (SQLite: a rebuild; PostgreSQL: ALTER)
            b.alter_column("model_version", type_=sa.String(new),
                           existing_type=sa.String(old), existing_nullable=False)


def upgrade() -> None:
    _alter(200, 64)


def downgrade() -> None:
    _alter(64, 200)
