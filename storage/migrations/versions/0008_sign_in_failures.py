"""sign-in failures: the dashboard's failed sign-ins counted in the database, not a process

Each web process counted its own failed tries, so a deployment of several processes (one
per WeChat account) allowed a guesser that many times the tries.

Revision ID: 0008_sign_in_failures
Revises: 0007_write_indexes
Create Date: 2026-12-06 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008_sign_in_failures'
down_revision: str | None = '0007_write_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'signinfailure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_signinfailure_key_at', 'signinfailure', ['key', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_signinfailure_key_at', table_name='signinfailure')
    op.drop_table('signinfailure')
