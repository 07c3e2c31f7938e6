"""scale: indexes for the digest, report and overview counts; outbox rows and rooms per account

Revision ID: 0003_scale
Revises: 0002_tickets
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003_scale'
down_revision: str | None = '0002_tickets'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index('ix_outbox_account_pending', ['account', 'status', 'not_before'], unique=False)
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_first_response_at'), ['first_response_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_resolved_at'), ['resolved_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_closed_at'), ['closed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_closed_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_resolved_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_first_response_at'))
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_account_pending')
        batch_op.drop_column('account')
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.drop_column('account')
